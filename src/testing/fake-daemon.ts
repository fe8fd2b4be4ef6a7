/**
 * A small labwire daemon for client tests: a few parameters, subscribe/update, auth, describe,
 * and a CCDLab mode that answers only `get_id` and `get_status` the way CCDLab daemons do.
 * It can be stopped and started again on the same port to test reconnection.
 */
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import {
  LabwireError,
  LineConnection,
  formatErrorReply,
  formatLog,
  formatOk,
  formatPairs,
  formatUpdate,
  parseLine,
  type DescribeDoc,
  type WireValue,
} from '../wire/index.js';

export interface FakeDaemonOptions {
  token?: string;
  /** Answer like a CCDLab daemon: `status k=v` for any get_status, silence for unknown commands. */
  ccdlab?: boolean;
  tls?: { cert: string; key: string };
  values?: Record<string, WireValue>;
  /** What `set` reads back for a value (an instrument that rounds or clamps); default: the value sent. */
  readBack?: (param: string, value: WireValue) => WireValue;
  /**
   * `set` answers with the read-back but leaves the status values alone, like a daemon whose
   * status is refreshed by its next poll: the test moves them with set().
   */
  statusLagsSet?: boolean;
}

export class FakeDaemon {
  readonly options: FakeDaemonOptions;
  values: Record<string, WireValue>;
  ts: Record<string, number> = {};
  /** Every line received, in order, over all connections. */
  readonly received: string[] = [];
  readonly connections = new Set<LineConnection>();
  readonly subscribed = new Map<LineConnection, string[] | null>();
  /** Delay before answering get_status (ms), to provoke timeouts. */
  statusDelayMs = 0;
  /** The setpoint's site limit, in describe and in what `set` accepts; change it and restart for a daemon with new limits. */
  setpointMax = 40;
  /** Parameters beyond the fixed ones in describe (give them values too), e.g. a parameter a newer daemon gained. */
  extraParams: DescribeDoc['params'] = {};
  private server: net.Server | null = null;
  port = 0;

  constructor(options: FakeDaemonOptions = {}) {
    this.options = options;
    this.values = { temperature: 20, setpoint: 20, state: 'idle', running: true, ...options.values };
    const now = Date.now();
    for (const k of Object.keys(this.values)) this.ts[k] = now;
  }

  async start(port = this.port): Promise<number> {
    const onSocket = (socket: net.Socket): void => this.accept(socket);
    const server = this.options.tls ? tls.createServer({ cert: this.options.tls.cert, key: this.options.tls.key }, onSocket) : net.createServer(onSocket);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Closes the listener and drops every connection at once, like a killed daemon. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const conn of this.connections) conn.destroy();
    this.connections.clear();
    this.subscribed.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Changes values and pushes an update to subscribers. */
  set(values: Record<string, WireValue>): void {
    const t = Date.now();
    Object.assign(this.values, values);
    for (const k of Object.keys(values)) this.ts[k] = t;
    for (const [conn, params] of this.subscribed) {
      const changed = Object.fromEntries(Object.entries(values).filter(([k]) => params === null || params.includes(k)));
      if (Object.keys(changed).length > 0) conn.send(formatUpdate(t, changed));
    }
  }

  log(level: 'info' | 'warning' | 'error' | 'success', message: string): void {
    for (const conn of this.subscribed.keys()) conn.send(formatLog(Date.now(), level, message));
  }

  describeDoc(): DescribeDoc {
    return {
      name: 'fake',
      type: 'fake',
      title: 'Fake daemon',
      protocol: 'labwire/1',
      version: '0.0.0',
      readOnly: false,
      params: {
        temperature: { type: 'float', unit: '°C', readonly: true, description: 'bath temperature' },
        setpoint: { type: 'float', unit: '°C', readonly: false, min: -20, max: this.setpointMax, description: 'setpoint' },
        state: { type: 'enum', values: ['idle', 'busy'], readonly: true, description: 'state' },
        running: { type: 'bool', readonly: false, description: 'pump running' },
        code: { type: 'string', readonly: true, description: 'a code that looks like a number' },
        ...this.extraParams,
      },
      commands: { start: { description: 'start', write: true, args: {} } },
    };
  }

  private accept(socket: net.Socket): void {
    const conn = new LineConnection(socket);
    this.connections.add(conn);
    let authed = this.options.token === undefined;
    // Replies leave in request order, as a daemon's do, even when one is delayed.
    let chain = Promise.resolve();
    const reply = (line: string, delayMs = 0): void => {
      chain = chain.then(async () => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        conn.send(line);
      });
    };
    conn.on('close', () => {
      this.connections.delete(conn);
      this.subscribed.delete(conn);
    });
    conn.on('line', (line) => {
      this.received.push(line);
      let cmd;
      try {
        cmd = parseLine(line);
      } catch (err) {
        reply(formatErrorReply(err as LabwireError));
        return;
      }
      const name = cmd.name ?? '-';
      const fail = (code: LabwireError['code'], message: string): void => void reply(formatErrorReply(new LabwireError(code, message, name)));
      if (this.options.ccdlab) {
        if (name === 'get_id') reply('id name=fake type=');
        else if (name === 'get_status') reply(`status hw_connected=1 ${formatPairs(this.values)}`);
        return;
      }
      if (name === 'id') return;
      if (name === 'auth') {
        if (cmd.kwargs.token === this.options.token) {
          authed = true;
          reply(formatOk('auth', { role: 'operator' }));
        } else fail('Unauthorized', 'token refused');
        return;
      }
      if (!authed) return fail('Unauthorized', 'authenticate first: auth token=<token>');
      switch (name) {
        case 'get_id':
          reply('id name=fake type=fake protocol=labwire/1 version=0.0.0');
          return;
        case 'ping':
          reply('pong');
          return;
        case 'hang':
          return;
        case 'get_status':
          if (cmd.kwargs.format === 'json') {
            const doc = { name: 'fake', t: Date.now(), values: this.values, units: { temperature: '°C' }, ts: this.ts };
            reply(`status_json ${JSON.stringify(doc)}`, this.statusDelayMs);
          } else reply(`status hw_connected=1 ${formatPairs(this.values)}`, this.statusDelayMs);
          return;
        case 'describe':
          reply(`describe ${JSON.stringify(this.describeDoc())}`);
          return;
        case 'set': {
          for (const [k, v] of Object.entries(cmd.kwargs)) {
            if (!(k in this.values)) return fail('NoSuchParameter', `no parameter ${k}`);
            if (k === 'setpoint' && Number(v) > this.setpointMax) return fail('RangeError', `setpoint ${v} °C is above the limit of ${this.setpointMax} °C`);
          }
          const readBack = this.options.readBack ?? ((_k: string, v: WireValue) => v);
          const applied = Object.fromEntries(Object.entries(cmd.kwargs).map(([k, v]) => [k, readBack(k, Number.isNaN(Number(v)) ? v : Number(v))]));
          if (!this.options.statusLagsSet) this.set(applied);
          reply(formatOk('set', applied));
          return;
        }
        case 'start':
          reply(formatOk('start', { args: cmd.args.join(','), ...cmd.kwargs }));
          return;
        case 'subscribe': {
          const unknown = cmd.args.find((p) => !(p in this.values));
          if (unknown !== undefined) return fail('NoSuchParameter', `no parameter ${unknown}`);
          this.subscribed.set(conn, cmd.args.length > 0 ? cmd.args : null);
          reply(formatOk('subscribe'));
          return;
        }
        case 'unsubscribe':
          this.subscribed.delete(conn);
          reply(formatOk('unsubscribe'));
          return;
        default:
          fail('NoSuchCommand', `no command ${name}`);
      }
    });
  }
}
