/**
 * Test helper: a PostgreSQL cluster of the test's own (initdb in a temp dir, 127.0.0.1 on a free
 * port), for tests that must stop, kill or misconfigure the server — never the machine's shared
 * server, which other engineers' tests use at the same time.
 *
 * - initdb refuses to run as root: as root every server binary runs as `postgres` via runuser,
 *   and the temp dir is handed to that user.
 * - `password` given: scram-sha-256 for every connection (the superuser `postgres` gets it);
 *   without: trust on 127.0.0.1 only.
 * - The Unix socket lives in the temp dir (the machine's /var/run/postgresql stays untouched).
 * - A process exit hook stops clusters a test forgot, so no postmaster outlives the test run.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PRIVATE_POSTGRES_SKIP_MESSAGE =
  'PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) not found, or running as root without a `postgres` user: ' +
  'private-cluster tests skipped (CI installs PostgreSQL, so they run there)';

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres — never with the password in it. */
  url: string;
  port: number;
  /** The superuser's password when one was asked for. */
  password?: string;
  /** The cluster's temp dir (data in `data/`, server log in `server.log`). */
  dir: string;
  /** Clean shutdown (fast mode: open connections are ended). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port, same data. Resolves when it accepts connections. */
  start(): Promise<void>;
  /** Crash: immediate shutdown (SIGQUIT to every server process, no checkpoint; recovery on next start). */
  kill(): Promise<void>;
  /** Stops it (if running) and removes the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

function findBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root);
  } catch {
    return undefined;
  }
  // Newest major version first.
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** True when a private cluster can be created here. */
export function privatePostgresAvailable(): boolean {
  if (findBinDir() === undefined) return false;
  if (isRoot && postgresUser() === undefined) return false;
  return fs.existsSync('/usr/sbin/runuser') || fs.existsSync('/sbin/runuser') || !isRoot;
}

/** A port that was free a moment ago (bind 127.0.0.1:0, read it, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

const live = new Set<{ bin: string; data: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live) {
      try {
        execFileSync(...asServerUser(path.join(c.bin, 'pg_ctl'), ['-D', c.data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
      } catch {
        // already down
      }
    }
  });
}

function asServerUser(binary: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

async function serverCmd(binary: string, args: string[], timeoutMs = 60_000): Promise<void> {
  const [cmd, argv] = asServerUser(binary, args);
  try {
    await run(cmd, argv, { timeout: timeoutMs, cwd: '/' });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message?: string };
    throw new Error(`${path.basename(binary)} ${args.join(' ')} failed: ${err.stderr || err.stdout || err.message}`, { cause: e });
  }
}

/** initdb + start. Retries with another port when the one found free was taken meanwhile. */
export async function startPrivatePostgres(options: { password?: string } = {}): Promise<PrivatePostgres> {
  const bin = findBinDir();
  if (bin === undefined) throw new Error(PRIVATE_POSTGRES_SKIP_MESSAGE);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labwire-pg-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (isRoot) {
    const user = postgresUser();
    if (user === undefined) throw new Error(PRIVATE_POSTGRES_SKIP_MESSAGE);
    fs.chownSync(dir, user.uid, user.gid);
  }
  fs.chmodSync(dir, 0o700);

  const initArgs = ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'];
  if (options.password !== undefined) {
    const pwFile = path.join(dir, 'pwfile');
    fs.writeFileSync(pwFile, `${options.password}\n`, { mode: 0o600 });
    if (isRoot) {
      const user = postgresUser()!;
      fs.chownSync(pwFile, user.uid, user.gid);
    }
    initArgs.push('--auth=scram-sha-256', `--pwfile=${pwFile}`);
  } else {
    initArgs.push('--auth=trust');
  }
  await serverCmd(path.join(bin, 'initdb'), initArgs, 120_000);
  if (options.password !== undefined) fs.rmSync(path.join(dir, 'pwfile'), { force: true });
  // Host connections on loopback only; no local-socket surprises: the same method everywhere.
  const method = options.password !== undefined ? 'scram-sha-256' : 'trust';
  fs.writeFileSync(path.join(data, 'pg_hba.conf'), `local all all ${method}\nhost all all 127.0.0.1/32 ${method}\n`);

  let port = 0;
  const entry = { bin, data };
  const pgctl = path.join(bin, 'pg_ctl');
  let running = false;
  let destroyed = false;

  const startOn = async (p: number): Promise<void> => {
    // fsync off: a test cluster on a busy shared machine. A killed server loses nothing committed
    // (the WAL reaches the OS before COMMIT returns; only a crash of the machine would lose it).
    // synchronous_commit stays on: off, kill() would lose acknowledged commits.
    const opts = `-p ${p} -h 127.0.0.1 -k ${dir} -c fsync=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=16MB`;
    await serverCmd(pgctl, ['-D', data, '-l', logFile, '-o', opts, '-t', '60', '-w', 'start'], 90_000);
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await startOn(port);
      break;
    } catch (e) {
      if (attempt >= 3) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  running = true;
  live.add(entry);
  installExitHook();

  const stopWith = async (mode: 'fast' | 'immediate'): Promise<void> => {
    if (!running) return;
    await serverCmd(pgctl, ['-D', data, '-m', mode, '-t', '60', '-w', 'stop'], 90_000);
    running = false;
    live.delete(entry);
  };

  const result: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop: () => stopWith('fast'),
    kill: () => stopWith('immediate'),
    async start() {
      if (running) return;
      if (destroyed) throw new Error('private PostgreSQL was destroyed');
      await startOn(port);
      running = true;
      live.add(entry);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await stopWith('immediate');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  if (options.password !== undefined) result.password = options.password;
  return result;
}
