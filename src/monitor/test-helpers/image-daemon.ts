/**
 * A small labwire image daemon for the monitor's and the web's image tests, on a real TCP port:
 * `get_id`, `describe` listing `image_info` and `image`, `subscribe` with `update` pushes of
 * `last_image`, `get_status format=json`, `ping`, `image_info path=<p>` and `image path=<p>`
 * answered with `binary fits size=<n> path=<p> bytes=<n>` and the bytes (PROTOCOL.md's binary
 * extension). Faults on demand: image_info answered with an error, the connection dropped in the
 * middle of a binary block, a binary block announced far larger than it is.
 */
import net from 'node:net';
import { once } from 'node:events';
import { LabwireError, LineConnection, formatErrorReply, formatOk, formatUpdate, parseLine, quote, type DescribeDoc, type WireValue } from '../../wire/index.js';

export interface StoredImage {
  bytes: Uint8Array;
  /** The fields of `ok image_info` besides path and bytes. */
  info: Record<string, WireValue>;
}

export type ImageFault = 'none' | 'infoError' | 'dropMidBlock' | 'hugeSize';

export class ImageDaemon {
  /** With a token, every connection must `auth token=<token>` first (as a daemon with a token file). */
  constructor(readonly token?: string) {}
  readonly images = new Map<string, StoredImage>();
  values: Record<string, WireValue> = { hw_connected: 1, state: 'idle', state_text: '', phase: 'idle', last_image: '', images_written: 0 };
  fault: ImageFault = 'none';
  /** Delay before answering `image` (ms), to make transfers overlap. */
  imageDelayMs = 0;
  /** Most connections open at once since start. */
  peakConnections = 0;
  /** Every line received, over all connections. */
  readonly received: string[] = [];
  port = 0;
  private server: net.Server | null = null;
  private readonly conns = new Map<LineConnection, net.Socket>();
  private readonly subscribed = new Set<LineConnection>();

  async start(port = this.port): Promise<number> {
    const server = net.createServer((s) => this.accept(s));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.conns.values()) socket.destroy();
    this.conns.clear();
    this.subscribed.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Drops every connection, keeps listening (the monitor reconnects). */
  dropAll(): void {
    for (const socket of this.conns.values()) socket.destroy();
  }

  /** Stores an image and announces it as `last_image`, as a daemon does after writing a file. */
  publish(path: string, bytes: Uint8Array, info: Record<string, WireValue>): void {
    this.images.set(path, { bytes, info });
    this.set({ last_image: path, images_written: Number(this.values.images_written) + 1 });
  }

  set(values: Record<string, WireValue>): void {
    Object.assign(this.values, values);
    const line = formatUpdate(Date.now(), values);
    for (const conn of this.subscribed) conn.send(line);
  }

  /** Connections open now (the monitor's own and any fetch connections). */
  get connectionCount(): number {
    return this.conns.size;
  }

  describeDoc(): DescribeDoc {
    return {
      name: 'ccd',
      type: 'archon',
      title: 'fake image daemon',
      protocol: 'labwire/1',
      version: 'test',
      readOnly: false,
      params: {
        hw_connected: { type: 'bool', readonly: true, description: 'link' },
        state: { type: 'enum', values: ['idle', 'busy'], readonly: true, description: 'state' },
        state_text: { type: 'string', readonly: true, description: 'state text' },
        phase: { type: 'enum', values: ['idle', 'exposing', 'reading_out', 'fetching', 'writing'], readonly: true, description: 'exposure phase' },
        last_image: { type: 'string', readonly: true, description: 'path of the last FITS file written' },
        images_written: { type: 'int', readonly: true, description: 'images written since start' },
      },
      commands: {
        image_info: { description: 'what an image holds', write: false, args: { path: { type: 'string', description: 'file', optional: true } } },
        image: { description: 'the FITS file as a binary block', write: false, args: { path: { type: 'string', description: 'file', optional: true } }, binary: true },
      },
    };
  }

  private accept(socket: net.Socket): void {
    const conn = new LineConnection(socket);
    this.conns.set(conn, socket);
    this.peakConnections = Math.max(this.peakConnections, this.conns.size);
    let authed = this.token === undefined;
    conn.on('close', () => {
      this.conns.delete(conn);
      this.subscribed.delete(conn);
    });
    conn.on('line', (line) => {
      this.received.push(line);
      let cmd;
      try {
        cmd = parseLine(line);
      } catch (err) {
        conn.send(formatErrorReply(err as LabwireError));
        return;
      }
      const name = cmd.name ?? '-';
      const fail = (code: LabwireError['code'], message: string): void => void conn.send(formatErrorReply(new LabwireError(code, message, name)));
      const path = cmd.kwargs.path ?? String(this.values.last_image);
      if (name === 'id') return;
      if (name === 'auth') {
        authed = cmd.kwargs.token === this.token;
        if (authed) conn.send(formatOk('auth', { role: 'viewer' }));
        else fail('Unauthorized', 'token refused');
        return;
      }
      if (!authed) return fail('Unauthorized', 'authenticate first: auth token=<token>');
      switch (name) {
        case 'get_id':
          conn.send('id name=ccd type=archon protocol=labwire/1 version=test');
          return;
        case 'ping':
          conn.send('pong');
          return;
        case 'subscribe':
          this.subscribed.add(conn);
          conn.send(formatOk('subscribe'));
          return;
        case 'describe':
          conn.send(`describe ${JSON.stringify(this.describeDoc())}`);
          return;
        case 'get_status': {
          const t = Date.now();
          const ts = Object.fromEntries(Object.keys(this.values).map((k) => [k, t]));
          conn.send(`status_json ${JSON.stringify({ name: 'ccd', t, values: this.values, units: {}, ts })}`);
          return;
        }
        case 'image_info': {
          if (this.fault === 'infoError') return fail('HardwareError', `cannot read ${path}: the controller is rebooting`);
          const img = this.images.get(path);
          if (!img) return fail('NoSuchParameter', `no image ${path}`);
          conn.send(formatOk('image_info', { path, ...img.info, bytes: img.bytes.length }));
          return;
        }
        case 'image': {
          const img = this.images.get(path);
          if (!img) return fail('NoSuchParameter', `no image ${path}`);
          const data = Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength);
          if (this.imageDelayMs > 0) {
            const fault = this.fault;
            setTimeout(() => this.sendImage(conn, socket, path, data, fault), this.imageDelayMs);
            return;
          }
          this.sendImage(conn, socket, path, data, this.fault);
          return;
        }
        default:
          fail('NoSuchCommand', `no command ${name}`);
      }
    });
  }

  private sendImage(conn: LineConnection, socket: net.Socket, path: string, data: Buffer, fault: ImageFault): void {
    if (fault === 'hugeSize') {
      socket.write(`binary fits size=${64 * 1024 * 1024 * 1024} path=x\n`);
      socket.write(data.subarray(0, 1000));
      return;
    }
    if (fault === 'dropMidBlock') {
      socket.write(`binary fits size=${data.length} path=x bytes=${data.length}\n`);
      socket.write(data.subarray(0, Math.floor(data.length / 2)), () => socket.destroy());
      return;
    }
    conn.sendBinary(`binary fits size=${data.length} path=${quote(path)} bytes=${data.length}`, data);
  }
}
