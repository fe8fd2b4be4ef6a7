/**
 * HTTP errors of the web API. Every error leaves the server as JSON `{code, message}` with a real
 * status code; messages are written for people and never carry raw exception text (stack traces,
 * SQL, file paths) from inside the monitor.
 */
import { LabwireError, type ErrorCode } from '../wire/types.js';

/** An error with the status code and JSON body it should produce. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  /** Extra fields for the JSON body (e.g. the device's reply line). */
  readonly extra: Record<string, unknown>;

  constructor(statusCode: number, code: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.extra = extra;
  }
}

export interface ErrorBody {
  code: string;
  message: string;
  [k: string]: unknown;
}

/** The HTTP status that a labwire error code stands for. */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'ProtocolError':
    case 'LineTooLong':
    case 'NoSuchCommand':
    case 'NoSuchParameter':
    case 'WrongType':
    case 'RangeError':
      return 400;
    case 'Unauthorized':
    case 'ReadOnly':
      return 403;
    case 'IsBusy':
    case 'Disabled':
      return 409;
    case 'RateLimited':
      return 429;
    case 'HardwareError':
    case 'InternalError':
      return 502;
    case 'CommunicationFailed':
      return 503;
    case 'Timeout':
      return 504;
  }
}

export function fromLabwireError(err: LabwireError, extra: Record<string, unknown> = {}): HttpError {
  return new HttpError(httpStatusFor(err.code), err.code, err.message, extra);
}

export const notFound = (message: string): HttpError => new HttpError(404, 'NotFound', message);
export const badRequest = (message: string): HttpError => new HttpError(400, 'BadRequest', message);
