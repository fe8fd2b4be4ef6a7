/**
 * FITS header cards: 80 ASCII characters each, in the fixed format fitsverify expects (values
 * right-justified to column 30, strings quoted from column 11), HIERARCH for names that are not
 * legal 8-character keywords, CONTINUE for strings longer than one card.
 */

export type CardValue = string | number | boolean | null;

export interface Card {
  /** A keyword (`EXPTIME`), or words for HIERARCH (`LABWIRE CHILLER TEMPERATURE`). */
  key: string;
  /** null: the value is undefined (an empty value field). */
  value: CardValue;
  comment?: string;
}

export const CARD = 80;

const KEYWORD = /^[A-Z0-9_-]{1,8}$/;

/** Printable ASCII only: anything else (µ, °, UTF-8 from a form) would make the header invalid. */
export function asciiText(text: string): string {
  return text
    .replace(SPELLED_OUT, (ch) => SPELLINGS[ch] ?? ch)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Signs that units and lab texts use, in the ASCII a reader of the header expects (`°C` → `degC`,
 * `µA` → `uA`), before anything left over becomes `?`.
 */
const SPELLINGS: Readonly<Record<string, string>> = {
  '\u00b0': 'deg', '\u00b5': 'u', '\u03bc': 'u', '\u03a9': 'Ohm', '\u2126': 'Ohm', '\u00b1': '+/-', '\u00d7': 'x', '\u00f7': '/',
  '\u00b7': '.', '\u2013': '-', '\u2014': '-', '\u2018': "'", '\u2019': "'", '\u201c': '"', '\u201d': '"', '\u2026': '...',
  '\u2030': 'permil', '\u00c5': 'Angstrom', '\u212b': 'Angstrom',
};
const SPELLED_OUT = new RegExp(`[${Object.keys(SPELLINGS).join('')}]`, 'g');

/** A real as FITS writes it: always with a point or an exponent, exponents as E±dd. */
export function formatReal(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`${v} cannot be a FITS header value (no NaN or infinity)`);
  const s = String(v);
  const e = /^(-?[\d.]+)e([+-])(\d+)$/.exec(s);
  if (e) return `${e[1]}E${e[2]}${e[3]!.padStart(2, '0')}`;
  return /[.]/.test(s) ? s : `${s}.0`;
}

function formatValue(value: CardValue): { text: string; right: boolean } {
  if (value === null) return { text: '', right: false };
  if (typeof value === 'boolean') return { text: value ? 'T' : 'F', right: true };
  if (typeof value === 'number') return { text: Number.isInteger(value) && Math.abs(value) < 2 ** 63 ? String(value) : formatReal(value), right: true };
  return { text: quoted(asciiText(value)), right: false };
}

/** Quoted from column 11; short strings padded to 8 (the closing quote in column 20 or later), an empty one stays ''. */
function quoted(s: string): string {
  return s === '' ? "''" : `'${s.replace(/'/g, "''").padEnd(8)}'`;
}

function withComment(head: string, comment: string | undefined): string {
  if (!comment) return head.padEnd(CARD);
  const room = CARD - head.length - 3;
  return (room > 0 ? `${head} / ${asciiText(comment).slice(0, room)}` : head).padEnd(CARD);
}

/** A real, integer, logical or undefined value: `EXPTIME =                  1.5 / [s]`. */
function valueCard(key: string, value: CardValue, comment: string | undefined): string {
  const { text, right } = formatValue(value);
  if (KEYWORD.test(key)) {
    // Fixed format: the value ends in column 30; an undefined value leaves the field empty.
    const field = right ? text.padStart(20) : ''.padEnd(20);
    return withComment(`${key.padEnd(8)}= ${field}`.trimEnd(), comment);
  }
  return withComment(`HIERARCH ${hierarchName(key)} = ${text}`, comment);
}

function hierarchName(key: string): string {
  const name = asciiText(key).toUpperCase().replace(/[^A-Z0-9_\- .]/g, '_').trim();
  if (name === '') throw new RangeError(`"${key}" is not a usable FITS keyword`);
  return name;
}

/** Splits a string so that each quoted piece (quotes doubled) holds at most `max` characters. */
function pieces(s: string, first: number, rest: number): string[] {
  const out: string[] = [];
  let cur = '';
  let room = first;
  for (const ch of s) {
    const w = ch === "'" ? 2 : 1;
    if (cur.length + w > room) {
      // Break after the last space where there is one, as astropy does: words stay whole.
      const at = cur.lastIndexOf(' ') + 1;
      const cut = at > 0 && at < cur.length ? at : cur.length;
      out.push(cur.slice(0, cut));
      cur = cur.slice(cut);
      room = rest;
    }
    cur += ch === "'" ? "''" : ch;
  }
  out.push(cur);
  return out;
}

/** The card or cards of one header entry (a long string takes CONTINUE cards). */
export function formatCard(card: Card): string[] {
  const { key, value, comment } = card;
  if (key === 'COMMENT' || key === 'HISTORY' || key === '') {
    const text = asciiText(String(value ?? ''));
    const out: string[] = [];
    for (let i = 0; i === 0 || i < text.length; i += 72) out.push(`${key.padEnd(8)}${text.slice(i, i + 72)}`.padEnd(CARD));
    return out;
  }
  if (typeof value !== 'string') {
    const line = valueCard(key, value, comment);
    if (line.length > CARD) throw new RangeError(`the FITS card for ${key} does not fit in 80 characters`);
    return [line];
  }
  const text = asciiText(value);
  const head = KEYWORD.test(key) ? `${key.padEnd(8)}= ` : `HIERARCH ${hierarchName(key)} = `;
  const single = quoted(text);
  if (head.length + single.length <= CARD) {
    const field = KEYWORD.test(key) ? single.padEnd(20) : single;
    return [withComment(`${head}${field}`, comment)];
  }
  // CONTINUE: every piece but the last ends with & inside its quotes; the comment goes last.
  const first = CARD - head.length - 3;
  if (first < 1) throw new RangeError(`the FITS keyword ${key} leaves no room for its value`);
  const parts = pieces(text, first, 67);
  return parts.map((p, i) => {
    const last = i === parts.length - 1;
    const body = `'${p}${last ? '' : '&'}'`;
    return last ? withComment(`${i === 0 ? head : 'CONTINUE  '}${body}`, comment) : `${i === 0 ? head : 'CONTINUE  '}${body}`.padEnd(CARD);
  });
}
