// The layer-name filter: a case-insensitive regular expression, like
// TensorBoard's tag filter, matched in time linear in the name's length.
//
// The browser's own RegExp backtracks: a pattern such as "([a-z_0-9/]+)+!"
// from a crafted link takes exponential time on a 40-character layer name
// and freezes the page. Here the pattern is compiled to a small program of
// instructions and run as a Thompson/Pike simulation (every alternative
// advanced together, one character at a time), so the work is bounded by
// (name length) x (program size) whatever the pattern. Patterns use
// JavaScript's syntax: literals, ".", classes ("[a-z]", "\d", "\w", "\s"
// and their negations), groups, "|", the quantifiers "* + ? {n} {n,}
// {n,m}" (lazy or greedy: a filter only asks whether a name matches),
// and the assertions "^ $ \b \B". What needs backtracking to mean anything
// (back-references, look-around), a program too large, and text that is
// no valid expression match as plain text, case-insensitively. Pure: no
// DOM, so node's test runner imports it.

/** Longest pattern compiled; a longer one matches as plain text. */
export const MAX_PATTERN = 500;
/** Most instructions a pattern may compile to ("a{1000}" is 1000). */
export const MAX_PROGRAM = 2000;

const CHAR = 0;
const SPLIT = 1;
const JMP = 2;
const ASSERT = 3;
const MATCH = 4;

class Unsupported extends Error {}

const LINE_END = /[\n\r\u2028\u2029]/;
const WORD = /[A-Za-z0-9_]/;
const SPACE = /\s/;
const DIGIT = /[0-9]/;

const ESCAPE_CLASSES = new Map([
  ["d", (c) => DIGIT.test(c)], ["D", (c) => !DIGIT.test(c)],
  ["w", (c) => WORD.test(c)], ["W", (c) => !WORD.test(c)],
  ["s", (c) => SPACE.test(c)], ["S", (c) => !SPACE.test(c)],
]);
const ESCAPE_CHARS = new Map([
  ["t", "\t"], ["n", "\n"], ["r", "\r"], ["v", "\v"], ["f", "\f"],
  ["0", "\0"],
]);

/** A parser of the pattern into a tree of nodes:
 *  {type: "char", test} | {type: "seq", items} | {type: "alt", options} |
 *  {type: "repeat", node, min, max (Infinity)} | {type: "assert", kind}. */
class Parser {
  constructor(text) {
    this.text = text;
    this.at = 0;
  }

  parse() {
    const node = this.alternation();
    if (this.at < this.text.length) throw new SyntaxError("unmatched )");
    return node;
  }

  peek() {
    return this.text[this.at];
  }

  alternation() {
    const options = [this.sequence()];
    while (this.peek() === "|") {
      this.at++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : {type: "alt", options};
  }

  sequence() {
    const items = [];
    while (this.at < this.text.length && this.peek() !== "|" &&
        this.peek() !== ")") {
      const atom = this.atom();
      items.push(this.quantified(atom));
    }
    return {type: "seq", items};
  }

  quantified(atom) {
    let node = atom;
    for (;;) {
      const bounds = this.quantifier();
      if (!bounds) return node;
      if (node.type === "assert") throw new SyntaxError("nothing to repeat");
      if (this.peek() === "?") this.at++;  // lazy: the same for a test
      node = {type: "repeat", node, min: bounds[0], max: bounds[1]};
    }
  }

  /** [min, max] of a quantifier at the cursor (consumed), or null. */
  quantifier() {
    const c = this.peek();
    if (c === "*") return this.consume(1, [0, Infinity]);
    if (c === "+") return this.consume(1, [1, Infinity]);
    if (c === "?") return this.consume(1, [0, 1]);
    if (c !== "{") return null;
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.text.slice(this.at));
    if (!m) return null;  // a lone "{" is a literal, as in JavaScript
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
    if (max < min) throw new SyntaxError("numbers out of order");
    return this.consume(m[0].length, [min, max]);
  }

  consume(length, value) {
    this.at += length;
    return value;
  }

  atom() {
    const c = this.text[this.at++];
    if (c === "(") return this.group();
    if (c === "[") return this.charClass();
    if (c === "\\") return this.escape();
    if (c === ".") return {type: "char", test: (ch) => !LINE_END.test(ch)};
    if (c === "^") return {type: "assert", kind: "start"};
    if (c === "$") return {type: "assert", kind: "end"};
    if (c === "*" || c === "+" || c === "?") {
      throw new SyntaxError("nothing to repeat");
    }
    if (c === "{" && this.quantifierAhead()) {
      throw new SyntaxError("nothing to repeat");
    }
    return literal(c);
  }

  quantifierAhead() {
    return /^\d+(,\d*)?\}/.test(this.text.slice(this.at));
  }

  group() {
    if (this.peek() === "?") {
      const head = this.text.slice(this.at, this.at + 3);
      if (head.startsWith("?:")) {
        this.at += 2;
      } else if (/^\?<[A-Za-z_$]/.test(head)) {
        const close = this.text.indexOf(">", this.at);
        if (close < 0) throw new SyntaxError("unterminated group name");
        this.at = close + 1;
      } else {
        throw new Unsupported("look-around");
      }
    }
    const node = this.alternation();
    if (this.text[this.at++] !== ")") throw new SyntaxError("unterminated group");
    return node;
  }

  escape() {
    const c = this.text[this.at++];
    if (c === undefined) throw new SyntaxError("\\ at end of pattern");
    if (c === "b") return {type: "assert", kind: "word"};
    if (c === "B") return {type: "assert", kind: "nonword"};
    if (/[1-9]/.test(c)) throw new Unsupported("back-reference");
    const test = this.escapeTest(c);
    return {type: "char", test};
  }

  /** The test of the escape `\c` (the cursor is past c). */
  escapeTest(c) {
    if (ESCAPE_CLASSES.has(c)) return ESCAPE_CLASSES.get(c);
    return literal(this.escapedChar(c)).test;
  }

  /** The character `\c` stands for (hex escapes consume their digits). */
  escapedChar(c) {
    if (ESCAPE_CHARS.has(c)) return ESCAPE_CHARS.get(c);
    const digits = c === "x" ? 2 : c === "u" ? 4 : 0;
    if (digits) {
      const hex = this.text.slice(this.at, this.at + digits);
      if (new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
        this.at += digits;
        return String.fromCharCode(parseInt(hex, 16));
      }
    }
    return c;
  }

  charClass() {
    const negate = this.peek() === "^";
    if (negate) this.at++;
    const tests = [];
    while (this.peek() !== "]") {
      if (this.at >= this.text.length) throw new SyntaxError("unterminated class");
      const from = this.classAtom();
      if (this.peek() === "-" && this.text[this.at + 1] !== "]" &&
          this.at + 1 < this.text.length && typeof from === "string") {
        this.at++;
        const to = this.classAtom();
        if (typeof to !== "string") throw new SyntaxError("bad class range");
        if (to < from) throw new SyntaxError("class range out of order");
        tests.push((ch) => inRange(ch, from, to));
      } else {
        tests.push(typeof from === "string" ? literal(from).test : from);
      }
    }
    this.at++;
    const test = (ch) => tests.some((t) => t(ch)) !== negate;
    return {type: "char", test};
  }

  /** One member of a class: a character (string) or a test (function). */
  classAtom() {
    const c = this.text[this.at++];
    if (c !== "\\") return c;
    const e = this.text[this.at++];
    if (e === undefined) throw new SyntaxError("\\ at end of pattern");
    if (ESCAPE_CLASSES.has(e)) return ESCAPE_CLASSES.get(e);
    if (e === "b") return "\b";
    return this.escapedChar(e);
  }
}

/** A case-insensitive test for one character (the name is lower-cased). */
function literal(c) {
  const lower = c.toLowerCase();
  return {type: "char", test: (ch) => ch === lower};
}

/** Whether ch (lower case), or its upper case, lies in [from, to]. */
function inRange(ch, from, to) {
  const upper = ch.toUpperCase();
  return (ch >= from && ch <= to) || (upper >= from && upper <= to);
}

/** Compiles a tree into instructions: [{op, test|kind|x|y}]. */
class Compiler {
  constructor() {
    this.program = [];
  }

  emit(instruction) {
    if (this.program.length >= MAX_PROGRAM) throw new Unsupported("too large");
    this.program.push(instruction);
    return this.program.length - 1;
  }

  compile(node) {
    if (node.type === "char") this.emit({op: CHAR, test: node.test});
    else if (node.type === "assert") this.emit({op: ASSERT, kind: node.kind});
    else if (node.type === "seq") node.items.forEach((item) => this.compile(item));
    else if (node.type === "alt") this.alternatives(node.options);
    else this.repeat(node);
  }

  alternatives(options) {
    const jumps = [];
    options.forEach((option, i) => {
      if (i === options.length - 1) {
        this.compile(option);
        return;
      }
      const split = this.emit({op: SPLIT, x: 0, y: 0});
      this.program[split].x = this.program.length;
      this.compile(option);
      jumps.push(this.emit({op: JMP, x: 0}));
      this.program[split].y = this.program.length;
    });
    for (const jump of jumps) this.program[jump].x = this.program.length;
  }

  repeat({node, min, max}) {
    if (min > MAX_PROGRAM || (max !== Infinity && max > MAX_PROGRAM)) {
      throw new Unsupported("too large");
    }
    for (let i = 0; i < min; i++) this.compile(node);
    if (max === Infinity) {
      const split = this.emit({op: SPLIT, x: 0, y: 0});
      this.program[split].x = this.program.length;
      this.compile(node);
      this.emit({op: JMP, x: split});
      this.program[split].y = this.program.length;
      return;
    }
    const splits = [];
    for (let i = min; i < max; i++) {
      const split = this.emit({op: SPLIT, x: 0, y: 0});
      this.program[split].x = this.program.length;
      splits.push(split);
      this.compile(node);
    }
    for (const split of splits) this.program[split].y = this.program.length;
  }
}

function isWord(ch) {
  return ch !== undefined && WORD.test(ch);
}

function holds(kind, text, at) {
  if (kind === "start") return at === 0;
  if (kind === "end") return at === text.length;
  const boundary = isWord(text[at - 1]) !== isWord(text[at]);
  return kind === "word" ? boundary : !boundary;
}

/**
 * Adds instruction `pc` and everything reachable from it without reading
 * a character to `list` (each instruction once per position: `seen` holds
 * the position it was last added at). Iterative: a program of thousands
 * of instructions never deepens the stack. Returns whether MATCH is
 * reachable.
 */
function addThread(program, list, seen, pc, text, at, work) {
  const stack = [pc];
  let matched = false;
  while (stack.length) {
    const i = stack.pop();
    if (seen[i] === at) continue;
    seen[i] = at;
    work.steps++;
    const ins = program[i];
    if (ins.op === JMP) stack.push(ins.x);
    else if (ins.op === SPLIT) stack.push(ins.y, ins.x);
    else if (ins.op === ASSERT) {
      if (holds(ins.kind, text, at)) stack.push(i + 1);
    } else if (ins.op === MATCH) matched = true;
    else list.push(i);
  }
  return matched;
}

/** Whether the program matches anywhere in `text` (lower case). Each
 *  instruction is visited at most once per position: `work.steps` counts
 *  the visits, at most (text length + 1) x (program size). */
function run(program, text, work = {steps: 0}) {
  const seen = new Int32Array(program.length).fill(-1);
  let current = [];
  for (let at = 0; at <= text.length; at++) {
    if (addThread(program, current, seen, 0, text, at, work)) return true;
    if (at === text.length) break;
    const ch = text[at];
    const next = [];
    for (const i of current) {
      if (program[i].test(ch) &&
          addThread(program, next, seen, i + 1, text, at + 1, work)) {
        return true;
      }
    }
    current = next;
  }
  return false;
}

/** For tests: whether `pattern` matches `name`, the instruction visits
 *  it took, and their bound. */
export function matchWork(pattern, name) {
  const program = compilePattern(pattern);
  const text = String(name).toLowerCase();
  const work = {steps: 0};
  const matched = run(program, text, work);
  return {matched, steps: work.steps,
    bound: (text.length + 1) * program.length};
}

/** The compiled program of `pattern`, or null when it must be matched
 *  as plain text (invalid, unsupported or too large). */
export function compilePattern(pattern) {
  if (pattern.length > MAX_PATTERN) return null;
  try {
    const tree = new Parser(pattern).parse();
    const compiler = new Compiler();
    compiler.compile(tree);
    compiler.emit({op: MATCH});
    return compiler.program;
  } catch (e) {
    if (e instanceof SyntaxError || e instanceof Unsupported) return null;
    throw e;
  }
}

let latest = {query: null, predicate: null};

/**
 * A predicate on layer names for the filter `text`: every name matches an
 * empty filter. Answers are remembered per name, and the last filter is
 * kept: every heatmap asks for the same names.
 */
export function layerFilter(text) {
  const query = String(text ?? "").trim();
  if (!query) return () => true;
  if (latest.query !== query) {
    latest = {query, predicate: buildFilter(query)};
  }
  return latest.predicate;
}

function buildFilter(query) {
  const program = compilePattern(query);
  const needle = query.toLowerCase();
  const test = program ?
    (name) => run(program, name) : (name) => name.includes(needle);
  const answers = new Map();
  return (name) => {
    const key = String(name).toLowerCase();
    let answer = answers.get(key);
    if (answer === undefined) {
      answer = test(key);
      answers.set(key, answer);
    }
    return answer;
  };
}
