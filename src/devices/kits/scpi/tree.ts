/**
 * A declarative SCPI command tree for simulators: commands are declared by their header as the
 * manual writes it (`[SENSe:]CURRent:RANGe[:AUTO]`, `INPut<channel>:TEMPerature`, `SOURce#:FREQuency`)
 * with a query and/or a set handler; the tree parses request lines (`;`-separated commands,
 * relative paths, `:` back to the root, common `*` commands that leave the path alone), resolves
 * short/long forms, runs the handlers, joins the answers, and reports failures either as a reply
 * in place (the Cryo-con's `NACK`) or into an error queue (`SYST:ERR?` → `-113,"Undefined header"`).
 */
import { splitOutsideQuotes, splitParams } from './codec.js';
import { SCPI, ScpiError } from './errors.js';
import { matchHeader, parseHeaderSpec, type HeaderSegment, type HeaderWord, type KeywordMode } from './keywords.js';

/** What a handler sees of the command it runs. */
export interface ScpiContext {
  /** The parameter text after the header, trimmed (`5 KHZ, 3.0`). */
  readonly args: string;
  /** The parameters split at commas outside quotes, trimmed. */
  readonly params: readonly string[];
  /** Numeric suffix of each `#` keyword, in header order (1 where none was typed). */
  readonly suffixes: readonly number[];
  /** The value each selector chose (`INP A:` → `{ channel: 'A' }`); one run per value of a list. */
  readonly selected: Readonly<Record<string, string | number>>;
}

/**
 * A query answers text, or fails: an ScpiError, or undefined for a plain failure (-200 or the
 * tree's failure reply). A set succeeds with true/undefined, fails with false (-224) or an ScpiError.
 */
export type QueryHandler = (ctx: ScpiContext) => string | ScpiError | undefined;
export type SetHandler = (ctx: ScpiContext) => boolean | ScpiError | void;

export interface ScpiCommandSpec {
  /** As the manual writes it: capitals are the short form; `[...]` optional, `#` suffix, `<name>` selector. */
  header: string;
  query?: QueryHandler;
  set?: SetHandler;
}

/** A declared command with its parsed header. */
export interface ScpiCommand extends ScpiCommandSpec {
  readonly segments: readonly HeaderSegment[];
}

/** Parses a selector's text (`A`, `A,B,C,D`, `1`) into the values it names; undefined: not valid. */
export type SelectorParser = (text: string) => readonly (string | number)[] | undefined;

export interface ScpiTreeOptions {
  /** Keyword spelling rule; SCPI's is `strict` (the default). */
  keywords?: KeywordMode;
  /** Selectors named in headers by `<name>`; their presence enables `WORD sel:` parsing. */
  selectors?: Readonly<Record<string, SelectorParser>>;
  /** Each failed command answers this text in its place (the Cryo-con's `NACK`). */
  failureReply?: string;
  /** Each failure goes here (an error queue and the event status register). */
  onError?: (error: ScpiError) => void;
  /** Answers of one line are joined by this (`;`). */
  replySeparator?: string;
  /** A relative header that names nothing is tried again from the root (lenient parsers do). */
  retryFromRoot?: boolean;
  /** Commands the instrument answers as failures although declared (firmware without them). */
  disabled?: (command: ScpiCommand) => boolean;
}

/** One command of a line as typed: `:INP A:TEMP?`, `LOOP 1:SETPT 123.45`, `INPUT? A,B`, `*IDN?`. */
export interface ParsedScpiCommand {
  absolute: boolean;
  nodes: HeaderWord[];
  query: boolean;
  args: string;
}

/**
 * Parses one command of a line. With `selectors`, a token after a space that runs into `:` selects
 * (`INP A:TEMP?`); without, everything after the first space is parameters.
 */
export function parseScpiCommand(text: string, options: { selectors?: boolean } = {}): ParsedScpiCommand | undefined {
  let s = text.trim();
  const absolute = s.startsWith(':');
  if (absolute) s = s.slice(1);
  const nodes: HeaderWord[] = [];
  let pos = 0;
  for (;;) {
    const m = /^\*?[A-Za-z][A-Za-z0-9_]*/.exec(s.slice(pos));
    if (!m) return undefined;
    const word = m[0];
    pos += word.length;
    const c = s[pos];
    if (c === '?') {
      nodes.push({ word });
      return { absolute, nodes, query: true, args: s.slice(pos + 1).trim() };
    }
    if (c === ':') {
      nodes.push({ word });
      pos += 1;
      continue;
    }
    if (c === undefined) {
      nodes.push({ word });
      return { absolute, nodes, query: false, args: '' };
    }
    if (!/\s/.test(c)) return undefined;
    const rest = s.slice(pos).replace(/^\s+/, '');
    const sel = options.selectors ? /^([^\s":?;]+):/.exec(rest) : null;
    if (sel) {
      nodes.push({ word, selector: sel[1]! });
      pos = s.length - rest.length + sel[0].length;
      continue;
    }
    nodes.push({ word });
    return { absolute, nodes, query: false, args: rest.trim() };
  }
}

/** The outcome of one command: its answers (none for a set), and whether the header named anything. */
interface RunResult {
  replies: string[];
  unknown: boolean;
}

export class ScpiTree {
  private readonly commands: ScpiCommand[] = [];
  private readonly mode: KeywordMode;
  private readonly separator: string;

  constructor(
    specs: readonly ScpiCommandSpec[] = [],
    private readonly options: ScpiTreeOptions = {},
  ) {
    this.mode = options.keywords ?? 'strict';
    this.separator = options.replySeparator ?? ';';
    this.add(...specs);
  }

  /** Declares more commands; the first declared wins where two headers match the same words. */
  add(...specs: readonly ScpiCommandSpec[]): this {
    for (const spec of specs) {
      const segments = parseHeaderSpec(spec.header);
      for (const seg of segments) {
        if (seg.selector && !this.options.selectors?.[seg.selector]) throw new Error(`SCPI header ${spec.header} names selector <${seg.selector}>, which the tree lacks`);
      }
      this.commands.push({ ...spec, segments });
    }
    return this;
  }

  /** The command a typed header (`LOOP:HTRR`, `SYST:ERR`) names, ignoring selectors. */
  find(header: string): ScpiCommand | undefined {
    const words = header
      .replace(/\?$/, '')
      .split(':')
      .filter((w) => w !== '')
      .map((word) => ({ word }));
    return this.resolve(words)?.command;
  }

  /**
   * Runs one request line (terminator removed) and returns the joined answers; undefined when
   * nothing answers (set commands only, or failures with no failure reply).
   */
  execute(line: string): string | undefined {
    const replies = this.executeAll(line);
    return replies.length === 0 ? undefined : replies.join(this.separator);
  }

  /** The answers of one line, in order, a failure reply in the place of each failed command. */
  executeAll(line: string): string[] {
    const replies: string[] = [];
    let path: HeaderWord[] = [];
    const selectors = this.options.selectors !== undefined;
    for (const part of splitOutsideQuotes(line)) {
      if (part.trim() === '') continue;
      const cmd = parseScpiCommand(part, { selectors });
      if (!cmd) {
        replies.push(...this.fail(new ScpiError(SCPI.syntaxError)));
        continue;
      }
      const common = cmd.nodes[0]!.word.startsWith('*');
      let nodes = common || cmd.absolute ? cmd.nodes : [...path, ...cmd.nodes];
      let result = this.run(nodes, cmd);
      if (result.unknown && nodes !== cmd.nodes && this.options.retryFromRoot) {
        nodes = cmd.nodes;
        result = this.run(nodes, cmd);
      }
      // Common commands and headers that name nothing leave the current path alone.
      if (!common && !result.unknown) path = nodes.slice(0, -1);
      replies.push(...result.replies);
    }
    return replies;
  }

  private fail(error: ScpiError): string[] {
    this.options.onError?.(error);
    return this.options.failureReply === undefined ? [] : [this.options.failureReply];
  }

  private resolve(words: readonly HeaderWord[]): { command: ScpiCommand; suffixes: number[]; selectorTexts: { name: string; text: string; leaf: boolean }[] } | undefined {
    for (const command of this.commands) {
      const bindings = matchHeader(command.segments, words, this.mode);
      if (!bindings) continue;
      const suffixes = bindings.filter((b) => b.segment.suffix).map((b) => b.suffix ?? 1);
      const selectorTexts = bindings
        .filter((b) => b.word.selector !== undefined)
        .map((b) => ({ name: b.segment.selector ?? '', text: b.word.selector!, leaf: b === bindings[bindings.length - 1] }));
      return { command, suffixes, selectorTexts };
    }
    return undefined;
  }

  private run(nodes: readonly HeaderWord[], cmd: ParsedScpiCommand): RunResult {
    const found = this.resolve(nodes);
    if (!found) return { replies: this.fail(new ScpiError(SCPI.undefinedHeader)), unknown: true };
    const { command, suffixes } = found;
    const failed = (error: ScpiError): RunResult => ({ replies: this.fail(error), unknown: false });
    // A selector on a keyword that takes none.
    if (found.selectorTexts.some((s) => s.name === '')) return failed(new ScpiError(SCPI.headerSuffixOutOfRange, 'Header suffix out of range; this keyword takes no selector'));
    if (this.options.disabled?.(command)) return failed(new ScpiError(SCPI.undefinedHeader));
    let selection: { name: string; values: readonly (string | number)[] } | undefined;
    for (const s of found.selectorTexts) {
      const values = this.options.selectors![s.name]!(s.text);
      if (!values || values.length === 0) return failed(new ScpiError(SCPI.headerSuffixOutOfRange));
      selection = { name: s.name, values };
    }
    // A selecting keyword needs its selector, except a query on the keyword itself (`INPUT? A,B`).
    const selecting = command.segments.filter((seg) => seg.selector);
    const leaf = command.segments[command.segments.length - 1]!;
    const needsSelector = selecting.length > 0 && !(cmd.query && selecting.length === 1 && selecting[0] === leaf && nodes.length === 1);
    if (needsSelector && !selection) return failed(new ScpiError(SCPI.headerSuffixOutOfRange, 'Header suffix out of range; a selector is missing'));
    const handler = cmd.query ? command.query : command.set;
    if (!handler) return failed(new ScpiError(SCPI.undefinedHeader, cmd.query ? 'Undefined header; this command takes no query' : 'Undefined header; this command is a query only'));
    const replies: string[] = [];
    const params = splitParams(cmd.args);
    for (const value of selection?.values ?? [undefined]) {
      const ctx: ScpiContext = {
        args: cmd.args,
        params,
        suffixes,
        selected: selection && value !== undefined ? { [selection.name]: value } : {},
      };
      if (cmd.query) {
        const answer = command.query!(ctx);
        if (typeof answer === 'string') replies.push(answer);
        else replies.push(...this.fail(answer ?? new ScpiError(SCPI.executionError)));
      } else {
        const ok = command.set!(ctx);
        if (ok === false) replies.push(...this.fail(new ScpiError(SCPI.illegalParameterValue)));
        else if (ok instanceof ScpiError) replies.push(...this.fail(ok));
      }
    }
    return { replies, unknown: false };
  }
}

/** A command declared as a node of a nested table: its keyword (with `#`/`<name>`) and its children. */
export interface ScpiNodeSpec {
  keyword: string;
  query?: QueryHandler;
  set?: SetHandler;
  children?: readonly ScpiNodeSpec[];
}

/** Turns a nested table (the manual's tree drawing) into header declarations, parents first. */
export function flattenNodes(nodes: readonly ScpiNodeSpec[], prefix = ''): ScpiCommandSpec[] {
  const out: ScpiCommandSpec[] = [];
  for (const node of nodes) {
    const header = prefix === '' ? node.keyword : `${prefix}:${node.keyword}`;
    if (node.query || node.set) out.push({ header, ...(node.query ? { query: node.query } : {}), ...(node.set ? { set: node.set } : {}) });
    if (node.children) out.push(...flattenNodes(node.children, header));
  }
  return out;
}
