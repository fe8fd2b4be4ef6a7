/**
 * Binary replies on a daemon's port (PROTOCOL.md binary extension): a command's BinaryResult
 * goes out as `binary <kind> size=<n> <fields>` and exactly n bytes, in request order with
 * pipelined requests; a peer that stops reading holds its own requests (the daemon does not
 * pile up blocks for it) while other peers are served. Real daemon, real sockets.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LabwireClient } from '../src/client/index.js';
import { eventually, sleep } from '../src/testing/eventually.js';
import { RawClient } from '../src/testing/raw-client.js';
import { blobBytes, blobStats, startBlobDaemon, type BlobDaemon } from './helpers/blob-device.js';

const MiB = 1 << 20;

/** A byte-level reader: lines and blocks exactly as sent. */
class ByteClient {
  private buf = Buffer.alloc(0);
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<ByteClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new ByteClient(s)));
      s.once('error', reject);
    });
  }

  async line(): Promise<string> {
    return eventually(() => {
      const i = this.buf.indexOf(10);
      if (i < 0) throw new Error(`no complete line yet (${this.buf.length} bytes, closed=${this.closed})`);
      const text = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 1);
      return text;
    }, 30_000);
  }

  async bytes(n: number): Promise<Buffer> {
    return eventually(() => {
      if (this.buf.length < n) throw new Error(`${this.buf.length} of ${n} bytes so far (closed=${this.closed})`);
      const out = Buffer.from(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      return out;
    }, 60_000);
  }
}

let lab: BlobDaemon | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await lab?.close();
  lab = undefined;
});

/** A blob daemon whose device answers; the probe that waited for it is closed (idle tests count connections). */
async function ready(opts: Parameters<typeof startBlobDaemon>[0] = {}): Promise<BlobDaemon> {
  lab = await startBlobDaemon(opts);
  const probe = await RawClient.connect(lab.daemon.port);
  await eventually(async () => expect(await probe.request('get_status')).toMatch(/hw_connected=1/));
  probe.close();
  return lab;
}

describe('binary replies', () => {
  it('sends a 5 MiB block as header and exact bytes, then the pipelined replies behind it in order', async () => {
    const l = await ready();
    const c = await ByteClient.connect(l.daemon.port);
    sockets.push(c.socket);
    const size = 5 * MiB;
    c.socket.write(`blob size=${size} seed=3\nping\necho text=after\nblob size=10 seed=4\nget_id\n`);
    expect(await c.line()).toBe(`binary raw size=${size} seed=3 note="a b"`);
    expect((await c.bytes(size)).equals(blobBytes(size, 3))).toBe(true);
    expect(await c.line()).toBe('pong');
    expect(await c.line()).toBe('ok echo text=after');
    expect(await c.line()).toBe('binary raw size=10 seed=4 note="a b"');
    expect((await c.bytes(10)).equals(blobBytes(10, 4))).toBe(true);
    expect(await c.line()).toMatch(/^id name=blob type=blob /);
  });

  it('a zero-byte block is a header alone; a block of an unusable kind is an InternalError; the connection stays usable', async () => {
    const l = await ready();
    const c = await ByteClient.connect(l.daemon.port);
    sockets.push(c.socket);
    c.socket.write('blob size=0 seed=1\nbadkind\nping\n');
    expect(await c.line()).toBe('binary raw size=0 seed=1 note="a b"');
    expect(await c.line()).toMatch(/^error badkind code=InternalError message=".*unusable kind/);
    expect(await c.line()).toBe('pong');
  });

  it('LabwireClient gets the bytes as reply.binary', async () => {
    const l = await ready();
    const client = new LabwireClient({ host: '127.0.0.1', port: l.daemon.port, reconnect: false });
    try {
      await client.connect();
      const [big, small] = await Promise.all([client.request('blob size=3000000 seed=9', { timeoutMs: 30_000 }), client.request('echo text=x')]);
      expect(big.command.name).toBe('binary');
      expect(big.command.args[0]).toBe('raw');
      expect(big.command.kwargs.size).toBe('3000000');
      expect(big.binary?.equals(blobBytes(3_000_000, 9))).toBe(true);
      expect(small.line).toBe('ok echo text=x');
      expect(small.binary).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('a peer that stops reading holds its own requests: the daemon does not buffer block after block for it', async () => {
    const l = await ready();
    const c = await ByteClient.connect(l.daemon.port);
    sockets.push(c.socket);
    const size = 5 * MiB;
    const asked = 16;
    // Stop reading before anything arrives: the kernel's buffers fill, then the daemon's.
    c.socket.pause();
    const before = blobStats.served;
    c.socket.write(Array.from({ length: asked }, (_, i) => `blob size=${size} seed=${i}\n`).join(''));
    await eventually(() => expect(blobStats.served - before).toBeGreaterThan(0));
    // Wait until the daemon stops making blocks (no progress for a while), bounded.
    let last = -1;
    for (let i = 0; i < 100 && blobStats.served !== last; i++) {
      last = blobStats.served;
      await sleep(300);
    }
    const made = blobStats.served - before;
    // A few blocks fit in the kernel's socket buffers and one waits in the daemon; not all 16.
    expect(made).toBeLessThan(asked / 2);
    expect(l.daemon.server.maxOutputBuffered).toBeLessThanOrEqual(size + MiB);
    // Others are served meanwhile.
    const other = await RawClient.connect(l.daemon.port);
    sockets.push(other.socket);
    expect(await other.request('ping')).toBe('pong');
    // Reading again, the peer gets every block, whole and in order.
    c.socket.resume();
    for (let i = 0; i < asked; i++) {
      expect(await c.line()).toBe(`binary raw size=${size} seed=${i} note="a b"`);
      expect((await c.bytes(size)).equals(blobBytes(size, i))).toBe(true);
    }
    expect(blobStats.served - before).toBe(asked);
  });

  it('a held peer that reads nothing for the idle timeout is closed, freeing its block', async () => {
    const l = await ready({ idleTimeoutMs: 1500 });
    const stalled = await ByteClient.connect(l.daemon.port);
    sockets.push(stalled.socket);
    stalled.socket.pause();
    stalled.socket.write(`blob size=${16 * MiB} seed=1\nping\n`);
    await eventually(() => expect(l.daemon.server.maxOutputBuffered).toBeGreaterThan(MiB));
    await eventually(() => expect(l.daemon.server.connectionCount).toBe(0), 30_000, 100);
    expect(l.daemon.server.maxOutputBuffered).toBe(0);
  });
});


describe('binary replies: the daemon-wide budget and subscribers', () => {
  it('peers that leave blocks unread together hold at most the budget: the next block is refused IsBusy, served again once they read', async () => {
    const l = await ready({ maxBinaryUnsent: 12 * MiB });
    const stalled: ByteClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await ByteClient.connect(l.daemon.port);
      sockets.push(c.socket);
      c.socket.pause();
      stalled.push(c);
    }
    // Each asks for 5 MiB and reads nothing; the third would take the unread total past 12 MiB.
    stalled[0]!.socket.write(`blob size=${5 * MiB} seed=1\n`);
    await eventually(() => expect(l.daemon.server.binaryBytesUnsent).toBeGreaterThan(MiB));
    stalled[1]!.socket.write(`blob size=${5 * MiB} seed=2\n`);
    await eventually(() => expect(l.daemon.server.binaryBytesUnsent).toBeGreaterThan(5 * MiB));
    stalled[2]!.socket.write(`blob size=${5 * MiB} seed=3\nping\n`);
    stalled[2]!.socket.resume();
    expect(await stalled[2]!.line()).toMatch(/^error blob code=IsBusy message=".*binary replies are waiting for their readers.*limit 12 MiB/);
    expect(await stalled[2]!.line()).toBe('pong');
    // The first two read theirs; the budget frees, and the third is served.
    for (const [i, c] of stalled.slice(0, 2).entries()) {
      c.socket.resume();
      expect(await c.line()).toBe(`binary raw size=${5 * MiB} seed=${i + 1} note="a b"`);
      expect((await c.bytes(5 * MiB)).equals(blobBytes(5 * MiB, i + 1))).toBe(true);
    }
    await eventually(() => expect(l.daemon.server.binaryBytesUnsent).toBe(0));
    stalled[2]!.socket.write(`blob size=${5 * MiB} seed=3\n`);
    expect(await stalled[2]!.line()).toBe(`binary raw size=${5 * MiB} seed=3 note="a b"`);
    expect((await stalled[2]!.bytes(5 * MiB)).equals(blobBytes(5 * MiB, 3))).toBe(true);
  });

  it('commands declared binary run two at a time with sixteen waiting; beyond, IsBusy at once, whatever the number of connections', async () => {
    const l = await ready();
    blobStats.peak = 0;
    const clients = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(l.daemon.port)));
    for (const c of clients) sockets.push(c.socket);
    // Held long enough that every request is in before the first two finish, also on a busy machine.
    const replies = await Promise.all(clients.map((c, i) => c.request(`blob size=10 seed=${i} hold=2000`, 60_000)));
    expect(replies.filter((r) => r.startsWith('binary raw size=10'))).toHaveLength(18);
    expect(replies.filter((r) => /^error blob code=IsBusy .*2 requests for files are running and 16 waiting/.test(r))).toHaveLength(2);
    expect(blobStats.peak).toBe(2);
  }, 90_000);

  it('a subscriber that holds a block it never reads is closed by the idle timeout too', async () => {
    const l = await ready({ idleTimeoutMs: 1500 });
    const stalled = await ByteClient.connect(l.daemon.port);
    sockets.push(stalled.socket);
    stalled.socket.write('subscribe\n');
    expect(await stalled.line()).toBe('ok subscribe');
    stalled.socket.pause();
    stalled.socket.write(`blob size=${16 * MiB} seed=1\nping\n`);
    await eventually(() => expect(l.daemon.server.maxOutputBuffered).toBeGreaterThan(MiB));
    await eventually(() => expect(l.daemon.server.connectionCount).toBe(0), 30_000, 100);
  });
});
