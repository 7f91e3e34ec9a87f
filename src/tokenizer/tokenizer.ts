/**
 * Tokenizer of a model folder: `tokenizer.json` + `tokenizer_config.json` read through our model
 * source (URL or local path, never a remote hub) and handed to @xenova/transformers' AutoTokenizer
 * class mapping. The chat template comes from `chat_template.jinja` or `tokenizer_config.json`.
 * `merges` given as `["a", "b"]` pairs (tokenizers ≥ 0.20) are converted to `"a b"` strings, the
 * only form @xenova/transformers 2.17 reads.
 */
import { AutoTokenizer, PreTrainedTokenizer } from '@xenova/transformers/src/tokenizers.js';
import { ModelFormatError } from '../errors.js';
import { readJson, readText, type ModelSource } from '../model/source.js';

/** One chat message. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | string;
  content: string;
}

interface XenovaTokenizer {
  encode(text: string, pair?: string | null, opts?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  apply_chat_template(messages: ChatMessage[], opts: { tokenize: false; add_generation_prompt: boolean }): string;
  chat_template: string | null;
  all_special_ids: number[];
  model: { vocab?: unknown; tokens_to_ids?: Map<string, number> };
}

/** Converts `[["a","b"], ...]` merges to `["a b", ...]` in place. */
export function normaliseMerges(tokenizerJson: Record<string, unknown>): void {
  const model = tokenizerJson.model as { merges?: unknown[] } | undefined;
  if (model && Array.isArray(model.merges)) {
    model.merges = model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  }
}

export class Tokenizer {
  private constructor(readonly inner: XenovaTokenizer, readonly specialIds: Set<number>) {}

  /**
   * Loads the tokenizer of a model folder.
   * @throws ModelFormatError when tokenizer.json is missing or malformed; NetworkError when unreadable.
   */
  static async load(src: ModelSource): Promise<Tokenizer> {
    if (!(await src.exists('tokenizer.json'))) throw new ModelFormatError(`No tokenizer.json in ${src.location}: the runtime needs a Hugging Face fast-tokenizer file.`, { file: 'tokenizer.json' });
    const json = (await readJson(src, 'tokenizer.json')) as Record<string, unknown>;
    if (!json || typeof json !== 'object' || !json.model || typeof json.model !== 'object') throw new ModelFormatError('tokenizer.json has no "model" section.', { file: 'tokenizer.json' });
    normaliseMerges(json);
    const config = (await src.exists('tokenizer_config.json')) ? ((await readJson(src, 'tokenizer_config.json')) as Record<string, unknown>) : {};
    if (await src.exists('chat_template.jinja')) config.chat_template = await readText(src, 'chat_template.jinja');
    // Keep decoded text exact (HF's default cleanup rewrites " ," and friends).
    config.clean_up_tokenization_spaces ??= false;
    const name = typeof config.tokenizer_class === 'string' ? config.tokenizer_class.replace(/Fast$/, '') : 'PreTrainedTokenizer';
    const cls = (AutoTokenizer.TOKENIZER_CLASS_MAPPING as Record<string, typeof PreTrainedTokenizer>)[name] ?? PreTrainedTokenizer;
    let inner: XenovaTokenizer;
    try {
      inner = new cls(json, config) as unknown as XenovaTokenizer;
    } catch (e) {
      throw new ModelFormatError(`tokenizer.json could not be loaded: ${(e as Error).message}`, { file: 'tokenizer.json' });
    }
    return new Tokenizer(inner, new Set(inner.all_special_ids ?? []));
  }

  /** Token ids of `text`, with the tokenizer's own special tokens (e.g. BOS) when `addSpecialTokens`. */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.inner.encode(text, null, { add_special_tokens: addSpecialTokens });
  }

  /** Text of `ids` (special tokens skipped by default). */
  decode(ids: number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.inner.decode(ids, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false });
  }

  get hasChatTemplate(): boolean {
    return typeof this.inner.chat_template === 'string' && this.inner.chat_template.length > 0;
  }

  /** Renders messages with the model's chat template (generation prompt appended). */
  applyChatTemplate(messages: ChatMessage[]): string {
    if (!this.hasChatTemplate) throw new ModelFormatError('This model has no chat template (tokenizer_config.json chat_template or chat_template.jinja); use a plain completion prompt.');
    return this.inner.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
  }

  /** Incremental decoder whose pieces concatenate exactly to `decode(all ids)`. */
  streamDecoder(): StreamDecoder {
    return new StreamDecoder(this);
  }
}

/**
 * Streams text as ids arrive. A piece is emitted only once the decoded text has grown past it and
 * does not end in U+FFFD (an incomplete UTF-8 sequence of byte-level BPE), so multi-byte characters
 * are never split; `flush()` emits whatever is left.
 */
export class StreamDecoder {
  readonly ids: number[] = [];
  #emitted = '';
  constructor(private readonly tok: Tokenizer) {}

  /** Adds ids; returns the new text that is safe to show (may be ''). */
  push(...ids: number[]): string {
    this.ids.push(...ids);
    const text = this.tok.decode(this.ids);
    let stable = text;
    while (stable.endsWith('\uFFFD')) stable = stable.slice(0, -1);
    if (!stable.startsWith(this.#emitted) || stable.length <= this.#emitted.length) return '';
    const piece = stable.slice(this.#emitted.length);
    this.#emitted = stable;
    return piece;
  }

  /** Emits the rest (including a trailing U+FFFD if the ids really end mid-character). */
  flush(): string {
    const text = this.tok.decode(this.ids);
    if (!text.startsWith(this.#emitted)) return '';
    const piece = text.slice(this.#emitted.length);
    this.#emitted = text;
    return piece;
  }

  /** All text emitted so far. */
  get text(): string {
    return this.#emitted;
  }
}
