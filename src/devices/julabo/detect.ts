/**
 * Opt-in search for the serial port a Julabo chiller is on. Writing to unknown serial ports can
 * upset other instruments, so it is never automatic: the caller lists the ports that must not be
 * touched, the last good port is tried first, and each candidate gets exactly one `version`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { SerialLink } from '../../links/serial.js';
import type { SerialSettings } from '../../links/url.js';
import { LabwireError } from '../../wire/types.js';
import { commands, encodeRequest, looksLikeJulaboVersion } from './codec.js';
import { JULABO_SERIAL_DEFAULTS, julaboSplitter } from './driver.js';

export interface DetectJulaboOptions {
  /** Ports to try; default: every port SerialPort.list() reports. */
  candidates?: string[];
  /** Ports never to open, not even briefly (other instruments). Symlinks are resolved. */
  exclude: string[];
  /** Remembers the last port that answered; tried first next time. */
  cacheFile?: string;
  /** Per port. A reply takes well under 100 ms at 4800 baud. Default 1000 ms. */
  timeoutMs?: number;
  /** Line settings over the manual's 4800 7E1 RTS/CTS (tests keep PTYs at 8N1). */
  serial?: Partial<SerialSettings>;
  /** Terminate the probe with CR LF instead of CR. */
  crlf?: boolean;
}

export interface ProbeResult {
  path: string;
  ok: boolean;
  /** The version string, or why the port was passed over. */
  detail: string;
}

async function realPath(p: string): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch {
    return path.resolve(p);
  }
}

async function readCache(file: string | undefined): Promise<string | undefined> {
  if (!file) return undefined;
  try {
    const text = (await fs.readFile(file, 'utf8')).trim();
    return text.length > 0 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Opens one port, sends `version`, and judges the first reply line. */
export async function probeJulaboPort(
  portPath: string,
  options: Pick<DetectJulaboOptions, 'timeoutMs' | 'serial' | 'crlf'> = {},
): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const link = new SerialLink({ kind: 'serial', path: portPath, ...JULABO_SERIAL_DEFAULTS, ...options.serial });
  try {
    await link.open();
  } catch (err) {
    return { path: portPath, ok: false, detail: (err as Error).message };
  }
  const splitter = julaboSplitter();
  try {
    await link.flushInput();
    const reply = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const onData = (chunk: Buffer) => {
        try {
          const lines = splitter.push(chunk);
          if (lines.length > 0) finish(lines[0]!.toString('latin1').trim());
        } catch {
          finish('(an overlong line)');
        }
      };
      const onClose = () => finish(undefined);
      function finish(value: string | undefined) {
        clearTimeout(timer);
        link.off('data', onData);
        link.off('close', onClose);
        resolve(value);
      }
      link.on('data', onData);
      link.on('close', onClose);
      link.write(encodeRequest(commands.version(), { crlf: options.crlf })).catch(() => finish(undefined));
    });
    if (reply === undefined) return { path: portPath, ok: false, detail: `no reply to "version" within ${timeoutMs} ms` };
    if (!looksLikeJulaboVersion(reply)) return { path: portPath, ok: false, detail: `replied ${JSON.stringify(reply)}, not a Julabo version` };
    return { path: portPath, ok: true, detail: reply };
  } finally {
    await link.close().catch(() => undefined);
  }
}

/**
 * Finds the port of a Julabo chiller: the cached last-good port first, then each candidate that
 * is not excluded. Returns its path and caches it; throws a LabwireError listing every port tried.
 */
export async function detectJulaboPort(options: DetectJulaboOptions): Promise<string> {
  const excluded = new Set<string>();
  for (const p of options.exclude) {
    excluded.add(path.resolve(p));
    excluded.add(await realPath(p));
  }
  const isExcluded = async (p: string) => excluded.has(path.resolve(p)) || excluded.has(await realPath(p));

  const cached = await readCache(options.cacheFile);
  const listed = options.candidates ?? (await SerialPort.list()).map((info) => info.path);
  const order: string[] = [];
  const seen = new Set<string>();
  const skipped: string[] = [];
  for (const p of cached !== undefined ? [cached, ...listed] : listed) {
    const real = await realPath(p);
    if (seen.has(real)) continue;
    seen.add(real);
    if (await isExcluded(p)) skipped.push(p);
    else order.push(p);
  }

  const tried: ProbeResult[] = [];
  for (const p of order) {
    const result = await probeJulaboPort(p, options);
    tried.push(result);
    if (result.ok) {
      if (options.cacheFile) {
        await fs.mkdir(path.dirname(options.cacheFile), { recursive: true });
        await fs.writeFile(options.cacheFile, `${p}\n`, 'utf8');
      }
      return p;
    }
  }

  const excludedText = skipped.length > 0 ? `; left alone (excluded): ${skipped.join(', ')}` : '';
  if (tried.length === 0) {
    throw new LabwireError(
      'CommunicationFailed',
      `no serial port to search for a Julabo chiller${excludedText}; plug in the adapter or give the port explicitly`,
    );
  }
  throw new LabwireError(
    'CommunicationFailed',
    `no Julabo chiller answered; tried ${tried.map((t) => `${t.path} (${t.detail})`).join(', ')}${excludedText}. ` +
      'Check the null-modem cable, that the unit is on and in remote mode, or give the port explicitly',
  );
}
