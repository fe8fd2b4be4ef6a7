/**
 * Reading a configuration document as written, before its schema: the checks that report every
 * problem in one run (secrets.ts, tls.ts) look at parts of a document that may be wrong anywhere
 * else, and take what is not of the expected shape as absent (the schema reports that).
 */
export const rawRecord = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
export const rawList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const rawText = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
