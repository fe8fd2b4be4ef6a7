/**
 * A Link over a serial port (RS-232 via a USB adapter, a built-in UART, or a pseudo-terminal of a
 * simulator). Each `open()` makes a fresh SerialPort: a port object that saw a disconnect is not
 * worth reviving, and a new one re-applies the line settings after a USB adapter came back.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { SerialPort } from 'serialport';
import type { LinkKind } from './registry.js';
import type { Link, SerialLinkSpec } from './types.js';
import { DEFAULT_SERIAL_SETTINGS, describeSerialSettings, formatSerialUrl, parseSerialPath, parseSerialUrl } from './url.js';

/** Turns the binding's errno text into a sentence that tells the user what to do. */
export function explainSerialOpenError(path: string, err: Error): string {
  const m = err.message;
  if (/no such file or directory|ENOENT/i.test(m)) return `cannot open ${path}: no such port — is the adapter plugged in and the path right?`;
  if (/permission denied|EACCES/i.test(m)) {
    return `cannot open ${path}: permission denied — add the user to the dialout group (or uucp, depending on the system) and log in again`;
  }
  if (/cannot lock port|resource temporarily unavailable|EBUSY|device or resource busy/i.test(m)) {
    return `cannot open ${path}: the port is in use by another program`;
  }
  if (/inappropriate ioctl|ENOTTY/i.test(m)) return `cannot open ${path}: not a serial port`;
  if (/no such device|ENXIO|ENODEV/i.test(m)) return `cannot open ${path}: the device is gone (unplugged?)`;
  return `cannot open ${path}: ${m.replace(/^Error:?\s*/, '')}`;
}

interface DisconnectedError extends Error {
  disconnected?: boolean;
}

// ---- hang-up detection ---------------------------------------------------------------------
//
// On Linux and macOS a tty whose other end hung up (USB adapter unplugged, simulator PTY closed)
// reads 0 bytes for ever. The unix binding retries such a read at once, so the port spins a core
// and never reports the disconnect. We give the port object a read that treats 0 bytes as the
// hang-up it is: the stream then closes with a disconnected error like any other unplug.

interface UnixPortBinding {
  fd: number | null;
  poller: { once(event: 'readable', callback: (err: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

interface BindingLike {
  list(): Promise<unknown[]>;
  open(options: object): Promise<unknown>;
}

function isUnixPortBinding(port: unknown): port is UnixPortBinding {
  const p = port as Partial<UnixPortBinding> | null;
  return typeof p?.fd === 'number' && typeof p.poller?.once === 'function' && typeof p.read === 'function';
}

function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function readOnce(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buffer, offset, length, null, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

async function hangupAwareRead(port: UnixPortBinding, buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
  for (;;) {
    const fd = port.fd;
    if (fd === null) throw canceled();
    try {
      const bytesRead = await readOnce(fd, buffer, offset, length);
      if (bytesRead === 0) throw new Error('the other end hung up');
      return { buffer, bytesRead };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw err;
      if (port.fd === null) throw canceled();
      await new Promise<void>((resolve, reject) => {
        port.poller.once('readable', (pollErr) => (pollErr ? reject(pollErr) : resolve()));
      });
    }
  }
}

const detectedBinding = SerialPort.binding as unknown as BindingLike;
const hangupAwareBinding: BindingLike = {
  list: () => detectedBinding.list(),
  async open(options: object): Promise<unknown> {
    const port = await detectedBinding.open(options);
    if (isUnixPortBinding(port)) {
      port.read = (buffer, offset, length) => hangupAwareRead(port, buffer, offset, length);
    }
    return port;
  },
};

export class SerialLink extends EventEmitter implements Link {
  readonly spec: SerialLinkSpec;
  readonly description: string;
  private port: SerialPort | undefined;

  constructor(spec: SerialLinkSpec) {
    super();
    this.spec = spec;
    this.description = describeSerialLink(spec);
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  open(): Promise<void> {
    if (this.port) return Promise.reject(new Error(`${this.description} is already open`));
    const { path, baudRate, dataBits, parity, stopBits, rtscts } = this.spec;
    if (process.platform !== 'win32' && (parity === 'mark' || parity === 'space' || stopBits === 1.5)) {
      const what = stopBits === 1.5 ? '1.5 stop bits' : `${parity} parity`;
      return Promise.reject(new Error(`cannot open ${path}: ${what} is supported on Windows only`));
    }
    let port: SerialPort;
    try {
      // `binding` is left out of SerialPort's option type but honoured at run time.
      const options = { path, baudRate, dataBits, parity, stopBits, rtscts, autoOpen: false, binding: hangupAwareBinding };
      port = new SerialPort(options as unknown as ConstructorParameters<typeof SerialPort>[0]);
    } catch (err) {
      return Promise.reject(new Error(explainSerialOpenError(path, err as Error)));
    }
    this.port = port;
    return new Promise<void>((resolve, reject) => {
      port.open((err) => {
        if (err) {
          if (this.port === port) this.port = undefined;
          reject(new Error(explainSerialOpenError(path, err)));
          return;
        }
        if (this.port !== port) {
          // close() was called while opening: honour it.
          port.close(() => undefined);
          reject(new Error(`cannot open ${path}: closed while opening`));
          return;
        }
        port.on('data', (chunk: Buffer) => {
          if (this.port === port) this.emit('data', chunk);
        });
        port.on('close', (closeErr: DisconnectedError | null) => {
          if (this.port !== port) return; // our own close(), already reported
          this.port = undefined;
          const reason = closeErr?.disconnected
            ? new Error(`${path} disconnected (${closeErr.message})`)
            : new Error(`${path} closed${closeErr ? `: ${closeErr.message}` : ''}`);
          this.emit('close', reason);
        });
        // Errors the stream reports without a callback (none expected: every call below passes one).
        port.on('error', (portErr: Error) => {
          if (this.port !== port) return;
          this.port = undefined;
          if (port.isOpen) port.close(() => undefined);
          this.emit('close', new Error(`${path}: ${portErr.message}`));
        });
        resolve();
      });
    });
  }

  write(data: Buffer): Promise<void> {
    const port = this.port;
    if (!port || !port.isOpen) return Promise.reject(new Error(`cannot write to ${this.spec.path}: not open`));
    return new Promise<void>((resolve, reject) => {
      port.write(data, (err: Error | null | undefined) => {
        if (err) reject(new Error(`cannot write to ${this.spec.path}: ${err.message}`));
        else resolve();
      });
    });
  }

  /** tcflush: drops what the driver holds in both directions, so stale bytes cannot pair with the next request. */
  flushInput(): Promise<void> {
    const port = this.port;
    if (!port || !port.isOpen) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      port.flush((err) => {
        if (err) reject(new Error(`cannot flush ${this.spec.path}: ${err.message}`));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    const port = this.port;
    if (!port) return Promise.resolve();
    this.port = undefined;
    return new Promise<void>((resolve) => {
      const wasOpen = port.isOpen;
      if (!wasOpen) {
        resolve();
        return;
      }
      // A close error means the fd is gone anyway; the link is closed either way.
      port.close(() => {
        this.emit('close', undefined);
        resolve();
      });
    });
  }
}

function describeSerialLink(spec: SerialLinkSpec): string {
  return `${spec.path} ${describeSerialSettings(spec)}`;
}

/** serial:///dev/ttyUSB0?baud=… and bare device paths, registered by links/registry.ts. */
export const serialLinkKind: LinkKind<SerialLinkSpec> = {
  scheme: 'serial',
  example: `serial:///dev/ttyUSB0?baud=${DEFAULT_SERIAL_SETTINGS.baudRate}`,
  parse: (url, context) => parseSerialUrl(url, context.serialDefaults),
  parseBare: (text, context) => parseSerialPath(text, context.serialDefaults),
  bareExample: 'a device path such as /dev/ttyUSB0 or COM3',
  create: (spec) => new SerialLink(spec),
  format: formatSerialUrl,
  describe: describeSerialLink,
};
