declare module '@xenova/transformers/src/tokenizers.js' {
  export class PreTrainedTokenizer {
    constructor(tokenizerJSON: unknown, tokenizerConfig: unknown);
  }
  export class AutoTokenizer {
    static TOKENIZER_CLASS_MAPPING: Record<string, typeof PreTrainedTokenizer>;
  }
}
