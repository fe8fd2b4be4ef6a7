/**
 * The query parameters a postgres:// archive URL may carry. node-postgres reads many more
 * (sslmode, password, ...) from a connection string, but the archive connects from fields, so
 * those would be silently ignored — `?sslmode=verify-full` then connects in plain TCP. They are
 * refused instead, with a pointer to the setting that does the job. No dependencies: the lab
 * config schema uses it too.
 */

/** Parameters the archive honours: `options` (e.g. -c search_path=x) and `host` (a Unix socket dir). */
const ALLOWED = new Set(['options', 'host']);

const HINTS: Record<string, string> = {
  password: 'put the password in monitor.archive.passwordFile (or password: ${VAR}), never in the URL',
  user: 'write the user before the host: postgres://user@host/db',
  sslmode: 'configure TLS with monitor.archive.tls (ca, cert, key), not sslmode',
  sslcert: 'configure TLS with monitor.archive.tls (ca, cert, key)',
  sslkey: 'configure TLS with monitor.archive.tls (ca, cert, key)',
  sslrootcert: 'configure TLS with monitor.archive.tls (ca, cert, key)',
  ssl: 'configure TLS with monitor.archive.tls (ca, cert, key)',
};

/** Why the URL's query is refused (one message for the first unsupported parameter), or undefined. */
export function unsupportedUrlParameter(u: URL): string | undefined {
  for (const key of u.searchParams.keys()) {
    if (ALLOWED.has(key)) continue;
    const hint = HINTS[key.toLowerCase()] ?? 'only options= and host= are read; TLS goes in monitor.archive.tls, the password in monitor.archive.passwordFile';
    return `the archive URL's query parameter "${key}" is not supported (it would be ignored): ${hint}`;
  }
  return undefined;
}

/** Query parameters whose value must never be shown (redacted by redactUrl). */
export const SECRET_PARAMETERS: ReadonlySet<string> = new Set(['password', 'sslpassword', 'passfile', 'sslkey']);
