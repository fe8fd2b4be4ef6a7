// Module hooks for a child process: append the URL of every module loaded to MODULE_LOG, so a test
// can tell which source files a process evaluated (ESM has no require.cache to inspect).
import fs from 'node:fs';

export async function load(url, context, nextLoad) {
  if (process.env.MODULE_LOG && url.startsWith('file:')) fs.appendFileSync(process.env.MODULE_LOG, `${url}\n`);
  return nextLoad(url, context);
}
