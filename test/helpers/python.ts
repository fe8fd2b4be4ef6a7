/**
 * Runs a Python script (Debian's /usr/bin/python3, where PyTango lives) as a child process and
 * takes the last line it prints as JSON: how the Tango tests drive PyTango's DeviceProxy. The
 * script runs asynchronously, so daemons and monitors of the test's own process keep answering.
 */
import { spawn } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

export interface PythonRun {
  env?: NodeJS.ProcessEnv;
  /** The script is killed after this long (default 60 s). */
  timeoutMs?: number;
  /** Appended to the error of a failed script: the log of the server under test, say. */
  note?: () => string;
}

export function runPythonJson<T = unknown>(script: string, opts: PythonRun = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const note = (): string => (opts.note ? `\n${opts.note()}` : '');
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`python script failed (${code} ${signal}): ${out.slice(-500)} ${err.slice(-2000)}${note()}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch {
        reject(new Error(`python script printed no JSON: ${out.slice(-500)} ${err.slice(-1500)}${note()}`));
      }
    });
  });
}
