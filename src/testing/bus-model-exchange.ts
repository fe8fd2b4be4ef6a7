/**
 * An in-process stand-in for the path driver → Exchange → GPIB adapter → instrument, for testing a
 * bus family's driver and device definition against its model without sockets: each request is
 * one message to the model (its own trailing terminator replaced by the adapter's LF end-of-string), and a request that
 * expects a reply takes the model's pending output, cut by the family's own splitter. A model that
 * has nothing to say makes the request time out, as a silent `++read eoi` does.
 */
import type { BusInstrumentModel, CommandDecl, DeviceDefinition, HandlerContext, ParamDecl, PollGroup, StateOverride } from '../daemon/api.js';
import type { WireValue } from '../wire/types.js';
import { LinkError, type ExchangeLike, type ReplySplitter } from '../links/types.js';
import { handlerContext } from './handler-context.js';

export interface ModelExchange extends ExchangeLike {
  /** Every message the driver sent, as text without the appended end-of-string. */
  readonly sent: string[];
}

export function modelExchange(model: BusInstrumentModel, splitter: ReplySplitter, eos = '\n'): ModelExchange {
  const sent: string[] = [];
  return {
    isUp: true,
    sent,
    async request(data, options) {
      // As the GPIB link does: one trailing terminator is the host's, the adapter ends the message itself.
      const text = (typeof data === 'string' ? data : data.toString('latin1')).replace(/(\r\n|\n|\r)$/, '');
      sent.push(text);
      model.receive(Buffer.from(text + eos, 'latin1'));
      if (options?.expectReply === false) return undefined;
      const out = model.talk();
      if (out === undefined) throw new LinkError('Timeout', `no reply to ${JSON.stringify(text)}`);
      splitter.reset();
      const replies = splitter.push(out);
      if (replies.length !== 1) throw new LinkError('CommunicationFailed', `expected one reply to ${JSON.stringify(text)}, got ${replies.length}`);
      const reply = replies[0]!;
      if (options?.validate && !options.validate(reply)) throw new LinkError('CommunicationFailed', `reply ${JSON.stringify(reply.toString('latin1'))} refused`);
      return reply;
    },
  };
}

/**
 * A definition's parameters, commands and poll plan for given options, whether it declares them as
 * data or computes them from the options (so family tests need not care which).
 */
export function declarations<O, D>(def: DeviceDefinition<O, D>, options: O) {
  const pick = <T>(v: unknown): T => (typeof v === 'function' ? (v as (o: O) => T)(options) : (v as T));
  return {
    params: pick<Record<string, ParamDecl<D>>>(def.params),
    commands: pick<Record<string, CommandDecl<D>>>(def.commands),
    poll: pick<PollGroup<D>[]>(def.poll),
    /** The state override; the options are passed where the API takes them. */
    stateOverride: (values: Readonly<Record<string, WireValue>>): StateOverride | undefined =>
      (def.stateOverride as unknown as ((v: Readonly<Record<string, WireValue>>, o: O) => StateOverride | undefined) | undefined)?.(values, options),
  };
}

/**
 * A definition driven by hand, as the daemon would: `pollAll` runs every poll group into `values`,
 * `set` runs a parameter's write handler and keeps the value as applied.
 */
export function definitionHarness<D>(decl: ReturnType<typeof declarations<unknown, D>>, driver: D) {
  const values: Record<string, WireValue> = {};
  const ctx: HandlerContext = handlerContext(values);
  const pollAll = async (): Promise<Record<string, WireValue>> => {
    for (const g of decl.poll) Object.assign(values, await g.read(driver));
    return values;
  };
  const set = async (param: string, value: WireValue): Promise<WireValue> => {
    const p = decl.params[param];
    if (!p?.write) throw new Error(`${param} is not a writable parameter of this definition`);
    const v = (await p.write(driver, value, ctx)) ?? value;
    values[param] = v;
    return v;
  };
  return { values, ctx, pollAll, set };
}
