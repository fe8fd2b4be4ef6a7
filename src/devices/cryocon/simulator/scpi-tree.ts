/**
 * The Cryo-con's dialect of the SCPI kit's tree: prefix keywords (`TEMPer?`), selectors after a
 * space (`INP A:`, `LOOP 1:`, lists `A,B,C,D`), `NACK` in the place of every refused command,
 * relative headers retried from the root, and commands missing from some firmware.
 */
import { NACK, type Channel, type LoopNumber } from '../codec.js';
import {
  ScpiStatus,
  ScpiTree,
  commonCommands,
  flattenNodes,
  parseScpiCommand,
  type ParsedScpiCommand,
  type ScpiContext,
  type ScpiNodeSpec,
} from '../../kits/scpi/index.js';
import type { CryoconController } from './controller.js';
import { buildCommandTable } from './commands.js';

/** Common commands the kit supplies; `*IDN` and `*RST` are the Cryo-con's own. */
const CRYOCON_COMMON = ['*OPC', '*CLS', '*ESE', '*ESR', '*SRE', '*STB'];

/** What a Cryo-con command handler sees: the selected input or loop and the parameter text. */
export interface Ctx {
  channel: Channel | undefined;
  loop: LoopNumber | undefined;
  args: string;
}

/** A node of the manual's command tree; capitals of `name` are the short form (`INPut`). */
export interface TreeNode {
  name: string;
  selector?: 'channel' | 'loop';
  /** Answers a query; undefined means NACK. */
  query?: (ctx: Ctx) => string | undefined;
  /** Applies a set; false means NACK. */
  set?: (ctx: Ctx) => boolean;
  children?: TreeNode[];
}

function toCtx(ctx: ScpiContext): Ctx {
  return { channel: ctx.selected.channel as Channel | undefined, loop: ctx.selected.loop as LoopNumber | undefined, args: ctx.args };
}

/** The Cryo-con table in the kit's terms: `INPut<channel>`, `LOOP<loop>`. */
function toScpiNodes(nodes: readonly TreeNode[]): ScpiNodeSpec[] {
  return nodes.map((n) => {
    const { query, set } = n;
    return {
      keyword: n.selector ? `${n.name}<${n.selector}>` : n.name,
      ...(query ? { query: (ctx: ScpiContext) => query(toCtx(ctx)) } : {}),
      ...(set ? { set: (ctx: ScpiContext) => set(toCtx(ctx)) } : {}),
      ...(n.children ? { children: toScpiNodes(n.children) } : {}),
    };
  });
}

/**
 * Parses one command of a line: `:INP A:TEMP?`, `LOOP 1:SETPT 123.45`, `INPUT? A,B,C,D`,
 * `SYST:NAM "x"`, `*IDN?`. A token after a space that runs into `:` selects a channel or loop.
 */
export function parseCommand(text: string): ParsedScpiCommand | undefined {
  return parseScpiCommand(text, { selectors: true });
}

/** The whole tree of a simulated unit; `nacked` lists headers to refuse (`LOOP:HTRRead`). */
export function createCryoconTree(ctl: CryoconController, nacked: () => readonly string[]): ScpiTree {
  // The 24C answers the register commands but keeps no error queue: failures answer NACK instead.
  const common = commonCommands({ status: new ScpiStatus(), idn: () => '' }).filter((c) => CRYOCON_COMMON.includes(c.header));
  const tree: ScpiTree = new ScpiTree([...common, ...flattenNodes(toScpiNodes(buildCommandTable(ctl)))], {
    keywords: 'prefix',
    selectors: { channel: (t) => ctl.parseSelector('channel', t), loop: (t) => ctl.parseSelector('loop', t) },
    failureReply: NACK,
    retryFromRoot: true,
    disabled: (command) => nacked().some((spec) => tree.find(spec) === command),
  });
  return tree;
}
