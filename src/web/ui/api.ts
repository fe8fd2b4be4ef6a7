/// <reference lib="dom" />
/**
 * The page's side of the JSON API: fetch with JSON errors turned into ApiError, and the labwire
 * quoting rule for values typed into forms (the wire's own, so the page and the daemon agree).
 */
export { quote } from '../../wire/format.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reply?: string,
  ) {
    super(message);
  }
}

/** Listeners told when any request answers 401 (the session ended). */
const unauthorized = new Set<() => void>();
export function onUnauthorized(cb: () => void): () => void {
  unauthorized.add(cb);
  return () => unauthorized.delete(cb);
}

/** Tells the page that its session is gone (shows the login form again). */
export function notifyUnauthorized(): void {
  for (const cb of unauthorized) cb();
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: init.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      credentials: 'same-origin',
      signal: init.signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NetworkError', 'the monitor cannot be reached');
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const b = (body ?? {}) as { code?: string; message?: string; reply?: string };
    if (res.status === 401) notifyUnauthorized();
    throw new ApiError(res.status, b.code ?? `HTTP${res.status}`, b.message ?? res.statusText, b.reply);
  }
  return body as T;
}

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  return q.toString();
}
