/** Errors as clients see them. */
import { LinkError } from '../links/types.js';
import { LabwireError } from '../wire/types.js';

/** Maps link and unexpected errors onto protocol errors; never leaks a stack trace to a client. */
export function toLabwireError(err: unknown, command: string): LabwireError {
  if (err instanceof LabwireError) {
    return err.command === command ? err : new LabwireError(err.code, err.message, command);
  }
  if (err instanceof LinkError) {
    return new LabwireError(err.code === 'Timeout' ? 'Timeout' : 'CommunicationFailed', err.message, command);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new LabwireError('InternalError', message, command);
}
