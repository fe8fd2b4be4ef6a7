/** A stable symlink to a simulator's pseudo-terminal, replacing a stale one. */
import fs from 'node:fs';

export function linkPtyPathName(target: string, linkPath: string): void {
  try {
    if (fs.lstatSync(linkPath).isSymbolicLink()) fs.unlinkSync(linkPath);
    else throw new Error(`${linkPath} exists and is not a symlink; not replacing it`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.symlinkSync(target, linkPath);
}
