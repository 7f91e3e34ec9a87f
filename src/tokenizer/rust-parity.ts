/**
 * The parts of a Hugging Face tokenizer where @huggingface/tokenizers (Tokenizers.js 0.2) differs from
 * the Rust `tokenizers` crate that wrote the file (and that Python uses), reimplemented after the crate
 * (tokenizers 0.23: `tokenizer/added_vocabulary.rs`, `pre_tokenizers/metaspace.rs`,
 * `decoders/byte_fallback.rs`, `pre_tokenizers/byte_level.rs`, `processors/template.rs`):
 *
 * - added tokens: leftmost-longest matching, `single_word`, `lstrip`/`rstrip` whitespace, and matching
 *   special tokens or not (`encode_special_tokens`);
 * - the Metaspace pre-tokenizer: `split` (words at "▁"), `prepend_scheme: "first"` by offset, and the
 *   older `add_prefix_space` layout;
 * - decoders: Metaspace (drops every "▁" of the first token), ByteFallback (an invalid byte run
 *   becomes one U+FFFD per byte), ByteLevel (tokens with characters outside the byte alphabet keep
 *   their UTF-8 bytes);
 * - post-processors (TemplateProcessing adds every id of a special-token entry).
 *
 * test/tokenizer/layouts.test.ts checks the result against Python on the families' tokenizer layouts.
 */
import {
  ByteFallbackDecoder, ByteLevelDecoder, MetaspaceDecoder, MetaspacePreTokenizer,
  type Tokenizer as HfTokenizer,
} from '@huggingface/tokenizers';
import { ModelFormatError } from '../errors.js';

/** One entry of tokenizer.json `added_tokens`. */
export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  singleWord: boolean;
}

/** A piece of split text: plain text, or one added token (its span may include stripped whitespace). */
export interface Piece {
  start: number;
  text: string;
  token?: AddedToken;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u; // Rust regex `\w`
const SPACE = /\p{White_Space}/u; // Rust regex `\s`

/**
 * Splits text at added tokens as Rust's `AddedVocabulary::find_matches` does: non-overlapping
 * leftmost-longest matches scanned left to right; a special token is skipped when special tokens are
 * not matched, and a `single_word` token when a word character touches it; `lstrip`/`rstrip` take the
 * adjacent whitespace into the token.
 */
export class AddedTokenSplitter {
  readonly #trie = new Map<string, unknown>();
  readonly size: number;

  /** @param tokens the added tokens to match, with `match` the text to look for (content or its normalized form). */
  constructor(tokens: Array<{ token: AddedToken; match: string }>) {
    for (const { token, match } of tokens) {
      if (!match) continue;
      let node = this.#trie;
      for (let k = 0; k < match.length; k++) { // UTF-16 units, as split() walks the text
        if (!node.has(match[k])) node.set(match[k], new Map<string, unknown>());
        node = node.get(match[k]) as Map<string, unknown>;
      }
      node.set('', token);
    }
    this.size = tokens.length;
  }

  /** The longest token that starts at `i`, and its end. */
  #longest(text: string, i: number): [AddedToken, number] | null {
    let node = this.#trie;
    let best: [AddedToken, number] | null = null;
    let j = i;
    while (j < text.length) {
      const next = node.get(text[j]) as Map<string, unknown> | undefined;
      if (!next) break;
      node = next;
      j++;
      const t = node.get('') as AddedToken | undefined;
      if (t) best = [t, j];
    }
    return best;
  }

  /** Splits `text`; `matchSpecial` false reads special-token text as plain text. */
  split(text: string, matchSpecial: boolean): Piece[] {
    if (this.size === 0 || text.length === 0) return text.length ? [{ start: 0, text }] : [];
    const out: Piece[] = [];
    let offset = 0; // end of the previous match
    let i = 0;
    while (i < text.length) {
      const m = this.#longest(text, i);
      if (!m) { i++; continue; }
      const [token, end] = m;
      let start = i;
      let stop = end;
      i = end;
      if (token.special && !matchSpecial) continue;
      if (token.singleWord) {
        const before = start > 0 && WORD_CHAR.test(charBefore(text, start));
        const after = stop < text.length && WORD_CHAR.test(String.fromCodePoint(text.codePointAt(stop)!));
        if (before || after) continue;
      }
      if (token.lstrip) {
        let s = start;
        while (s > offset && SPACE.test(text[s - 1])) s--;
        start = s;
      }
      if (token.rstrip) while (stop < text.length && SPACE.test(text[stop])) stop++;
      if (offset < start) out.push({ start: offset, text: text.slice(offset, start) });
      out.push({ start, text: text.slice(start, stop), token });
      offset = stop;
      i = Math.max(i, stop);
    }
    if (offset < text.length) out.push({ start: offset, text: text.slice(offset) });
    return out;
  }
}

/** The character (code point) that ends at UTF-16 index `i`. */
function charBefore(s: string, i: number): string {
  const low = s.charCodeAt(i - 1);
  const high = i >= 2 ? s.charCodeAt(i - 2) : 0;
  return low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? s.slice(i - 2, i) : s[i - 1];
}

type Json = Record<string, unknown>;

/** Prepend scheme of a Metaspace section, with the older `add_prefix_space` layout read as Rust reads it. */
function prependScheme(config: Json, where: string): 'always' | 'first' | 'never' {
  const scheme = (config.prepend_scheme as string | undefined) ?? 'always';
  if (!['always', 'first', 'never'].includes(scheme)) throw new ModelFormatError(`tokenizer.json ${where} Metaspace has prepend_scheme "${scheme}"; expected always, first or never.`, { file: 'tokenizer.json' });
  if (config.add_prefix_space !== undefined && (config.add_prefix_space === false) !== (scheme === 'never')) {
    throw new ModelFormatError(`tokenizer.json ${where} Metaspace: add_prefix_space ${String(config.add_prefix_space)} does not match prepend_scheme "${scheme}" (Hugging Face tokenizers refuses this file too).`, { file: 'tokenizer.json' });
  }
  return scheme as 'always' | 'first' | 'never';
}

/** Rust's Metaspace pre-tokenizer; `section_index` 0 marks the section at offset 0 of the input. */
function metaspacePreTokenize(config: Json): (text: string, options?: { section_index?: number }) => string[] {
  const replacement = (config.replacement as string | undefined) ?? '\u2581';
  const scheme = prependScheme(config, 'pre_tokenizer');
  const split = (config.split as boolean | undefined) ?? true;
  return (text, options) => {
    let s = text.replaceAll(' ', replacement);
    if (!s.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && options?.section_index === 0))) s = replacement + s;
    if (!split) return [s];
    const words: string[] = [];
    let cur = '';
    for (const ch of s) {
      if (ch === replacement && cur) { words.push(cur); cur = ''; }
      cur += ch;
    }
    if (cur) words.push(cur);
    return words;
  };
}

/** Rust's Metaspace decoder: in the first token every replacement character is dropped (unless prepend_scheme is never). */
function metaspaceDecode(config: Json): (tokens: string[]) => string[] {
  const replacement = (config.replacement as string | undefined) ?? '\u2581';
  const scheme = prependScheme(config, 'decoder');
  return (tokens) => tokens.map((t, i) => (i === 0 && scheme !== 'never' ? t.replaceAll(replacement, '') : t.replaceAll(replacement, ' ')));
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** Byte of a byte-fallback token `<0xAB>`, else null. */
export function byteOfToken(token: string): number | null {
  const m = BYTE_TOKEN.exec(token);
  return m ? parseInt(m[1], 16) : null;
}

/** Rust's ByteFallback decoder: a run of byte tokens becomes its text if valid UTF-8, else one U+FFFD per byte. */
function byteFallbackDecode(tokens: string[]): string[] {
  const out: string[] = [];
  let run: number[] = [];
  const flush = (): void => {
    if (!run.length) return;
    try {
      out.push(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(run)));
    } catch {
      for (let k = 0; k < run.length; k++) out.push('\uFFFD');
    }
    run = [];
  };
  for (const t of tokens) {
    const b = byteOfToken(t);
    if (b === null) { flush(); out.push(t); } else run.push(b);
  }
  flush();
  return out;
}

/** GPT-2's byte ↔ printable character table (`bytes_to_unicode`). */
function unicodeToBytes(): Map<string, number> {
  const printable = [...Array(256).keys()].filter((b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae);
  const map = new Map<string, number>();
  let n = 0;
  for (let b = 0; b < 256; b++) map.set(String.fromCharCode(printable.includes(b) ? b : 256 + n++), b);
  return map;
}
const CHAR_BYTES = unicodeToBytes();

/** Rust's ByteLevel decoder: all tokens to bytes (a token with a character outside the table keeps its UTF-8), then lossy UTF-8. */
function byteLevelDecode(tokens: string[]): string[] {
  const bytes: number[] = [];
  const utf8 = new TextEncoder();
  for (const t of tokens) {
    const mapped = [...t].map((c) => CHAR_BYTES.get(c));
    if (mapped.every((b) => b !== undefined)) bytes.push(...(mapped as number[]));
    else bytes.push(...utf8.encode(t));
  }
  return [new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(Uint8Array.from(bytes))];
}

type Component = { decode_chain?: (t: string[]) => string[]; pre_tokenize_text?: unknown; decoders?: Component[]; tokenizers?: Component[]; config?: Json };

/**
 * Replaces the library's Metaspace, ByteFallback and ByteLevel components inside `hf` with the Rust
 * behaviour, walking the decoder and pre-tokenizer trees next to their JSON configs.
 * @throws ModelFormatError for layouts Rust refuses, or pre-tokenizer features the library cannot
 *   reproduce (Split behaviours other than Isolated and Removed).
 */
export function applyRustParity(hf: HfTokenizer, json: Json): void {
  const pre = (inst: Component | null, cfg: Json | null): void => {
    if (!inst || !cfg) return;
    if (cfg.type === 'Sequence') (cfg.pretokenizers as Json[]).forEach((c, i) => pre(inst.tokenizers?.[i] ?? null, c));
    else if (cfg.type === 'Split') {
      const behavior = String(cfg.behavior ?? 'Isolated');
      if (!cfg.invert && !['Isolated', 'Removed'].includes(behavior)) {
        throw new ModelFormatError(`tokenizer.json pre_tokenizer Split with behavior ${behavior} is not supported (Isolated and Removed are).`, { file: 'tokenizer.json', field: 'pre_tokenizer.behavior' });
      }
    } else if (cfg.type === 'Metaspace' && inst instanceof MetaspacePreTokenizer) {
      (inst as unknown as Component).pre_tokenize_text = metaspacePreTokenize(cfg);
    }
  };
  const dec = (inst: Component | null, cfg: Json | null): void => {
    if (!inst || !cfg) return;
    if (cfg.type === 'Sequence') (cfg.decoders as Json[]).forEach((c, i) => dec(inst.decoders?.[i] ?? null, c));
    else if (inst instanceof MetaspaceDecoder) inst.decode_chain = metaspaceDecode(cfg);
    else if (inst instanceof ByteFallbackDecoder) inst.decode_chain = byteFallbackDecode;
    else if (inst instanceof ByteLevelDecoder) inst.decode_chain = byteLevelDecode;
  };
  pre(hf.pre_tokenizer as unknown as Component, (json.pre_tokenizer as Json) ?? null);
  dec(hf.decoder as unknown as Component, (json.decoder as Json) ?? null);
}

/**
 * Rust's post-processing of one sequence of ids (`add_special_tokens`): TemplateProcessing (every id
 * of each special-token entry), Roberta/Bert (cls … sep), ByteLevel (no change) and Sequence.
 * @throws ModelFormatError for other post-processor types.
 */
export function postProcess(config: Json | null, ids: number[]): number[] {
  if (!config) return ids;
  switch (config.type) {
    case 'ByteLevel': return ids;
    case 'Sequence': return (config.processors as Json[]).reduce((acc, p) => postProcess(p, acc), ids);
    case 'TemplateProcessing': {
      const specials = (config.special_tokens ?? {}) as Record<string, { ids: number[] }>;
      const out: number[] = [];
      for (const item of config.single as Json[]) {
        if ('Sequence' in item) out.push(...ids);
        else {
          const key = (item.SpecialToken as { id: string }).id;
          if (!specials[key]) throw new ModelFormatError(`tokenizer.json post_processor names special token "${key}" without ids.`, { file: 'tokenizer.json' });
          out.push(...specials[key].ids);
        }
      }
      return out;
    }
    case 'RobertaProcessing': case 'BertProcessing': {
      const [cls, sep] = [config.cls as [string, number], config.sep as [string, number]];
      return [cls[1], ...ids, sep[1]];
    }
    default:
      throw new ModelFormatError(`tokenizer.json post_processor type "${String(config.type)}" is not supported.`, { file: 'tokenizer.json' });
  }
}
