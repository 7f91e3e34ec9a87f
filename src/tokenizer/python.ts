/**
 * Python semantics for the values of chat-template rendering, where @huggingface/jinja (a JavaScript
 * port of Jinja) gives JavaScript semantics instead: `str()` of values, `==`, `in`, `str.strip`,
 * `str.split`, `json.dumps` (transformers' `tojson`), `datetime.strftime`. Each function follows the
 * CPython 3 / Jinja 3 behaviour named in its docstring; the chat-template parity tests
 * (test/tokenizer/chat-template.test.ts against test/fixtures/chat/renderings.json) check them.
 * Values are @huggingface/jinja's runtime values, seen through {@link JinjaValue}.
 */
import { ChatTemplateError } from '../errors.js';

/** A runtime value of @huggingface/jinja (the package exports only its interpreter, not these classes). */
export interface JinjaValue {
  /** `StringValue`, `IntegerValue`, `FloatValue`, `BooleanValue`, `NullValue`, `UndefinedValue`,
   * `ArrayValue`, `TupleValue`, `ObjectValue`, `KeywordArgumentsValue`, `NamespaceValue`, `FunctionValue`. */
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  value: any;
}

/** Refusal of a construct whose Python result this module cannot reproduce. */
export function unsupported(construct: string, why: string): ChatTemplateError {
  return new ChatTemplateError(
    `The model's chat_template uses ${construct}, which this runtime cannot render exactly as transformers' apply_chat_template does (${why}). Send a raw completion prompt (chat off) instead, or use a model whose template avoids it.`,
    { construct },
  );
}

const NUMERIC = new Set(['IntegerValue', 'FloatValue', 'BooleanValue']);
const SEQUENCE = new Set(['ArrayValue', 'TupleValue']);
const MAPPING = new Set(['ObjectValue', 'KeywordArgumentsValue']);

export const isNumeric = (v: JinjaValue): boolean => NUMERIC.has(v.type);
export const isSequence = (v: JinjaValue): boolean => SEQUENCE.has(v.type);
export const isMapping = (v: JinjaValue): boolean => MAPPING.has(v.type);

/** Python truthiness (`bool(x)`; Jinja's Undefined is false). */
export function pyTruthy(v: JinjaValue): boolean {
  switch (v.type) {
    case 'StringValue': return v.value.length > 0;
    case 'IntegerValue': case 'FloatValue': return v.value !== 0;
    case 'BooleanValue': return v.value;
    case 'NullValue': case 'UndefinedValue': return false;
    case 'ArrayValue': case 'TupleValue': return v.value.length > 0;
    case 'ObjectValue': case 'KeywordArgumentsValue': return v.value.size > 0;
    default: return true;
  }
}

/** `float.__repr__`: shortest round-trip digits, fixed notation for exponents -4..15, else `1e+16`. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e'); // as many digits as needed to round-trip
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    return `${sign}${int}.${digits.slice(exp + 1) || '0'}`;
  }
  const frac = digits.slice(1);
  return `${sign}${digits[0]}${frac ? '.' + frac : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/**
 * `str(x)` as Jinja prints it (`{{ x }}`, `~`, `| string`, `| join`): None → `None`, booleans →
 * `True`/`False`, floats by {@link pyFloatRepr}, Undefined → ''.
 * @throws ChatTemplateError for lists, dicts and other values whose Python repr is not reproduced.
 */
export function pyStr(v: JinjaValue): string {
  switch (v.type) {
    case 'StringValue': return v.value;
    case 'IntegerValue':
      if (!Number.isSafeInteger(v.value)) throw unsupported('an integer beyond 2^53', 'JavaScript numbers lose its digits');
      return String(v.value);
    case 'FloatValue': return pyFloatRepr(v.value);
    case 'BooleanValue': return v.value ? 'True' : 'False';
    case 'NullValue': return 'None';
    case 'UndefinedValue': return '';
    default: throw unsupported(`the text of a ${describe(v)}`, 'Python prints its repr()');
  }
}

/** A short name of the value's Python type, for messages. */
export function describe(v: JinjaValue): string {
  return ({ ArrayValue: 'list', TupleValue: 'tuple', ObjectValue: 'dict', KeywordArgumentsValue: 'dict', NamespaceValue: 'namespace', FunctionValue: 'function', StringValue: 'string', IntegerValue: 'int', FloatValue: 'float', BooleanValue: 'bool', NullValue: 'None', UndefinedValue: 'undefined value' } as Record<string, string>)[v.type] ?? v.type;
}

/** Python `==` (structural for lists and dicts; `1 == 1.0 == True`; list != tuple; Undefined == Undefined). */
export function pyEquals(a: JinjaValue, b: JinjaValue): boolean {
  if (isNumeric(a) && isNumeric(b)) return Number(a.value) === Number(b.value);
  if (isMapping(a) && isMapping(b)) {
    if (a.value.size !== b.value.size) return false;
    for (const [k, x] of a.value as Map<string, JinjaValue>) {
      const y = (b.value as Map<string, JinjaValue>).get(k);
      if (y === undefined || !pyEquals(x, y)) return false;
    }
    return true;
  }
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 'StringValue': return a.value === b.value;
    case 'NullValue': case 'UndefinedValue': return true;
    case 'ArrayValue': case 'TupleValue':
      return a.value.length === b.value.length && (a.value as JinjaValue[]).every((x, i) => pyEquals(x, b.value[i]));
    default: return a === b || a.value === b.value;
  }
}

/** Python `item in container`: substring, list/tuple membership by `==`, dict keys; nothing is in Undefined. */
export function pyContains(item: JinjaValue, container: JinjaValue): boolean {
  switch (container.type) {
    case 'StringValue':
      if (item.type !== 'StringValue') throw unsupported(`\`${describe(item)} in string\``, 'Python raises TypeError');
      return container.value.includes(item.value);
    case 'ArrayValue': case 'TupleValue': return (container.value as JinjaValue[]).some((x) => pyEquals(item, x));
    case 'ObjectValue': case 'KeywordArgumentsValue': return item.type === 'StringValue' && container.value.has(item.value);
    case 'UndefinedValue': return false;
    default: throw unsupported(`\`in\` on a ${describe(container)}`, 'Python raises TypeError');
  }
}

/** Characters for which CPython's `str.isspace()` is true (bidi WS/B/S or category Zs). */
const PY_SPACE = new Set([...'\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000']);

/**
 * `str.strip(chars)`, `str.lstrip(chars)`, `str.rstrip(chars)` (and Jinja's `trim`): removes code points
 * in `chars` (Python whitespace when `chars` is null) from the given side(s).
 */
export function pyStrip(s: string, chars: string | null, side: 'both' | 'left' | 'right'): string {
  const drop = chars === null ? PY_SPACE : new Set([...chars]);
  const cps = [...s];
  let start = 0;
  let end = cps.length;
  if (side !== 'right') while (start < end && drop.has(cps[start])) start++;
  if (side !== 'left') while (end > start && drop.has(cps[end - 1])) end--;
  return cps.slice(start, end).join('');
}

/** `str.split(sep=None, maxsplit=-1)`: runs of Python whitespace when `sep` is null, else the literal separator. */
export function pySplit(s: string, sep: string | null, maxsplit: number): string[] {
  if (sep === '') throw unsupported('`str.split("")`', 'Python raises ValueError: empty separator');
  const out: string[] = [];
  if (sep !== null) {
    let rest = s;
    while (maxsplit < 0 || out.length < maxsplit) {
      const at = rest.indexOf(sep);
      if (at < 0) break;
      out.push(rest.slice(0, at));
      rest = rest.slice(at + sep.length);
    }
    out.push(rest);
    return out;
  }
  const cps = [...s];
  let i = 0;
  while (i < cps.length) {
    while (i < cps.length && PY_SPACE.has(cps[i])) i++;
    if (i >= cps.length) break;
    if (maxsplit >= 0 && out.length >= maxsplit) {
      out.push(cps.slice(i).join('')); // the remainder keeps its whitespace, trailing included
      break;
    }
    let j = i;
    while (j < cps.length && !PY_SPACE.has(cps[j])) j++;
    out.push(cps.slice(i, j).join(''));
    i = j;
  }
  return out;
}

/** Compares two strings by code point (Python's string order; JavaScript compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Options of transformers' `tojson` filter (`json.dumps` keywords). */
export interface JsonOptions {
  ensureAscii: boolean;
  /** Spaces (a number) or the indent string; null: one line. */
  indent: number | string | null;
  /** `[item_separator, key_separator]`; null: `(', ', ': ')`, or `(',', ': ')` with an indent. */
  separators: [string, string] | null;
  sortKeys: boolean;
}

/** Python `json` string literal (`json.encoder.py_encode_basestring[_ascii]`). */
function jsonString(s: string, ensureAscii: boolean): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) {
      const hex = (u: number) => '\\u' + u.toString(16).padStart(4, '0');
      out += c > 0xffff ? hex(0xd800 + ((c - 0x10000) >> 10)) + hex(0xdc00 + ((c - 0x10000) & 0x3ff)) : hex(c);
    } else out += ch;
  }
  return out + '"';
}

/**
 * `json.dumps(v, ensure_ascii, indent, separators, sort_keys)`, which transformers registers as the
 * `tojson` filter (it does not escape HTML, unlike Jinja's own).
 * @throws ChatTemplateError for values json cannot serialize (Undefined, namespaces, functions).
 */
export function jsonDumps(v: JinjaValue, o: JsonOptions, level = 0): string {
  const indent = o.indent === null ? null : typeof o.indent === 'number' ? ' '.repeat(o.indent) : o.indent;
  const [itemSep, keySep] = o.separators ?? (indent === null ? [', ', ': '] : [',', ': ']);
  const open = (items: string[], l: string, r: string): string => {
    if (items.length === 0) return l + r;
    if (indent === null) return l + items.join(itemSep) + r;
    const inner = '\n' + indent.repeat(level + 1);
    return l + inner + items.join(itemSep + inner) + '\n' + indent.repeat(level) + r;
  };
  switch (v.type) {
    case 'StringValue': return jsonString(v.value, o.ensureAscii);
    case 'IntegerValue': return pyStr(v);
    case 'FloatValue': return Number.isNaN(v.value) ? 'NaN' : !Number.isFinite(v.value) ? (v.value > 0 ? 'Infinity' : '-Infinity') : pyFloatRepr(v.value);
    case 'BooleanValue': return v.value ? 'true' : 'false';
    case 'NullValue': return 'null';
    case 'ArrayValue': case 'TupleValue':
      return open((v.value as JinjaValue[]).map((x) => jsonDumps(x, o, level + 1)), '[', ']');
    case 'ObjectValue': case 'KeywordArgumentsValue': {
      let entries = [...(v.value as Map<string, JinjaValue>).entries()];
      if (o.sortKeys) entries = entries.sort(([a], [b]) => compareCodePoints(a, b));
      return open(entries.map(([k, x]) => jsonString(k, o.ensureAscii) + keySep + jsonDumps(x, o, level + 1)), '{', '}');
    }
    default: throw unsupported(`\`tojson\` of a ${describe(v)}`, 'Python raises TypeError: not JSON serializable');
  }
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * `datetime.strftime(format)` of a naive local time in the C locale, as CPython on glibc formats it:
 * %a %A %b %B %d %e %H %I %j %m %M %p %S %y %Y %%, glibc's `%-x` (no padding) for the numeric ones,
 * and %Z %z (empty for a naive time).
 * @throws ChatTemplateError for any other directive.
 */
export function strftime(d: Date, format: string): string {
  const start = new Date(d.getFullYear(), 0, 1);
  const dayOfYear = Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
  const hour12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  const numeric: Record<string, [number, number]> = { // value, zero-padded width
    d: [d.getDate(), 2], H: [d.getHours(), 2], I: [hour12, 2], j: [dayOfYear, 3], m: [d.getMonth() + 1, 2],
    M: [d.getMinutes(), 2], S: [d.getSeconds(), 2], y: [d.getFullYear() % 100, 2], Y: [d.getFullYear(), 4],
  };
  return format.replace(/%(-?)(.)/gsu, (all, noPad: string, c: string) => {
    if (c in numeric) {
      const [value, width] = numeric[c];
      return noPad ? String(value) : String(value).padStart(width, '0');
    }
    if (noPad) throw unsupported(`\`strftime_now("${format}")\` (directive ${all})`, 'the directive is not implemented');
    switch (c) {
      case 'a': return DAYS[d.getDay()].slice(0, 3);
      case 'A': return DAYS[d.getDay()];
      case 'b': case 'h': return MONTHS[d.getMonth()].slice(0, 3);
      case 'B': return MONTHS[d.getMonth()];
      case 'e': return String(d.getDate()).padStart(2, ' ');
      case 'p': return d.getHours() < 12 ? 'AM' : 'PM';
      case 'Z': case 'z': return '';
      case '%': return '%';
      default: throw unsupported(`\`strftime_now("${format}")\` (directive ${all})`, 'the directive is not implemented');
    }
  });
}
