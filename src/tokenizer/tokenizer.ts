/**
 * Tokenizer of a model folder: `tokenizer.json` + `tokenizer_config.json` (+ `chat_template.jinja`),
 * read through our model source (URL or local path, never a remote hub).
 *
 * The normalizers, pre-tokenizers, models (BPE, Unigram, WordPiece) and decoders come from
 * @huggingface/tokenizers (Tokenizers.js); the orchestration around them (added-token splitting,
 * post-processing, id ↔ token mapping) and the components where Tokenizers.js differs from the Rust
 * `tokenizers` crate follow the crate (src/tokenizer/rust-parity.ts), so ids and decoded text equal
 * Python `tokenizers`: test/tokenizer/layouts.test.ts checks the tokenizer.json layouts of the model
 * families (byte-level BPE, Metaspace in both layouts, SentencePiece-style normalizers with byte
 * fallback, added and special tokens) on a multilingual sample.
 *
 * Chat prompts ({@link Tokenizer.encodeChat}) read message text as plain text: special-token text in a
 * message (e.g. `<|im_end|>`) becomes ordinary tokens, and only the template's own markup yields
 * control tokens. Raw text ({@link Tokenizer.encode}) keeps Hugging Face's behaviour.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChatTemplateError, InvalidArgumentError, ModelFormatError } from '../errors.js';
import { readJson, readText, type ModelSource } from '../model/source.js';
import { ChatTemplate, specialTokenGlobals, type RenderOptions } from './chat-template.js';
import { AddedTokenSplitter, applyRustParity, byteOfToken, postProcess, type AddedToken, type Piece } from './rust-parity.js';

/** One chat message. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

/** Options of {@link Tokenizer.encodeChat}. */
export interface EncodeChatOptions extends RenderOptions {
  /**
   * Let special-token text inside messages become control tokens, as Hugging Face's
   * `apply_chat_template(tokenize=True)` does (default false). Only for trusted message text: a
   * message could otherwise end its own turn, forge another role's turn or plant an EOS.
   */
  allowSpecialInContent?: boolean;
}

type Json = Record<string, unknown>;

/** Every string inside `value` (messages: role, content and any other field). */
function* strings(value: unknown): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (Array.isArray(value)) for (const v of value) yield* strings(v);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) yield* strings(v);
}

/**
 * `value` with `sentinel` inserted after the first UTF-16 unit of every occurrence of a text in
 * `specials`, in every string it holds, so that no occurrence can match a control token.
 */
function breakSpecials(value: unknown, specials: string[], sentinel: string): unknown {
  if (typeof value === 'string') {
    const starts = new Set<number>();
    for (const sp of specials) for (let i = value.indexOf(sp); i >= 0; i = value.indexOf(sp, i + 1)) starts.add(i);
    if (!starts.size) return value;
    let out = '';
    for (let i = 0; i < value.length; i++) out += starts.has(i) ? value[i] + sentinel : value[i];
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => breakSpecials(v, specials, sentinel));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, breakSpecials(v, specials, sentinel)]));
  return value;
}

export class Tokenizer {
  readonly #hf: HfTokenizer;
  readonly #json: Json;
  readonly #added: AddedToken[];
  readonly #addedById = new Map<number, { token: AddedToken; text: string }>();
  readonly #raw: AddedTokenSplitter;
  readonly #normalized: AddedTokenSplitter;
  readonly #byteFallback: boolean;
  readonly #unkId: number | undefined;
  /** The chat template (null when the model has none). */
  readonly chatTemplate: ChatTemplate | null;
  /** Number of ids that have a token (the model's vocabulary may be padded beyond it). */
  readonly vocabSize: number;

  private constructor(json: Json, config: Json) {
    this.#json = json;
    try {
      this.#hf = new HfTokenizer(json, { ...config, clean_up_tokenization_spaces: false });
      applyRustParity(this.#hf, json);
    } catch (e) {
      if (e instanceof ModelFormatError) throw e;
      throw new ModelFormatError(`tokenizer.json could not be loaded: ${(e as Error).message}`, { file: 'tokenizer.json' });
    }
    const model = json.model as Json;
    this.#byteFallback = model.byte_fallback === true;
    // BPE / WordPiece name their unknown token (`unk_token`); Unigram gives its id (`unk_id`).
    this.#unkId = typeof model.unk_token === 'string' ? this.#hf.token_to_id(model.unk_token) : typeof model.unk_id === 'number' ? model.unk_id : undefined;
    this.#added = ((json.added_tokens ?? []) as Json[]).map((t) => ({
      id: Number(t.id), content: String(t.content), special: t.special === true, lstrip: t.lstrip === true,
      rstrip: t.rstrip === true, normalized: t.normalized === undefined ? t.special !== true : t.normalized === true, singleWord: t.single_word === true,
    }));
    const normalize = (s: string): string => (this.#hf.normalizer ? this.#hf.normalizer(s) : s);
    for (const t of this.#added) {
      // Rust's id_to_token gives a normalized added token's normalized content.
      this.#addedById.set(t.id, { token: t, text: t.normalized ? normalize(t.content) : t.content });
    }
    this.#raw = new AddedTokenSplitter(this.#added.filter((t) => !t.normalized).map((token) => ({ token, match: token.content })));
    this.#normalized = new AddedTokenSplitter(this.#added.filter((t) => t.normalized).map((token) => ({ token, match: normalize(token.content) })));
    this.vocabSize = Math.max(this.#hf.model?.vocab.length ?? 0, ...this.#added.map((t) => t.id + 1));
    // A list of named templates (transformers' multi-template form) contributes its "default" one.
    const raw = config.chat_template;
    const named = Array.isArray(raw) ? (raw as Json[]).find((t) => t?.name === 'default')?.template : raw;
    const template = typeof named === 'string' && named.length > 0 ? named : null;
    this.chatTemplate = template === null ? null : new ChatTemplate(template, specialTokenGlobals(config));
  }

  /**
   * A tokenizer from the parsed files.
   * @param tokenizerJson tokenizer.json; @param config tokenizer_config.json (its `chat_template` is the template).
   * @throws ModelFormatError when tokenizer.json is malformed or uses a layout that cannot be reproduced.
   */
  static fromJson(tokenizerJson: unknown, config: Json = {}): Tokenizer {
    const json = tokenizerJson as Json;
    if (!json || typeof json !== 'object' || !json.model || typeof json.model !== 'object') throw new ModelFormatError('tokenizer.json has no "model" section.', { file: 'tokenizer.json' });
    return new Tokenizer(json, config);
  }

  /**
   * Loads the tokenizer of a model folder; the chat template comes from `chat_template.jinja` or
   * tokenizer_config.json `chat_template`.
   * @throws ModelFormatError when tokenizer.json is missing or malformed; NetworkError when unreadable.
   */
  static async load(src: ModelSource): Promise<Tokenizer> {
    if (!(await src.exists('tokenizer.json'))) throw new ModelFormatError(`No tokenizer.json in ${src.location}: the runtime needs a Hugging Face fast-tokenizer file.`, { file: 'tokenizer.json' });
    const json = await readJson(src, 'tokenizer.json');
    const config = (await src.exists('tokenizer_config.json')) ? ((await readJson(src, 'tokenizer_config.json')) as Json) : {};
    if (await src.exists('chat_template.jinja')) config.chat_template = await readText(src, 'chat_template.jinja');
    return Tokenizer.fromJson(json, config);
  }

  /**
   * Ids of text pieces between added tokens, as Rust's `extract_and_normalize` + pre-tokenizer + model:
   * `pieces` come from the raw split; `sentinel` characters are removed from text before normalizing.
   */
  #encodePieces(pieces: Piece[], matchSpecial: boolean, sentinel: string | null): number[] {
    const ids: number[] = [];
    for (const piece of pieces) {
      if (piece.token) { ids.push(piece.token.id); continue; }
      const text = sentinel ? piece.text.replaceAll(sentinel, '') : piece.text;
      if (!text) continue;
      const normalized = this.#hf.normalizer ? this.#hf.normalizer(text) : text;
      for (const sub of this.#normalized.split(normalized, matchSpecial)) {
        if (sub.token) { ids.push(sub.token.id); continue; }
        // Metaspace's prepend_scheme "first" applies to the text at offset 0 of the input only.
        const first = piece.start === 0 && sub.start === 0 ? 0 : 1;
        const words = this.#hf.pre_tokenizer ? this.#hf.pre_tokenizer(sub.text, { section_index: first }) : [sub.text];
        for (const t of this.#hf.model!(words)) {
          const id = this.#hf.token_to_id(t) ?? this.#unkId;
          if (id === undefined) throw new ModelFormatError(`tokenizer.json has no id for token ${JSON.stringify(t)} and no unk_token.`, { file: 'tokenizer.json' });
          ids.push(id);
        }
      }
    }
    return ids;
  }

  /**
   * Token ids of raw text, as Python `tokenizers` encodes it: special-token text (e.g.
   * `<|endoftext|>`) becomes its control id, and `addSpecialTokens` adds what the post-processor adds
   * (e.g. Llama 3's BOS).
   */
  encode(text: string, addSpecialTokens = true): number[] {
    const ids = this.#encodePieces(this.#raw.split(text, true), true, null);
    return addSpecialTokens ? postProcess((this.#json.post_processor as Json) ?? null, ids) : ids;
  }

  /**
   * Token ids of text read as plain text: special-token text splits into ordinary tokens (Python
   * `tokenizers` with `encode_special_tokens = True`); non-special added tokens still match.
   */
  encodePlain(text: string): number[] {
    return this.#encodePieces(this.#raw.split(text, false), false, null);
  }

  /**
   * Text of `ids`, as Python `tokenizers` decodes it (no clean-up of spaces). Ids without a token (a
   * model vocabulary padded beyond the tokenizer) decode to nothing.
   */
  decode(ids: readonly number[], skipSpecialTokens = true): string {
    const tokens: string[] = [];
    for (const id of ids) {
      const added = this.#addedById.get(id);
      if (added) {
        if (!(skipSpecialTokens && added.token.special)) tokens.push(added.text);
        continue;
      }
      const t = this.#hf.id_to_token(id);
      if (t !== undefined) tokens.push(t);
    }
    if (tokens.length === 0) return '';
    return this.#hf.decoder ? this.#hf.decoder(tokens) : tokens.join(' ');
  }

  /** Whether `id` is a byte-fallback token (`<0xAB>`). */
  isByteToken(id: number): boolean {
    if (!this.#byteFallback || this.#addedById.has(id)) return false;
    const t = this.#hf.id_to_token(id);
    return t !== undefined && byteOfToken(t) !== null;
  }

  /** The byte of a byte-fallback token (`<0xAB>` → 0xab), else null. */
  byteOf(id: number): number | null {
    if (!this.#byteFallback || this.#addedById.has(id)) return null;
    const t = this.#hf.id_to_token(id);
    return t === undefined ? null : byteOfToken(t);
  }

  /** Whether `decode` (special tokens skipped) drops `id` altogether. */
  isSilent(id: number): boolean {
    const added = this.#addedById.get(id);
    return added ? added.token.special : this.#hf.id_to_token(id) === undefined;
  }

  get hasChatTemplate(): boolean {
    return this.chatTemplate !== null;
  }

  #template(): ChatTemplate {
    if (!this.chatTemplate) throw new ModelFormatError('This model has no chat template (tokenizer_config.json chat_template or chat_template.jinja); use a plain completion prompt.', { chatTemplate: null });
    return this.chatTemplate;
  }

  /**
   * Renders messages with the model's chat template, as transformers' `apply_chat_template(tokenize=False)`
   * (generation prompt appended unless `options.addGenerationPrompt` is false).
   * @throws ModelFormatError without a template; ChatTemplateError (see {@link ChatTemplate.render}).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    return this.#template().render(messages as unknown as Record<string, unknown>[], options);
  }

  /**
   * Token ids of a chat prompt. The template is rendered and tokenized like transformers'
   * `apply_chat_template(tokenize=True)` (no post-processor tokens), except that text inside messages
   * (and inside `options.variables`, e.g. tools) is plain text: special-token occurrences in their
   * strings are broken by a private-use sentinel
   * character before rendering, so only the template's own markup matches special tokens, and the
   * sentinel is removed from each text span before it is normalized. Prompts without special-token
   * text in their messages get exactly Hugging Face's ids.
   * @throws ModelFormatError without a template; ChatTemplateError when the template cannot be
   *   rendered, or when its output depends on special-token text inside a message; InvalidArgumentError
   *   when message text could still produce a special token (a one-character special token, or one
   *   matched after normalization) and `allowSpecialInContent` is not set.
   */
  encodeChat(messages: readonly ChatMessage[], options: EncodeChatOptions = {}): number[] {
    const template = this.#template();
    if (options.allowSpecialInContent) return this.encode(template.render(messages as unknown as Record<string, unknown>[], options), false);
    const specials = this.#added.filter((t) => t.special);
    const texts = [...strings(messages), ...strings(options.variables ?? {})];
    const found = specials.filter((t) => texts.some((s) => s.includes(t.content)));
    const normalize = (s: string): string => (this.#hf.normalizer ? this.#hf.normalizer(s) : s);
    for (const t of specials) {
      const risky = t.content.length === 1 ? found.includes(t) : t.normalized && texts.some((s) => normalize(s).includes(normalize(t.content)));
      if (risky) {
        throw new InvalidArgumentError(`A message contains text that this tokenizer would read as the special token ${JSON.stringify(t.content)} (${t.content.length === 1 ? 'a one-character token' : 'it is matched after normalization'}), and it cannot be kept apart. Remove it, or pass allowSpecialInContent (trusted input only).`, { token: t.content });
      }
    }
    if (!found.length) return this.#encodePieces(this.#raw.split(template.render(messages as unknown as Record<string, unknown>[], options), true), true, null);
    const used = new Set(template.source + JSON.stringify([messages, options.variables ?? {}, template.specialTokens]) + specials.map((t) => t.content).join(''));
    let code = 0xe000;
    while (used.has(String.fromCharCode(code))) code++; // a private-use character the prompt does not contain
    const sentinel = String.fromCharCode(code);
    const contents = found.map((t) => t.content);
    // Both renderings read one clock, so a template that prints the time cannot differ between them.
    const at = (options.now ?? (() => new Date()))();
    const once = { ...options, now: () => at };
    const broken = breakSpecials(messages, contents, sentinel) as Record<string, unknown>[];
    const rendered = template.render(broken, { ...once, variables: breakSpecials(options.variables, contents, sentinel) as Record<string, unknown> | undefined });
    if (rendered.replaceAll(sentinel, '') !== template.render(messages as unknown as Record<string, unknown>[], once)) {
      throw new ChatTemplateError('The model\'s chat_template renders differently when a message contains special-token text (it inspects that text), so the message cannot be kept as plain text. Remove the special-token text, or pass allowSpecialInContent (trusted input only).', { construct: 'special-token text in a message' });
    }
    return this.#encodePieces(this.#raw.split(rendered, true), true, sentinel);
  }

  /** Incremental decoder whose pieces concatenate exactly to `decode(all ids)`. */
  streamDecoder(): StreamDecoder {
    return new StreamDecoder(this);
  }
}

/**
 * Streams text as ids arrive. Text is emitted up to the last id that cannot change it. Inside a
 * trailing run of byte-fallback tokens (`<0xAB>`, skipped special tokens inside it ignored), each
 * character is emitted as soon as its UTF-8 bytes are complete, as long as the run so far is valid
 * UTF-8: Python `tokenizers`' ByteFallback decoder turns a valid run into its text, so this text is
 * final unless a later byte of the same run turns it invalid (the model emitted a broken sequence),
 * in which case Python decodes the whole run to one U+FFFD per byte: the characters already shown
 * stay, and the run's other bytes are one U+FFFD each. Text ending in U+FFFD (an incomplete UTF-8
 * sequence of byte-level BPE) waits for the rest. `flush()` emits whatever is left.
 * Pieces therefore concatenate to `decode(ids)` exactly, except for the characters shown early from
 * a run that turned invalid (each stands for the U+FFFDs of its bytes).
 */
export class StreamDecoder {
  readonly ids: number[] = [];
  /** Text emitted so far. */
  #emitted = '';
  /** Python's decode of the ids accounted for (equals #emitted unless a run turned invalid). */
  #ref = '';
  /** Offset in #ref where the characters shown early from the open byte run begin, or −1. */
  #runAt = -1;
  /** Index of the first id of that run. */
  #runStart = -1;
  constructor(private readonly tok: Tokenizer) {}

  /** Adds ids; returns the new text that is safe to show (may be ''). */
  push(...ids: number[]): string {
    this.ids.push(...ids);
    let cut = this.ids.length;
    while (cut > 0 && (this.tok.isByteToken(this.ids[cut - 1]) || this.tok.isSilent(this.ids[cut - 1]))) cut--;
    const end = this.#completeRunEnd(cut);
    let stable = this.tok.decode(this.ids.slice(0, end));
    if (end === cut) while (stable.endsWith('\uFFFD')) stable = stable.slice(0, -1);
    const runAt = end === cut ? -1 : this.#runAt >= 0 && cut === this.#runStart ? this.#runAt : this.tok.decode(this.ids.slice(0, cut)).length;
    return this.#advance(stable, runAt, cut);
  }

  /** Emits the rest (including U+FFFD if the ids really end mid-character). */
  flush(): string {
    return this.#advance(this.tok.decode(this.ids), -1, this.ids.length);
  }

  /** All text emitted so far. */
  get text(): string {
    return this.#emitted;
  }

  /**
   * The end of the ids whose text is final: past `cut` (the start of the trailing byte run), up to
   * the id that completes the run's last complete character while the run's bytes are valid UTF-8.
   */
  #completeRunEnd(cut: number): number {
    const bytes: number[] = [];
    let end = cut;
    let need = 0;
    for (let i = cut; i < this.ids.length; i++) {
      const b = this.tok.byteOf(this.ids[i]);
      if (b === null) continue; // a skipped special token inside the run
      if (need === 0) {
        need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
        if (need < 0) break;
      } else {
        if ((b & 0xc0) !== 0x80) break;
        need--;
      }
      bytes.push(b);
      if (need === 0) {
        // Overlong forms, surrogates and code points past U+10FFFF are refused by the fatal decoder.
        try { FATAL_UTF8.decode(Uint8Array.from(bytes)); } catch { break; }
        end = i + 1;
      }
    }
    return end;
  }

  /**
   * Emits what `stable` (Python's decode of a prefix of the ids) adds to the text accounted for.
   * `runAt`/`runStart`: where the open byte run's shown characters begin in `stable` (−1: none
   * shown) and the run's first id.
   */
  #advance(stable: string, runAt: number, runStart: number): string {
    let piece: string;
    if (stable.startsWith(this.#ref)) {
      piece = stable.slice(this.#ref.length);
    } else if (this.#ref.startsWith(stable)) {
      return ''; // the open run turned invalid: wait for its end
    } else if (this.#runAt >= 0 && stable.startsWith(this.#ref.slice(0, this.#runAt))) {
      // The run turned invalid after characters of it were shown: Python has one U+FFFD per byte
      // there; the shown characters stand for the first of them.
      const bytes = UTF8.encode(this.#ref.slice(this.#runAt)).length;
      piece = stable.slice(this.#runAt + bytes);
    } else {
      return '';
    }
    if (stable === this.#ref) return '';
    this.#ref = stable;
    this.#runAt = runAt;
    this.#runStart = runStart;
    this.#emitted += piece;
    return piece;
  }
}

const UTF8 = new TextEncoder();
const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true });
