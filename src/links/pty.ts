/**
 * A raw pseudo-terminal pair for simulators and tests: the master side is a Node stream, the slave
 * side is a path (/dev/pts/N) that a serial client opens exactly like a USB-serial adapter.
 *
 * Uses node-pty's native `open()` only (no child process). The slave fd is kept open and never
 * read, so the master stays usable while no client has the port open (otherwise reads on the
 * master fail with EIO between clients), and nothing in this process steals the client's bytes.
 */
import { createRequire } from 'node:module';
import tty from 'node:tty';

interface NativePty {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}

let native: NativePty | undefined;

function loadNative(): NativePty {
  if (native) return native;
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const dir of ['build/Release', 'build/Debug', `prebuilds/${process.platform}-${process.arch}`]) {
    try {
      native = require(`node-pty/${dir}/pty.node`) as NativePty;
      return native;
    } catch (err) {
      errors.push(`${dir}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    `pseudo-terminals need the node-pty package with its native module (npm install node-pty); tried ${errors.join('; ')}`,
  );
}

export interface PtyPair {
  /** Path of the slave side, for the client: `/dev/pts/N`. */
  readonly path: string;
  /** The master side: what the client writes arrives here, what is written here the client reads. */
  readonly master: tty.ReadStream;
  close(): void;
}

export function openPtyPair(): PtyPair {
  if (process.platform === 'win32') throw new Error('pseudo-terminals are not available on Windows');
  const fds = loadNative().open(80, 24);
  const master = new tty.ReadStream(fds.master);
  // Raw mode on the slave side until a client sets its own: no echo, no CR/LF translation, so a
  // client that never configures the port still sees the device's bytes unchanged.
  const slave = new tty.ReadStream(fds.slave);
  slave.setRawMode(true);
  slave.pause();
  // An EIO from the master means no client is attached at this instant; it is not a failure.
  master.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EIO') master.emit('pty-error', err);
  });
  let closed = false;
  return {
    path: fds.pty,
    master,
    close() {
      if (closed) return;
      closed = true;
      master.destroy();
      slave.destroy();
    },
  };
}

