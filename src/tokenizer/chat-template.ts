/**
 * Chat templates rendered like transformers' `apply_chat_template` (transformers 5,
 * `utils/chat_template_utils.py`): Jinja with `trim_blocks` and `lstrip_blocks`, the globals
 * `messages`, `tools`, `documents`, `add_generation_prompt`, the tokenizer's named special tokens
 * (`bos_token`, `eos_token`, …, and `extra_special_tokens`), `raise_exception`, `strftime_now`, and a
 * `tojson` filter that is `json.dumps(ensure_ascii=False)`.
 *
 * Parsing and control flow come from @huggingface/jinja. Where that JavaScript port gives JavaScript
 * semantics (printing `True`/`None`, `==` on dicts, `str.strip(chars)`, `selectattr(…, "undefined")`,
 * `tojson` of floats, `%` on negatives, strings with astral characters …), {@link PythonInterpreter}
 * evaluates the node itself with Python semantics (src/tokenizer/python.ts). A node that neither
 * reproduces is refused when it is evaluated, with a {@link ChatTemplateError} that names the construct,
 * so a conversation is either rendered exactly as Python renders it or refused, always before any GPU work.
 * What is verified: test/tokenizer/chat-template.test.ts against transformers' renderings of the
 * family test templates and of one-construct templates (test/fixtures/chat/).
 */
import { Environment, Interpreter, parse, tokenize } from '@huggingface/jinja';
import { ChatTemplateError } from '../errors.js';
import {
  compareCodePoints, describe, isMapping, isNumeric, isSequence, jsonDumps, pyContains, pyEquals,
  pySplit, pyStr, pyStrip, pyTruthy, strftime, unsupported, type JinjaValue,
} from './python.js';

/** A node of @huggingface/jinja's syntax tree (its classes are not exported). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = { type: string; [field: string]: any };

/** Converts a plain value with @huggingface/jinja's own conversion (an Environment returns what it stores). */
const convert = (v: unknown): JinjaValue => new Environment().set('v', v) as unknown as JinjaValue;
type Make = new (value: unknown) => JinjaValue;
const make = (v: unknown): Make => (convert(v) as object).constructor as Make;
const StringValue = make('');
const BooleanValue = make(true);
const IntegerValue = make(1);
const FloatValue = make(0.5);
const ArrayValue = make([]);
const UNDEFINED = convert(undefined);
const NULL = convert(null);

const str = (s: string): JinjaValue => new StringValue(s);
const bool = (b: boolean): JinjaValue => new BooleanValue(b);
const list = (items: JinjaValue[]): JinjaValue => new ArrayValue(items);
function int(n: number): JinjaValue {
  if (!Number.isSafeInteger(n)) throw unsupported('integer arithmetic beyond 2^53', 'JavaScript numbers lose its digits');
  return new IntegerValue(n);
}

/** Statements the library evaluates itself (their expressions come back through `evaluate`). */
const STATEMENTS = new Set(['Program', 'If', 'For', 'Set', 'Macro', 'Break', 'Continue', 'Comment', 'CallStatement']);
/** Expressions whose library evaluation is already Python's. */
const PLAIN_EXPRESSIONS = new Set(['Identifier', 'StringLiteral', 'FloatLiteral', 'ArrayLiteral', 'TupleLiteral', 'ObjectLiteral', 'Ternary', 'SelectExpression']);
/** Names of refused node types, for messages. */
const NODE_NAMES: Record<string, string> = {
  FilterStatement: 'a `{% filter %}` block', SpreadExpression: '`*args` unpacking', KeywordSpreadExpression: '`**kwargs` unpacking',
};
/** Methods of dicts and strings that `.name` finds before a dict key (Jinja's getattr); calls are in `#call`. */
const DICT_METHODS = new Set(['get', 'items', 'keys', 'values']);
const STRING_METHODS = new Set(['strip', 'lstrip', 'rstrip', 'split', 'startswith', 'endswith', 'upper', 'lower', 'replace', 'join']);
/** Filters the library evaluates as Python does (checked by the construct parity test). */
const LIBRARY_FILTERS = new Set(['indent', 'int', 'float', 'abs', 'safe']);

/**
 * Jinja tests (`x is name`) with Jinja 3's semantics. `number` includes booleans, `integer` does not;
 * Undefined is iterable; `lower`/`upper` are `str(x).islower()`/`isupper()`.
 */
const TESTS: Record<string, (v: JinjaValue) => boolean> = {
  defined: (v) => v.type !== 'UndefinedValue',
  undefined: (v) => v.type === 'UndefinedValue',
  none: (v) => v.type === 'NullValue',
  string: (v) => v.type === 'StringValue',
  number: (v) => isNumeric(v),
  integer: (v) => v.type === 'IntegerValue',
  float: (v) => v.type === 'FloatValue',
  boolean: (v) => v.type === 'BooleanValue',
  true: (v) => v.type === 'BooleanValue' && v.value === true,
  false: (v) => v.type === 'BooleanValue' && v.value === false,
  mapping: (v) => isMapping(v),
  iterable: (v) => v.type === 'StringValue' || isSequence(v) || isMapping(v) || v.type === 'UndefinedValue',
  sequence: (v) => v.type === 'StringValue' || isSequence(v) || isMapping(v) || v.type === 'UndefinedValue',
  callable: (v) => v.type === 'FunctionValue',
  odd: (v) => isNumeric(v) ? ((Number(v.value) % 2) + 2) % 2 === 1 : refuseTest('odd', v),
  even: (v) => isNumeric(v) ? ((Number(v.value) % 2) + 2) % 2 === 0 : refuseTest('even', v),
  lower: (v) => isCased(pyStr(v)) && pyStr(v) === pyStr(v).toLowerCase(),
  upper: (v) => isCased(pyStr(v)) && pyStr(v) === pyStr(v).toUpperCase(),
};
/** Tests with one argument, as `selectattr(attr, name, arg)` uses them. */
const BINARY_TESTS: Record<string, (v: JinjaValue, arg: JinjaValue) => boolean> = {
  equalto: (v, a) => pyEquals(v, a), eq: (v, a) => pyEquals(v, a), '==': (v, a) => pyEquals(v, a),
  ne: (v, a) => !pyEquals(v, a), '!=': (v, a) => !pyEquals(v, a), in: (v, a) => pyContains(v, a),
};
const isCased = (s: string): boolean => /[\p{Lu}\p{Ll}\p{Lt}]/u.test(s);
function refuseTest(name: string, v: JinjaValue): never {
  throw unsupported(`\`is ${name}\` on a ${describe(v)}`, 'Python raises TypeError');
}

/** Items of a Python iterable (code points of a string, keys of a dict). */
function iterate(v: JinjaValue, what: string): JinjaValue[] {
  if (v.type === 'StringValue') return [...(v.value as string)].map(str);
  if (isSequence(v)) return [...(v.value as JinjaValue[])];
  if (isMapping(v)) return [...(v.value as Map<string, JinjaValue>).keys()].map(str);
  if (v.type === 'UndefinedValue') return [];
  throw unsupported(`${what} on a ${describe(v)}`, 'Python raises TypeError: not iterable');
}

/** Python `len()`. */
function pyLen(v: JinjaValue): number {
  if (v.type === 'StringValue') return [...(v.value as string)].length;
  if (isSequence(v)) return v.value.length;
  if (isMapping(v)) return v.value.size;
  if (v.type === 'UndefinedValue') return 0;
  throw unsupported(`\`length\` of a ${describe(v)}`, 'Python raises TypeError');
}

/** Jinja's attribute lookup `getattr(x, "a.b")` for dict items (`selectattr`, `map`, `join`). */
function lookup(v: JinjaValue, path: string): JinjaValue {
  let cur = v;
  for (const part of path.split('.')) {
    if (isMapping(cur)) cur = (cur.value as Map<string, JinjaValue>).get(part) ?? UNDEFINED;
    else if (isSequence(cur) && /^\d+$/.test(part)) cur = cur.value[Number(part)] ?? UNDEFINED;
    else return UNDEFINED;
  }
  return cur;
}

/** Python slice indices `[start:stop:step]` over a sequence of length `n` (`slice.indices`). */
function sliceIndices(n: number, start: JinjaValue, stop: JinjaValue, step: JinjaValue): number[] {
  const num = (v: JinjaValue): number | null => (v.type === 'UndefinedValue' || v.type === 'NullValue' ? null : isNumeric(v) ? Number(v.value) : (() => { throw unsupported(`a slice index that is a ${describe(v)}`, 'Python raises TypeError'); })());
  const s = num(step) ?? 1;
  if (s === 0) throw unsupported('a slice step of 0', 'Python raises ValueError');
  const clamp = (x: number | null, dflt: number, lo: number, hi: number): number => {
    if (x === null) return dflt;
    const y = x < 0 ? x + n : x;
    return Math.min(Math.max(y, lo), hi);
  };
  const out: number[] = [];
  if (s > 0) for (let i = clamp(num(start), 0, 0, n); i < clamp(num(stop), n, 0, n); i += s) out.push(i);
  else for (let i = clamp(num(start), n - 1, -1, n - 1); i > clamp(num(stop), -1, -1, n - 1); i += s) out.push(i);
  return out;
}

/**
 * @huggingface/jinja's interpreter with Python semantics for the nodes where the library differs
 * (see the module docstring); `outputs` are the expression statements (`{{ … }}`), printed with `str()`.
 */
class PythonInterpreter extends Interpreter {
  constructor(env: Environment, private readonly outputs: WeakSet<object>) {
    super(env);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override evaluate(node: any, env: Environment): any {
    if (node == null) return super.evaluate(node, env);
    const v = this.#eval(node as Node, env);
    return this.outputs.has(node) ? str(pyStr(v)) : v;
  }

  #eval(node: Node, env: Environment): JinjaValue {
    switch (node.type) {
      case 'BinaryExpression': return this.#binary(node, env);
      case 'UnaryExpression': return this.#unary(node, env);
      case 'FilterExpression': return this.#filter(node, env);
      case 'TestExpression': return this.#test(node, env);
      case 'CallExpression': return this.#call(node, env);
      case 'MemberExpression': return this.#member(node, env);
      case 'IntegerLiteral': return int(node.value);
      default:
        if (STATEMENTS.has(node.type) || PLAIN_EXPRESSIONS.has(node.type)) return super.evaluate(node as never, env);
        throw unsupported(NODE_NAMES[node.type] ?? `the syntax \`${node.type}\``, 'the template engine does not implement it');
    }
  }

  #args(nodes: Node[], env: Environment): [JinjaValue[], Map<string, JinjaValue>] {
    const args: JinjaValue[] = [];
    const kwargs = new Map<string, JinjaValue>();
    for (const a of nodes) {
      if (a.type === 'KeywordArgumentExpression') kwargs.set(a.key.value, this.evaluate(a.value, env));
      else if (a.type === 'SpreadExpression' || a.type === 'KeywordSpreadExpression') throw unsupported(NODE_NAMES[a.type], 'the template engine does not implement it');
      else args.push(this.evaluate(a, env));
    }
    return [args, kwargs];
  }

  #binary(node: Node, env: Environment): JinjaValue {
    const op: string = node.operator.value;
    const left = this.evaluate(node.left, env);
    if (op === 'and') return pyTruthy(left) ? this.evaluate(node.right, env) : left;
    if (op === 'or') return pyTruthy(left) ? left : this.evaluate(node.right, env);
    const right = this.evaluate(node.right, env);
    switch (op) {
      case '==': return bool(pyEquals(left, right));
      case '!=': return bool(!pyEquals(left, right));
      case 'in': return bool(pyContains(left, right));
      case 'not in': return bool(!pyContains(left, right));
      case '~': return str(pyStr(left) + pyStr(right));
      case '<': case '>': case '<=': case '>=': {
        let d: number;
        if (isNumeric(left) && isNumeric(right)) d = Number(left.value) - Number(right.value);
        else if (left.type === 'StringValue' && right.type === 'StringValue') d = compareCodePoints(left.value, right.value);
        else throw unsupported(`\`${describe(left)} ${op} ${describe(right)}\``, 'Python raises TypeError or compares element-wise');
        return bool(op === '<' ? d < 0 : op === '>' ? d > 0 : op === '<=' ? d <= 0 : d >= 0);
      }
      default: return arithmetic(op, left, right);
    }
  }

  #unary(node: Node, env: Environment): JinjaValue {
    const op: string = node.operator.value;
    const v = this.evaluate(node.argument, env);
    if (op === 'not') return bool(!pyTruthy(v));
    if ((op === '-' || op === '+') && isNumeric(v)) {
      const x = op === '-' ? -Number(v.value) : Number(v.value);
      return v.type === 'FloatValue' ? new FloatValue(x) : int(x);
    }
    throw unsupported(`unary \`${op}\` on a ${describe(v)}`, 'Python raises TypeError');
  }

  #test(node: Node, env: Environment): JinjaValue {
    const v = this.evaluate(node.operand, env);
    const name: string = node.test.value;
    const test = TESTS[name];
    if (!test) throw unsupported(`the test \`is ${name}\``, 'the template engine does not implement it');
    return bool(test(v) !== node.negate);
  }

  /**
   * `x.name`, `x[key]`, `x[a:b:c]` as Jinja's `getattr`/`getitem`: dict keys (dict methods first for
   * `.name`), list and string indices by code point, Undefined for anything missing; reading into an
   * undefined value is an error, as in Jinja.
   */
  #member(node: Node, env: Environment): JinjaValue {
    const obj = this.evaluate(node.object, env);
    const p = node.property as Node;
    if (obj.type === 'UndefinedValue') throw unsupported('an attribute or item of an undefined value', 'Python raises UndefinedError');
    if (node.computed && p.type === 'SliceExpression') {
      const bounds = [this.evaluate(p.start, env), this.evaluate(p.stop, env), this.evaluate(p.step, env)] as const;
      if (obj.type === 'StringValue') {
        const cps = [...(obj.value as string)];
        return str(sliceIndices(cps.length, ...bounds).map((i) => cps[i]).join(''));
      }
      if (isSequence(obj)) return list(sliceIndices(obj.value.length, ...bounds).map((i) => obj.value[i] as JinjaValue));
      throw unsupported(`a slice of a ${describe(obj)}`, 'Python raises TypeError');
    }
    const key = node.computed ? this.evaluate(p, env) : p.type === 'IntegerLiteral' ? int(p.value) : str(p.value);
    const builtin = (): JinjaValue => ((obj as unknown as { builtins: Map<string, JinjaValue> }).builtins.get(key.value) ?? UNDEFINED);
    if (isMapping(obj) || obj.type === 'NamespaceValue') {
      if (key.type !== 'StringValue') return UNDEFINED;
      if (!node.computed && isMapping(obj) && DICT_METHODS.has(key.value)) return builtin();
      return (obj.value as Map<string, JinjaValue>).get(key.value) ?? UNDEFINED;
    }
    if (obj.type === 'StringValue' || isSequence(obj)) {
      if (key.type === 'StringValue') return obj.type === 'StringValue' && STRING_METHODS.has(key.value) ? builtin() : UNDEFINED;
      if (key.type !== 'IntegerValue' && key.type !== 'BooleanValue') return UNDEFINED;
      const items: unknown[] = obj.type === 'StringValue' ? [...(obj.value as string)] : obj.value; // Python indexes code points
      const i = Number(key.value) < 0 ? Number(key.value) + items.length : Number(key.value);
      if (i < 0 || i >= items.length) return UNDEFINED;
      return obj.type === 'StringValue' ? str(items[i] as string) : (items[i] as JinjaValue);
    }
    return UNDEFINED;
  }

  #call(node: Node, env: Environment): JinjaValue {
    const callee = node.callee;
    if (callee.type !== 'MemberExpression' || callee.computed || callee.property.type !== 'Identifier') {
      return super.evaluate(node as never, env); // global functions and macros
    }
    const obj = this.evaluate(callee.object, env);
    const name: string = callee.property.value;
    const [args, kwargs] = this.#args(node.args, env);
    const arg = (i: number, key: string): JinjaValue | undefined => args[i] ?? kwargs.get(key);
    const optStr = (v: JinjaValue | undefined, what: string): string | null => {
      if (v === undefined || v.type === 'NullValue') return null;
      if (v.type !== 'StringValue') throw unsupported(`\`${what}\` with a ${describe(v)} argument`, 'Python raises TypeError');
      return v.value;
    };
    if (obj.type === 'StringValue') {
      const s: string = obj.value;
      switch (name) {
        case 'strip': case 'lstrip': case 'rstrip':
          return str(pyStrip(s, optStr(arg(0, 'chars'), `str.${name}`), name === 'strip' ? 'both' : name === 'lstrip' ? 'left' : 'right'));
        case 'split': {
          const max = arg(1, 'maxsplit');
          return list(pySplit(s, optStr(arg(0, 'sep'), 'str.split'), max && isNumeric(max) ? Number(max.value) : -1).map(str));
        }
        case 'startswith': case 'endswith': {
          const p = arg(0, 'prefix') ?? UNDEFINED;
          if (args.length > 1) break;
          const options = p.type === 'StringValue' ? [p.value as string] : p.type === 'TupleValue' || p.type === 'ArrayValue' ? (p.value as JinjaValue[]).map((x) => optStr(x, `str.${name}`) ?? '') : null;
          if (!options) throw unsupported(`\`str.${name}\` with a ${describe(p)} argument`, 'Python raises TypeError');
          return bool(options.some((o) => (name === 'startswith' ? s.startsWith(o) : s.endsWith(o))));
        }
        case 'upper': return str(s.toUpperCase());
        case 'lower': return str(s.toLowerCase());
        case 'replace': {
          const [old, rep] = [optStr(arg(0, 'old'), 'str.replace'), optStr(arg(1, 'new'), 'str.replace')];
          const count = arg(2, 'count');
          if (old === null || rep === null) throw unsupported('`str.replace` without two strings', 'Python raises TypeError');
          return str(pyReplace(s, old, rep, count && isNumeric(count) ? Number(count.value) : -1));
        }
        case 'join': return str(iterate(args[0] ?? UNDEFINED, '`str.join`').map((x) => optStr(x, 'str.join') ?? '').join(s));
      }
    } else if (isMapping(obj)) {
      const map = obj.value as Map<string, JinjaValue>;
      switch (name) {
        case 'get': {
          const key = args[0];
          return (key?.type === 'StringValue' ? map.get(key.value) : undefined) ?? args[1] ?? NULL;
        }
        case 'items': return list([...map.entries()].map(([k, v]) => list([str(k), v])));
        case 'keys': return list([...map.keys()].map(str));
        case 'values': return list([...map.values()]);
      }
    }
    throw unsupported(`\`${describe(obj)}.${name}()\``, 'the template engine does not implement it');
  }

  #filter(node: Node, env: Environment): JinjaValue {
    const f = node.filter;
    const name: string = f.type === 'Identifier' ? f.value : f.callee?.value;
    const [args, kwargs] = f.type === 'CallExpression' ? this.#args(f.args, env) : [[], new Map<string, JinjaValue>()];
    const arg = (i: number, key: string): JinjaValue | undefined => args[i] ?? kwargs.get(key);
    const v = this.evaluate(node.operand, env);
    switch (name) {
      case 'trim': {
        const chars = arg(0, 'chars');
        return str(pyStrip(pyStr(v), chars && chars.type !== 'NullValue' ? pyStr(chars) : null, 'both'));
      }
      case 'tojson': {
        const indent = arg(1, 'indent');
        const seps = arg(2, 'separators');
        return str(jsonDumps(v, {
          ensureAscii: pyTruthy(arg(0, 'ensure_ascii') ?? bool(false)),
          indent: !indent || indent.type === 'NullValue' ? null : indent.type === 'StringValue' ? indent.value : Number(indent.value),
          separators: seps && isSequence(seps) && seps.value.length === 2 ? [pyStr(seps.value[0]), pyStr(seps.value[1])] : null,
          sortKeys: pyTruthy(arg(3, 'sort_keys') ?? bool(false)),
        }));
      }
      case 'length': case 'count': return int(pyLen(v));
      case 'string': return str(pyStr(v));
      case 'list': return list(iterate(v, '`list`'));
      case 'first': return iterate(v, '`first`')[0] ?? UNDEFINED;
      case 'last': return iterate(v, '`last`').at(-1) ?? UNDEFINED;
      case 'reverse': return v.type === 'StringValue' ? str([...(v.value as string)].reverse().join('')) : list(iterate(v, '`reverse`').reverse());
      case 'upper': return str(pyStr(v).toUpperCase());
      case 'lower': return str(pyStr(v).toLowerCase());
      case 'default': case 'd': {
        const dflt = arg(0, 'default_value') ?? str('');
        const boolean = pyTruthy(arg(1, 'boolean') ?? bool(false));
        return v.type === 'UndefinedValue' || (boolean && !pyTruthy(v)) ? dflt : v;
      }
      case 'join': {
        const attr = arg(1, 'attribute');
        const sep = arg(0, 'd');
        const items = iterate(v, '`join`').map((x) => (attr ? lookup(x, pyStr(attr)) : x));
        return str(items.map(pyStr).join(sep ? pyStr(sep) : ''));
      }
      case 'replace': {
        const count = arg(2, 'count');
        return str(pyReplace(pyStr(v), pyStr(arg(0, 'old') ?? str('')), pyStr(arg(1, 'new') ?? str('')), count && isNumeric(count) ? Number(count.value) : -1));
      }
      case 'items':
        if (!isMapping(v)) return v.type === 'UndefinedValue' ? list([]) : refuseFilter(name, v);
        return list([...(v.value as Map<string, JinjaValue>).entries()].map(([k, x]) => list([str(k), x])));
      case 'unique': {
        const caseSensitive = pyTruthy(arg(0, 'case_sensitive') ?? bool(false));
        const attr = arg(1, 'attribute');
        const seen: JinjaValue[] = [];
        const out: JinjaValue[] = [];
        for (const x of iterate(v, '`unique`')) {
          let key = attr ? lookup(x, pyStr(attr)) : x;
          if (!caseSensitive && key.type === 'StringValue') key = str(key.value.toLowerCase());
          if (!seen.some((s) => pyEquals(s, key))) { seen.push(key); out.push(x); }
        }
        return list(out);
      }
      case 'map': {
        const attr = kwargs.get('attribute');
        if (!attr || args.length) throw unsupported('`map` with a filter name', 'only `map(attribute=…)` is implemented');
        const dflt = kwargs.get('default');
        return list(iterate(v, '`map`').map((x) => { const y = lookup(x, pyStr(attr)); return y.type === 'UndefinedValue' && dflt ? dflt : y; }));
      }
      case 'selectattr': case 'rejectattr': {
        const select = name === 'selectattr';
        const [attr, test, testArg] = args;
        if (!attr || attr.type !== 'StringValue') throw unsupported(`\`${name}\` without an attribute name`, 'Python raises TypeError');
        const testName = test ? pyStr(test) : null;
        const check = (x: JinjaValue): boolean => {
          const y = lookup(x, attr.value);
          if (testName === null) return pyTruthy(y);
          if (TESTS[testName] && testArg === undefined) return TESTS[testName](y);
          if (BINARY_TESTS[testName] && testArg !== undefined) return BINARY_TESTS[testName](y, testArg);
          throw unsupported(`the test \`${testName}\` in \`${name}\``, 'the template engine does not implement it');
        };
        return list(iterate(v, `\`${name}\``).filter((x) => check(x) === select));
      }
      default:
        if (LIBRARY_FILTERS.has(name)) return super.evaluate(node as never, env);
        throw unsupported(`the filter \`| ${name}\``, 'the template engine does not implement it');
    }
  }
}

function refuseFilter(name: string, v: JinjaValue): never {
  throw unsupported(`\`| ${name}\` on a ${describe(v)}`, 'Python raises an error');
}

/** `str.replace(old, new, count)`. */
function pyReplace(s: string, old: string, rep: string, count: number): string {
  if (count < 0) return old === '' ? [...s].join(rep).replace(/^/, rep) + rep : s.split(old).join(rep);
  let out = '';
  let rest = s;
  for (let n = 0; n < count; n++) {
    const at = rest.indexOf(old);
    if (at < 0 || old === '') break;
    out += rest.slice(0, at) + rep;
    rest = rest.slice(at + old.length);
  }
  return out + rest;
}

/** Python arithmetic on numbers (booleans count as ints), strings and lists. */
function arithmetic(op: string, l: JinjaValue, r: JinjaValue): JinjaValue {
  if (isNumeric(l) && isNumeric(r)) {
    const a = Number(l.value);
    const b = Number(r.value);
    const float = l.type === 'FloatValue' || r.type === 'FloatValue';
    const num = (x: number, f = float): JinjaValue => (f ? new FloatValue(x) : int(x));
    if (b === 0 && (op === '/' || op === '//' || op === '%')) throw unsupported(`division by zero (\`${op}\`)`, 'Python raises ZeroDivisionError');
    switch (op) {
      case '+': return num(a + b);
      case '-': return num(a - b);
      case '*': return num(a * b);
      case '/': return new FloatValue(a / b);
      case '//': return num(Math.floor(a / b));
      case '%': return num(((a % b) + b) % b);
      case '**':
        if (a === 0 && b < 0) throw unsupported('`0 ** negative`', 'Python raises ZeroDivisionError');
        return num(a ** b, float || b < 0);
    }
  }
  if (op === '+' && l.type === 'StringValue' && r.type === 'StringValue') return str(l.value + r.value);
  if (op === '+' && l.type === 'ArrayValue' && r.type === 'ArrayValue') return list([...l.value, ...r.value]);
  if (op === '*') {
    const [seq, n] = isNumeric(r) && r.type !== 'FloatValue' ? [l, Number(r.value)] : isNumeric(l) && l.type !== 'FloatValue' ? [r, Number(l.value)] : [null, 0];
    if (seq?.type === 'StringValue') return str(seq.value.repeat(Math.max(0, n)));
    if (seq?.type === 'ArrayValue') return list(Array.from({ length: Math.max(0, n) }, () => seq.value as JinjaValue[]).flat());
  }
  throw unsupported(`\`${describe(l)} ${op} ${describe(r)}\``, 'Python raises TypeError');
}

/** Marks the expression statements (what `{{ … }}` prints) of every statement list under `node`. */
function markOutputs(node: Node | null | undefined, outputs: WeakSet<object>): void {
  if (!node || typeof node !== 'object') return;
  for (const key of ['body', 'alternate', 'defaultBlock']) {
    const block = node[key];
    if (!Array.isArray(block)) continue;
    for (const s of block as Node[]) {
      if (!STATEMENTS.has(s.type) && s.type !== 'FilterStatement') outputs.add(s);
      markOutputs(s, outputs);
    }
  }
}

/** Names of the tokenizer's special tokens that transformers passes to templates. */
const SPECIAL_TOKEN_NAMES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

/** The content of a special token as `tokenizer_config.json` writes it (a string or an AddedToken object). */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/**
 * The template globals transformers 5 derives from `tokenizer_config.json` (`special_tokens_map`):
 * the named special tokens that are set, and the `extra_special_tokens` names.
 */
export function specialTokenGlobals(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of SPECIAL_TOKEN_NAMES) {
    const t = tokenText(config[name]);
    if (t !== null) out[name] = t;
  }
  const extra = config.extra_special_tokens;
  if (extra && typeof extra === 'object' && !Array.isArray(extra)) {
    for (const [name, v] of Object.entries(extra)) {
      const t = tokenText(v);
      if (t !== null) out[name] = t;
    }
  }
  return out;
}

/** Options of one rendering. */
export interface RenderOptions {
  /** Appends the template's start of an assistant turn (default true). */
  addGenerationPrompt?: boolean;
  /** The clock `strftime_now` reads (default: the current local time). */
  now?: () => Date;
  /** More template variables (`tools`, `documents`, `enable_thinking`, `date_string`, …). */
  variables?: Record<string, unknown>;
}

/** Python's `range(stop)` / `range(start, stop[, step])` as a list. */
function range(...a: number[]): number[] {
  const [start, stop, step] = a.length === 1 ? [0, a[0], 1] : [a[0], a[1], a[2] ?? 1];
  if (!step) throw unsupported('`range()` with step 0', 'Python raises ValueError');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** A model's chat template, parsed once. */
/** An integer-like property name, which JavaScript objects list first, in numeric order. */
const INDEX_KEY = /^(?:0|[1-9]\d{0,8})$/;

/**
 * Refuses plain objects in the template's inputs whose key order JavaScript has already changed: an
 * object lists integer-like keys ("2", "10") first, in numeric order, whatever order they were
 * written in, while a Python dict keeps insertion order, which `tojson`, `items()` and loops show.
 * @throws ChatTemplateError naming the object's path.
 */
function checkKeyOrder(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkKeyOrder(v, `${path}[${i}]`));
    return;
  }
  if (value === null || typeof value !== 'object' || value instanceof Date) return;
  const keys = Object.keys(value);
  if (keys.length > 1 && keys.some((k) => INDEX_KEY.test(k))) {
    throw new ChatTemplateError(`The chat_template input ${path} is an object with integer-like keys (${keys.filter((k) => INDEX_KEY.test(k)).slice(0, 3).map((k) => JSON.stringify(k)).join(', ')}): JavaScript lists such keys first in numeric order, so the template could see a different key order than Python's apply_chat_template. Rename the keys (e.g. "k2"), or pass the data as an array.`, { construct: 'object with integer-like keys', path });
  }
  for (const [k, v] of Object.entries(value)) checkKeyOrder(v, `${path}.${k}`);
}

export class ChatTemplate {
  readonly #program: Node | null;
  readonly #outputs = new WeakSet<object>();
  /** Why the template cannot be parsed (null when it parsed). */
  readonly parseError: ChatTemplateError | null;

  /**
   * @param source the Jinja source (`chat_template` of tokenizer_config.json or chat_template.jinja).
   * @param specialTokens the template globals of {@link specialTokenGlobals}.
   */
  constructor(readonly source: string, readonly specialTokens: Record<string, string> = {}) {
    let program: Node | null = null;
    let error: ChatTemplateError | null = null;
    try {
      // Jinja's lexer reads any newline of the source as "\n" (the library drops the trailing one itself).
      program = parse(tokenize(source.replace(/\r\n?/g, '\n'), { lstrip_blocks: true, trim_blocks: true })) as unknown as Node;
      markOutputs(program, this.#outputs);
    } catch (e) {
      error = new ChatTemplateError(`The model's chat_template could not be parsed (${(e as Error).message}); it may use a Jinja statement this runtime does not implement (e.g. {% do %}, {% with %}, {% include %}). Send a raw completion prompt (chat off) instead.`, { construct: 'syntax', reason: (e as Error).message });
    }
    this.#program = program;
    this.parseError = error;
  }

  /**
   * Renders `messages` to the text transformers' `apply_chat_template(messages, tokenize=False,
   * add_generation_prompt=…)` returns.
   * @param messages chat messages (`role`, `content`, and any other fields the template reads).
   * @throws ChatTemplateError when the template cannot be parsed, uses a construct that cannot be
   *   rendered exactly (`detail.construct` names it), or refuses the conversation itself via
   *   `raise_exception` (`detail.construct === 'raise_exception'`, `detail.templateMessage`).
   */
  render(messages: readonly Record<string, unknown>[], options: RenderOptions = {}): string {
    if (this.parseError || !this.#program) throw this.parseError!;
    checkKeyOrder(messages, 'messages');
    checkKeyOrder(options.variables, 'variables');
    const now = options.now ?? (() => new Date());
    const env = new Environment();
    const globals: Record<string, unknown> = {
      false: false, true: true, none: null, False: false, True: true, None: null,
      range,
      raise_exception: (message: unknown) => {
        throw new ChatTemplateError(`The model's chat_template refused this conversation: ${String(message)}`, { construct: 'raise_exception', templateMessage: String(message) });
      },
      strftime_now: (format: unknown) => strftime(now(), String(format)),
      ...this.specialTokens,
      messages, tools: null, documents: null,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      ...options.variables,
    };
    for (const [k, v] of Object.entries(globals)) env.set(k, v);
    try {
      const out = new PythonInterpreter(env, this.#outputs).run(this.#program as never) as unknown as JinjaValue;
      return out.value as string;
    } catch (e) {
      if (e instanceof ChatTemplateError) throw e;
      throw unsupported('a construct the template engine rejected', (e as Error).message);
    }
  }
}
