/** Reading labwire reply lines in tests without the library's own parser (a bug there must not hide one in a server). */

/** `status k=v ...` or `ok set k=v` → record (values unquoted by a simple rule good enough for tests). */
export function kv(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1).replace(/\\(.)/g, '$1') : m[2]!;
  }
  return out;
}
