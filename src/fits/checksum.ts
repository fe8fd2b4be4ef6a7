/**
 * FITS integrity sums (FITS 4.0 §4.4.2.7, Appendix J): the 32-bit ones'-complement sum of a
 * byte range read as big-endian words, and the 16-character ASCII encoding of CHECKSUM.
 */

/** Ones'-complement sum of `bytes` (a multiple of 4 long) as big-endian 32-bit words, continuing from `start`. */
export function onesSum(bytes: Uint8Array, start = 0): number {
  if (bytes.length % 4 !== 0) throw new RangeError(`a FITS sum runs over whole 32-bit words, not ${bytes.length} bytes`);
  // Two 16-bit halves summed apart stay exact in a double for any file size; carries fold at the end.
  let hi = start >>> 16;
  let lo = start & 0xffff;
  for (let i = 0; i < bytes.length; i += 4) {
    hi += (bytes[i]! << 8) | bytes[i + 1]!;
    lo += (bytes[i + 2]! << 8) | bytes[i + 3]!;
  }
  while (hi > 0xffff || lo > 0xffff) {
    const carryHi = Math.floor(hi / 0x10000);
    const carryLo = Math.floor(lo / 0x10000);
    hi = (hi % 0x10000) + carryLo;
    lo = (lo % 0x10000) + carryHi;
  }
  return ((hi << 16) | lo) >>> 0;
}

/** Adds two ones'-complement sums (end-around carry). */
export function addSums(a: number, b: number): number {
  const s = a + b;
  return s > 0xffffffff ? s - 0xffffffff : s;
}

const excluded = (c: number): boolean => (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60);

/** The 16 characters of a 32-bit value (CHECKSUM writes the encoding of the complemented sum). */
export function encodeChecksum(value: number): string {
  const work = new Array<number>(16);
  for (let i = 0; i < 4; i++) {
    const byte = (value >>> (24 - 8 * i)) & 0xff;
    const quot = Math.floor(byte / 4) + 0x30;
    const ch = [quot + (byte % 4), quot, quot, quot];
    // Keep to 0–9 A–Z a–z: move one unit between the two characters of a pair, sum unchanged.
    for (let moved = true; moved; ) {
      moved = false;
      for (const j of [0, 2]) {
        if (excluded(ch[j]!) || excluded(ch[j + 1]!)) {
          ch[j] = ch[j]! + 1;
          ch[j + 1] = ch[j + 1]! - 1;
          moved = true;
        }
      }
    }
    for (let j = 0; j < 4; j++) work[4 * j + i] = ch[j]!;
  }
  return String.fromCharCode(...Array.from({ length: 16 }, (_, k) => work[(k + 15) % 16]!));
}
