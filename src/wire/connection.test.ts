import net from 'node:net';
import { once } from 'node:events';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { LineConnection, type LineConnectionOptions } from './connection.js';
import { formatCommand, formatErrorReply, formatOk } from './format.js';
import { parseLine } from './tokenize.js';
import { LabwireError, type Command } from './types.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

interface Pair {
  server: LineConnection;
  serverSocket: net.Socket;
  client: LineConnection;
  clientSocket: net.Socket;
}

/** A listener on 127.0.0.1:0 and one connection to it, each side wrapped in a LineConnection. */
async function pair(
  onServer: (conn: LineConnection, socket: net.Socket) => void = () => {},
  serverOptions: LineConnectionOptions = {},
  clientOptions: LineConnectionOptions = {},
): Promise<Pair> {
  const server = net.createServer();
  const accepted = new Promise<{ conn: LineConnection; socket: net.Socket }>((resolve) => {
    server.once('connection', (socket) => {
      const conn = new LineConnection(socket, serverOptions);
      onServer(conn, socket);
      resolve({ conn, socket });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const clientSocket = net.connect(port, '127.0.0.1');
  const client = new LineConnection(clientSocket, clientOptions);
  await once(clientSocket, 'connect');
  const { conn, socket } = await accepted;
  cleanups.push(async () => {
    clientSocket.destroy();
    socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { server: conn, serverSocket: socket, client, clientSocket };
}

/** Answers `ok <name> k=v...` echoing the request's keywords. */
function echo(conn: LineConnection): void {
  conn.on('line', (line) => {
    const cmd = parseLine(line);
    conn.send(formatOk(cmd.name ?? '-', cmd.kwargs));
  });
}

describe('LineConnection', () => {
  it('pipelines 1000 requests and pairs the replies in order', async () => {
    const { client } = await pair(echo);
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.request(`req i=${i}`)));
    replies.forEach((r, i) => {
      expect(r.command.name).toBe('ok');
      expect(r.command.kwargs.i).toBe(String(i));
    });
    expect(client.pendingCount).toBe(0);
  });

  it('keeps push lines apart from replies', async () => {
    const { client } = await pair((conn) => {
      conn.on('line', (line) => {
        const cmd = parseLine(line);
        // Pushes before, between and after the reply, in one write.
        conn.send(`update t=1 n=${cmd.kwargs.n}`);
        conn.send(formatOk('get', { n: cmd.kwargs.n }));
        conn.send(`log t=2 level=info message="after ${cmd.kwargs.n}"`);
      });
    });
    const pushes: Command[] = [];
    client.on('push', (cmd) => pushes.push(cmd));
    const replies = await Promise.all([1, 2, 3].map((n) => client.request(`get n=${n}`)));
    expect(replies.map((r) => r.line)).toEqual(['ok get n=1', 'ok get n=2', 'ok get n=3']);
    await sleep(20);
    expect(pushes.map((c) => `${c.name}:${c.kwargs.n ?? c.kwargs.message}`)).toEqual([
      'update:1',
      'log:after 1',
      'update:2',
      'log:after 2',
      'update:3',
      'log:after 3',
    ]);
  });

  it('accepts a custom isPush', async () => {
    const { client, server } = await pair(echo, {}, { isPush: (cmd) => cmd.name === 'info' });
    const pushed: string[] = [];
    client.on('push', (_cmd, line) => pushed.push(line));
    server.send('info hello there');
    const r = await client.request('ping');
    expect(r.line).toBe('ok ping');
    expect(pushed).toEqual(['info hello there']);
  });

  it('emits unsolicited lines when nothing is pending', async () => {
    const { client, server } = await pair();
    const got = once(client, 'unsolicited');
    server.send('id name=monitor');
    const [cmd, line] = (await got) as [Command, string];
    expect(line).toBe('id name=monitor');
    expect(cmd.kwargs.name).toBe('monitor');
  });

  it('receives a binary block that arrives in the same chunk as its line', async () => {
    const data = Buffer.from([0, 10, 13, 10, 255, 0x62, 0x69, 0x6e]);
    const { client } = await pair((conn, socket) => {
      conn.on('line', (line) => {
        if (line === 'image') {
          socket.write(Buffer.concat([Buffer.from(`binary fits size=${data.length} w=2\n`), data, Buffer.from('update t=1 x=1\nok after\n')]));
        }
      });
    });
    const [img, after] = await Promise.all([client.request('image'), client.request('after')]);
    expect(img.command.name).toBe('binary');
    expect(img.command.kwargs.w).toBe('2');
    expect(img.binary).toEqual(data);
    expect(after.line).toBe('ok after');
  });

  it('receives a binary block split across chunks, sent with sendBinary', async () => {
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
    const { client } = await pair((conn, socket) => {
      socket.setNoDelay(true);
      conn.on('line', (line) => {
        if (line === 'image') conn.sendBinary(`binary fits size=${data.length}`, data);
        else conn.send('pong');
      });
    });
    const img = client.request('image');
    const ping = client.request('ping');
    expect((await img).binary?.equals(data)).toBe(true);
    expect((await ping).line).toBe('pong');
  });

  it('collects a binary block trickled in small writes', async () => {
    const { client, serverSocket } = await pair();
    serverSocket.setNoDelay(true);
    const p = client.request('image');
    const q = client.request('next');
    for (const piece of ['bin', 'ary x size=7\nab', 'c\nd', 'ef', 'ok next\n']) {
      serverSocket.write(piece);
      await sleep(5);
    }
    expect((await p).binary?.toString()).toBe('abc\ndef');
    expect((await q).line).toBe('ok next');
  });

  it('refuses a header whose size does not match the data', async () => {
    const { server } = await pair();
    expect(() => server.sendBinary('binary x size=3', Buffer.from('ab'))).toThrow(LabwireError);
    expect(() => server.sendBinary('blob size=2', Buffer.from('ab'))).toThrow(LabwireError);
  });

  it('gives up on a binary reply with an unusable size', async () => {
    const { client, server } = await pair();
    const p = client.request('image');
    server.send('binary x size=lots');
    await expect(p).rejects.toMatchObject({ code: 'ProtocolError' });
    await once(client, 'close');
    expect(client.closed).toBe(true);
  });

  it('does not pair a late reply with the next request after a timeout', async () => {
    const { client } = await pair((conn) => {
      // Replies leave in request order, as a daemon sends them.
      let chain = Promise.resolve();
      conn.on('line', (line) => {
        const cmd = parseLine(line);
        const delay = cmd.name === 'slow' ? 80 : 0;
        chain = chain.then(() => sleep(delay)).then(() => void conn.send(formatOk(cmd.name ?? '-')));
      });
    });
    const slow = client.request('slow', { timeoutMs: 20 });
    await expect(slow).rejects.toMatchObject({ code: 'Timeout', command: 'slow', message: 'no reply to slow within 20 ms' });
    // Sent after the timeout, answered at once, but on the wire after the late 'ok slow'.
    const fast = await client.request('fast');
    expect(fast.line).toBe('ok fast');
    expect(client.pendingCount).toBe(0);
  });

  it('consumes the late binary block of a timed-out request', async () => {
    const { client, serverSocket } = await pair();
    const p = client.request('image', { timeoutMs: 10 });
    await expect(p).rejects.toMatchObject({ code: 'Timeout' });
    const q = client.request('ping');
    serverSocket.write('binary x size=4\nok\nXpong\n');
    expect((await q).line).toBe('pong');
  });

  it('rejects pending requests when the connection closes, and later ones at once', async () => {
    const { client } = await pair((conn) => {
      conn.on('line', (line) => {
        if (line === 'die') conn.destroy();
      });
    });
    const closed = once(client, 'close');
    const a = client.request('die');
    const b = client.request('more');
    await expect(a).rejects.toMatchObject({ code: 'CommunicationFailed', command: 'die' });
    await expect(b).rejects.toMatchObject({ code: 'CommunicationFailed' });
    await closed;
    await expect(client.request('again')).rejects.toMatchObject({ code: 'CommunicationFailed', message: 'connection is closed' });
    expect(client.send('x')).toBe(false);
  });

  it('answers a too-long line before its end and stays usable', async () => {
    const errors: string[] = [];
    const { client, clientSocket } = await pair(
      (conn) => {
        conn.on('frameError', (e) => {
          errors.push(e.code);
          conn.send(formatErrorReply(new LabwireError(e.code, e.message)));
        });
        conn.on('line', (line) => conn.send(formatOk(parseLine(line).name ?? '-')));
      },
      { maxLineLength: 1024 },
    );
    const unsolicited = once(client, 'unsolicited');
    // 2 MB with no terminator: the server must answer without waiting for the end.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 32; i++) clientSocket.write(chunk);
    const [cmd] = (await unsolicited) as [Command];
    expect(cmd.name).toBe('error');
    expect(cmd.args).toEqual(['-']);
    expect(cmd.kwargs.code).toBe('LineTooLong');
    clientSocket.write('the end of it\n');
    const r = await client.request('get_id');
    expect(r.line).toBe('ok get_id');
    expect(errors).toEqual(['LineTooLong']);
  });

  it('ignores blank lines and reports invalid UTF-8 on the server side', async () => {
    const seen: string[] = [];
    const { clientSocket } = await pair((conn) => {
      conn.on('line', (l) => seen.push(l));
      conn.on('frameError', (e) => seen.push(`!${e.code}`));
    });
    clientSocket.write(Buffer.concat([Buffer.from('\n  \t\r\n\0a\n'), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from('b\r\n')]));
    await sleep(30);
    expect(seen).toEqual(['a', '!ProtocolError', 'b']);
  });

  it('rejects an unreadable reply and keeps pairing the next', async () => {
    const { client, server } = await pair();
    const a = client.request('get_status');
    const b = client.request('get_id');
    server.send("status note=it's");
    server.send('id name=x');
    await expect(a).rejects.toMatchObject({ code: 'ProtocolError', command: 'get_status' });
    expect((await b).line).toBe('id name=x');
  });

  it('rejects a reply line that is too long', async () => {
    const { client, server } = await pair(() => {}, {}, { maxLineLength: 16 });
    const a = client.request('describe');
    const b = client.request('ping');
    server.send('describe ' + 'x'.repeat(100));
    server.send('pong');
    await expect(a).rejects.toMatchObject({ code: 'LineTooLong' });
    expect((await b).line).toBe('pong');
  });

  it('with closeOnOversize, closes at the first reply over the limit without reading the rest', async () => {
    const { client, serverSocket } = await pair(() => {}, {}, { maxLineLength: 1024, closeOnOversize: true });
    const oversize: string[] = [];
    client.on('oversize', (info) => oversize.push(`${info.kind} ${info.command} ${info.limit}`));
    const a = client.request('describe');
    const b = client.request('ping');
    // No terminator: the client must give up at the limit, not wait for the end.
    serverSocket.write('describe ' + 'x'.repeat(4096));
    await expect(a).rejects.toMatchObject({ code: 'LineTooLong', command: 'describe', message: 'a reply to describe longer than the limit of 1 KiB (1024 bytes); connection closed' });
    await expect(b).rejects.toMatchObject({ code: 'CommunicationFailed' });
    expect(oversize).toEqual(['line describe 1024']);
    expect(client.closed).toBe(true);
  });

  it('closes on a binary reply announced over maxBinaryLength, naming size and limit', async () => {
    const { client, server } = await pair(() => {}, {}, { maxBinaryLength: 1000 });
    const oversize: number[] = [];
    client.on('oversize', (info) => oversize.push(info.size ?? -1));
    const p = client.request('describe');
    server.send('binary describe size=734003200');
    await expect(p).rejects.toMatchObject({ code: 'LineTooLong', message: expect.stringMatching(/of 700 MiB \(734003200 bytes\) is over the limit of 1000 bytes/) as unknown });
    await once(client, 'close');
    expect(oversize).toEqual([734003200]);
  });

  it('refuses requests that would break pairing', async () => {
    const { client } = await pair(echo);
    await expect(client.request('a\nb')).rejects.toMatchObject({ code: 'ProtocolError' });
    await expect(client.request('  ')).rejects.toMatchObject({ code: 'ProtocolError' });
    expect(() => client.send('x\0y')).toThrow(LabwireError);
    expect(client.pendingCount).toBe(0);
  });

  it('carries any formatted command across a socket unchanged', async () => {
    const received: Command[] = [];
    const { client, server } = await pair();
    server.on('line', (line) => received.push(parseLine(line)));
    const text = fc.string({ unit: 'grapheme', maxLength: 12 });
    const key = fc.stringMatching(/^[a-z_][a-z0-9_.]{0,7}$/);
    const commands = fc.sample(
      fc.record({ name: text, args: fc.array(text, { maxLength: 3 }), kwargs: fc.dictionary(key, text, { maxKeys: 3 }) }),
      300,
    );
    const sent: Command[] = commands.map((c) => ({ ...c, kwargs: Object.assign(Object.create(null) as Record<string, string>, c.kwargs) }));
    for (const cmd of sent) client.send(formatCommand(cmd));
    await until(() => received.length === sent.length);
    const view = (c: Command): unknown => ({ name: c.name, args: c.args, kwargs: { ...c.kwargs } });
    expect(received.map(view)).toEqual(sent.map(view));
  });

  it('reports the peer address and closes gracefully after flushing', async () => {
    const { client, server } = await pair();
    expect(server.remoteAddress).toBe('127.0.0.1');
    expect(typeof server.remotePort).toBe('number');
    expect(server.bufferedAmount).toBe(0);
    const got: string[] = [];
    client.on('unsolicited', (_c, l) => got.push(l));
    for (let i = 0; i < 100; i++) server.send(`line ${i}`);
    const clientClosed = once(client, 'close');
    await server.close();
    await clientClosed;
    expect(got).toHaveLength(100);
    expect(server.closed).toBe(true);
  });
});
