/**
 * SCPI keywords and headers as a manual writes them: `MEASure:CURRent?`, `[SENSe:]CURRent:RANGe[:UPPer]`,
 * `INPut#` (numeric suffix, `INP2`), `INPut<channel>` (a selector after a space, `INP A:TEMP?`, the
 * Cryo-con's dialect), `*IDN`. Capitals are the short form, the whole word the long form.
 */

/**
 * How strictly a typed word must follow the manual: `strict` is the SCPI rule (exactly the short
 * or exactly the long form, any case; `SYSTe` is illegal), `prefix` takes anything from the short
 * to the long form (the Cryo-con takes `TEMPer?`).
 */
export type KeywordMode = 'strict' | 'prefix';

/** `INPut` → `INP`: the leading capitals, digits and `*`. */
export function shortForm(pattern: string): string {
  const m = /^[A-Z0-9*_]+/.exec(pattern);
  return m ? m[0] : pattern;
}

/** Whether `word` names the keyword `pattern` (case-insensitive). */
export function keywordMatches(pattern: string, word: string, mode: KeywordMode = 'strict'): boolean {
  const short = shortForm(pattern).toUpperCase();
  const long = pattern.toUpperCase();
  const w = word.toUpperCase();
  if (mode === 'strict') return w === short || w === long;
  return w.length >= short.length && long.startsWith(w);
}

/** One keyword of a declared header. */
export interface HeaderSegment {
  /** The keyword as the manual writes it, e.g. `CURRent`. */
  keyword: string;
  /** `[…]`: may be left out (a default node). */
  optional: boolean;
  /** `#`: takes a numeric suffix (`INP2`); 1 when none is typed. */
  suffix: boolean;
  /** `<name>`: takes a selector after a space (`INP A:`), parsed by the tree's selector of that name. */
  selector?: string;
}

/**
 * Parses a declared header: `[SENSe:]CURRent:RANGe[:UPPer]`, `SOURce#:VOLTage`, `INPut<channel>:TEMPerature`,
 * `*IDN`. Throws on a malformed declaration: that is a programming error, found by the first test.
 */
export function parseHeaderSpec(spec: string): HeaderSegment[] {
  const segments: HeaderSegment[] = [];
  // `[SENSe:]`, `[:UPPer]` (optional, either colon) or a plain keyword, each with its `#` / `<name>`.
  const re = /(?::?\[:?([^[\]:]+):?\]|:?([^[\]:]+))/y;
  const word = /^(\*?[A-Za-z][A-Za-z0-9_]*?)(#)?(?:<([a-z][A-Za-z0-9]*)>)?$/;
  let pos = 0;
  while (pos < spec.length) {
    re.lastIndex = pos;
    const m = re.exec(spec);
    const w = m ? word.exec(m[1] ?? m[2] ?? '') : null;
    if (!m || !w) throw new Error(`malformed SCPI header declaration ${JSON.stringify(spec)} at ${pos}`);
    segments.push({ keyword: w[1]!, optional: m[1] !== undefined, suffix: Boolean(w[2]), ...(w[3] ? { selector: w[3] } : {}) });
    pos = re.lastIndex;
  }
  if (segments.length === 0) throw new Error(`empty SCPI header declaration ${JSON.stringify(spec)}`);
  return segments;
}

/** A word of a typed header: the keyword text (with any numeric suffix) and a selector typed after a space. */
export interface HeaderWord {
  word: string;
  selector?: string;
}

/** What one matched word gave: the suffix number, or the selector text. */
export interface WordBinding {
  segment: HeaderSegment;
  word: HeaderWord;
  suffix?: number;
}

function matchWord(segment: HeaderSegment, w: HeaderWord, mode: KeywordMode): WordBinding | undefined {
  if (segment.suffix) {
    const m = /^(.*?[A-Za-z*])(\d*)$/.exec(w.word);
    if (!m || !keywordMatches(segment.keyword, m[1]!, mode)) return undefined;
    return { segment, word: w, suffix: m[2] === '' ? 1 : Number(m[2]) };
  }
  return keywordMatches(segment.keyword, w.word, mode) ? { segment, word: w } : undefined;
}

/**
 * Matches typed words against a declared header, optional segments skipped where the words leave
 * them out. Returns one binding per typed word, or undefined.
 */
export function matchHeader(segments: readonly HeaderSegment[], words: readonly HeaderWord[], mode: KeywordMode): WordBinding[] | undefined {
  const go = (si: number, wi: number): WordBinding[] | undefined => {
    if (wi === words.length) return segments.slice(si).every((s) => s.optional) ? [] : undefined;
    if (si === segments.length) return undefined;
    const seg = segments[si]!;
    const bound = matchWord(seg, words[wi]!, mode);
    if (bound) {
      const rest = go(si + 1, wi + 1);
      if (rest) return [bound, ...rest];
    }
    return seg.optional ? go(si + 1, wi) : undefined;
  };
  return go(0, 0);
}
