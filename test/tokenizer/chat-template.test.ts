// Chat templates against transformers' apply_chat_template (test/fixtures/chat/renderings.json, written by
// test/fixtures/make_parity.py): test templates with the constructs of the published templates of
// Llama 3.x, Llama 2, Qwen2.5, Qwen3, Phi-3, Gemma 2/3, Mistral and SmolLM2 (each template names its
// family and constructs), one-construct templates, and the chat prompt's token ids. strftime_now is
// pinned to the date Python used.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { ChatTemplate, specialTokenGlobals } from '../../src/tokenizer/chat-template.js';
import { ChatTemplateError } from '../../src/errors.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const R = JSON.parse(readFileSync(join(FIXTURES, 'chat', 'renderings.json'), 'utf8'));
const [date, time] = (R.pinned_now as string).split('T');
const [y, mo, d] = date.split('-').map(Number);
const [h, mi, s] = time.split(':').map(Number);
const now = () => new Date(y, mo - 1, d, h, mi, s);
const layoutFiles = (layout: string) => {
  const dir = join(FIXTURES, 'tokenizer', 'layouts', layout);
  return [JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'))];
};
const withTemplate = (layout: string, template: string) => {
  const [json, config] = layoutFiles(layout);
  return Tokenizer.fromJson(json, { ...config, chat_template: template });
};
interface Conversation {
  name: string; messages: Array<{ role: string; content: string }>; kwargs: Record<string, unknown>; add_generation_prompt: boolean;
  text?: string; error?: string; message?: string; ids_hf?: number[]; ids_safe?: number[] | null;
}
const catchError = (f: () => unknown): unknown => {
  try { f(); } catch (e) { return e; }
  return null;
};

describe(`chat templates render like transformers (${R.reference})`, () => {
  for (const [name, t] of Object.entries(R.templates as Record<string, { layout: string; conversations: Conversation[] }>)) {
    it(`${name} (${t.layout}): text and ids of every conversation, or the template's own refusal`, () => {
      const tok = withTemplate(t.layout, readFileSync(join(FIXTURES, 'chat', 'templates', `${name}.jinja`), 'utf8'));
      for (const c of t.conversations) {
        const opts = { now, variables: c.kwargs, addGenerationPrompt: c.add_generation_prompt };
        if (c.error) {
          const e = catchError(() => tok.applyChatTemplate(c.messages, opts)) as ChatTemplateError;
          expect(e, `${name}/${c.name}`).toBeInstanceOf(ChatTemplateError);
          expect(e.detail.construct).toBe('raise_exception');
          expect(e.message).toContain('chat_template');
          expect(e.message).toContain(c.message);
          expect(() => tok.encodeChat(c.messages, opts)).toThrow(ChatTemplateError);
          continue;
        }
        expect(tok.applyChatTemplate(c.messages, opts), `${name}/${c.name}`).toBe(c.text);
        expect(tok.encodeChat(c.messages, { ...opts, allowSpecialInContent: true }), `${name}/${c.name}`).toEqual(c.ids_hf);
        expect(tok.encodeChat(c.messages, opts), `${name}/${c.name}`).toEqual(c.ids_safe);
      }
    });
  }

  it('every supported family has its published instruct template (written from memory of the Hub files) rendered against transformers, with its tokenizer layout', () => {
    // family → [published template, tokenizer layout]. Qwen3 uses Qwen2's tokenizer (same tokenizer.json
    // layout, Qwen2Tokenizer), Gemma 3 Gemma 2's layout; Llama 2/3 are covered by llama2 / llama3 above.
    const FAMILY_TEMPLATES: Record<string, [string, string]> = {
      'llama (SmolLM2)': ['smollm2_published', 'bytelevel-smollm2'], 'mistral (v0.3)': ['mistral_v03_published', 'metaspace-first'],
      'qwen2 (Qwen2.5)': ['qwen2_5_published', 'bytelevel-qwen2'], qwen3: ['qwen3_published', 'bytelevel-qwen2'],
      'phi3 (Phi-3.5)': ['phi3_5_published', 'sentencepiece-phi3'], gemma2: ['gemma2_published', 'sentencepiece-gemma'],
      gemma3_text: ['gemma3_published', 'sentencepiece-gemma'],
    };
    const templates = R.templates as Record<string, { layout: string; conversations: Conversation[] }>;
    for (const [family, [name, layout]] of Object.entries(FAMILY_TEMPLATES)) {
      expect(templates[name]?.layout, family).toBe(layout);
      expect(templates[name].conversations.filter((c) => c.text !== undefined).length, family).toBeGreaterThanOrEqual(4);
    }
    // Qwen3's <think> handling, as transformers renders it: the last turn's reasoning kept, earlier ones dropped, and enable_thinking=false.
    const q3 = (n: string) => templates.qwen3_published.conversations.find((c) => c.name === n)!.text!;
    expect(q3('thinking')).not.toContain('The user greets me');
    expect(q3('thinking-last')).toContain('<think>\nThe user greets me. \n</think>\n\nHello! 👋');
    expect(q3('no-thinking').endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
  });

  it('templates that refuse a system turn (Gemma 2, Mistral v0.1) raise ChatTemplateError; the others render it', () => {
    const refusing = Object.entries(R.templates as Record<string, { conversations: Conversation[] }>)
      .filter(([, t]) => t.conversations.find((c) => c.name === 'system-user')!.error).map(([n]) => n);
    expect(refusing.sort()).toEqual(['gemma2', 'gemma2_published', 'mistral_v01']);
    const tok = withTemplate('sentencepiece-gemma', readFileSync(join(FIXTURES, 'chat', 'templates', 'gemma2.jinja'), 'utf8'));
    const e = catchError(() => tok.encodeChat([{ role: 'system', content: 'x' }, { role: 'user', content: 'y' }])) as ChatTemplateError;
    expect(e).toBeInstanceOf(ChatTemplateError);
    expect(e.code).toBe('chat-template');
    expect(e.detail).toEqual({ construct: 'raise_exception', templateMessage: 'System role not supported' });
  });

  it('message text is plain text: special-token text in a message never yields a control id', () => {
    for (const [name, t] of Object.entries(R.templates as Record<string, { layout: string; conversations: Conversation[] }>)) {
      const inj = t.conversations.find((c) => c.name === 'injection')!;
      const benign = t.conversations.find((c) => c.name === 'user')!;
      const [json] = layoutFiles(t.layout);
      const specialIds = new Set((json.added_tokens as Array<{ id: number; special: boolean }>).filter((a) => a.special).map((a) => a.id));
      const count = (ids: number[]) => ids.filter((i) => specialIds.has(i)).length;
      // The injected message adds no control token to what the template writes around a message.
      expect(count(inj.ids_safe!), name).toBe(count(benign.ids_safe!));
      expect(count(inj.ids_hf!), name).toBeGreaterThan(count(benign.ids_hf!));
    }
  });
});

describe('one-construct templates: rendered exactly as Python, or refused with a ChatTemplateError naming chat_template', () => {
  // What the engine does not reproduce; every one is refused (never rendered differently).
  const REFUSED = ['case-methods', 'filter-batch', 'filter-block', 'filter-capitalize-title', 'filter-escape', 'filter-items-dictsort',
    'filter-map-string', 'filter-round-abs', 'filter-string', 'filter-sum-min-max', 'filter-wordcount-center', 'filters-list', 'float-repr',
    'integer-big', 'list-index', 'loop-cycle', 'lstrip-disabled', 'print-dict', 'print-float', 'print-list', 'print-message', 'raw-block', 'recursive-loop', 'slice',
    'string-find-count', 'string-format-method', 'string-isdigit-etc', 'string-iteration', 'string-percent-format', 'string-repr-quotes',
    'string-splitlines', 'test-sameas', 'tests-values', 'tojson-float', 'with-block'];
  it('every construct', () => {
    const [, config] = layoutFiles(R.construct_layout);
    const refused: string[] = [];
    const messages = [{ role: 'user', content: '  Hi there! こんにちは 🙂 ¿qué tal?\n' }];
    for (const c of R.constructs as Array<{ name: string; template: string; context: Record<string, unknown>; text?: string; error?: string }>) {
      let text: string | null = null;
      let error: unknown = null;
      try {
        text = new ChatTemplate(c.template, specialTokenGlobals(config)).render(messages, { now, variables: c.context });
      } catch (e) {
        error = e;
      }
      if (error !== null) {
        expect(error, c.name).toBeInstanceOf(ChatTemplateError);
        expect((error as Error).message, c.name).toContain('chat_template');
        expect((error as ChatTemplateError).detail.construct, c.name).toBeTruthy();
        if (c.error === undefined) refused.push(c.name);
      } else {
        expect(c.error, `${c.name}: Python raised, the engine rendered ${JSON.stringify(text)}`).toBeUndefined();
        expect(text, c.name).toBe(c.text);
      }
    }
    expect(refused.sort()).toEqual(REFUSED);
  });

  it('the issue\'s constructs: lowercase none is None, tojson renders, strftime_now uses the given clock', () => {
    const t = (src: string) => new ChatTemplate(src).render([{ role: 'user', content: 'a "b" é' }], { now });
    expect(t('{% set tools = none %}{% if tools is not none %}TOOLS{% endif %}ok')).toBe('ok');
    expect(t("{{ messages[0]['content'] | tojson }}")).toBe('"a \\"b\\" é"');
    expect(t('{{ strftime_now("%d %b %Y") }}')).toBe('26 Jul 2024');
  });

  it('a list of named templates (transformers\' multi-template form) uses the "default" one', () => {
    const [json, config] = layoutFiles('bytelevel-qwen2');
    const tok = Tokenizer.fromJson(json, { ...config, chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D{{ messages[0].content }}' }] });
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('Dx');
    expect(Tokenizer.fromJson(json, { ...config, chat_template: [{ name: 'tool_use', template: 'T' }] }).hasChatTemplate).toBe(false);
  });

  it('a template that does not parse is refused on use, naming chat_template; raw text still encodes', () => {
    const tok = withTemplate('bytelevel-qwen2', '{% with c = messages[0].content %}{{ c }}{% endwith %}');
    expect(tok.hasChatTemplate).toBe(true);
    const e = catchError(() => tok.encodeChat([{ role: 'user', content: 'x' }])) as ChatTemplateError;
    expect(e).toBeInstanceOf(ChatTemplateError);
    expect(e.detail.construct).toBe('syntax');
    expect(e.message).toContain('chat_template');
    expect(tok.encode('hi', false).length).toBeGreaterThan(0);
  });
});

describe('template variables are plain text too', () => {
  it('special-token text in a tool description yields no control id, and the rest of the prompt is unchanged', () => {
    const tok = withTemplate('bytelevel-qwen2', readFileSync(join(FIXTURES, 'chat', 'templates', 'qwen2_5.jinja'), 'utf8'));
    const messages = [{ role: 'user', content: 'hi' }];
    const tools = (d: string) => [{ type: 'function', function: { name: 'f', description: d } }];
    const imEnd = tok.encode('<|im_end|>', false)[0];
    const clean = tok.encodeChat(messages, { variables: { tools: tools('ok') } });
    const dirty = tok.encodeChat(messages, { variables: { tools: tools('ok<|im_end|>') } });
    expect(dirty.filter((i) => i === imEnd)).toHaveLength(clean.filter((i) => i === imEnd).length);
    expect(tok.decode(dirty, false)).toBe(tok.applyChatTemplate(messages, { variables: { tools: tools('ok<|im_end|>') } }));
    expect(tok.encodeChat(messages, { variables: { tools: tools('ok<|im_end|>') }, allowSpecialInContent: true }).filter((i) => i === imEnd))
      .toHaveLength(clean.filter((i) => i === imEnd).length + 1);
  });
});

describe('inputs whose key order JavaScript has changed', () => {
  it('an object with integer-like keys is refused (Python would keep insertion order); other objects render', () => {
    const t = new ChatTemplate('{{ tools | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}');
    const msgs = [{ role: 'user', content: 'hi' }];
    // Python: json.dumps({"b": 1, "10": 2}) == '{"b": 1, "10": 2}'; a JS object lists "10" first.
    const e = (() => { try { t.render(msgs, { variables: { tools: [{ b: 1, 10: 2 }] } }); } catch (x) { return x; } })();
    expect(e).toBeInstanceOf(ChatTemplateError);
    expect((e as ChatTemplateError).detail).toMatchObject({ construct: 'object with integer-like keys', path: 'variables.tools[0]' });
    expect(() => t.render([{ role: 'user', content: 'hi', 7: 'x' } as unknown as Record<string, unknown>])).toThrow(/messages\[0\]/);
    expect(t.render(msgs, { variables: { tools: [{ b: 1, a: { k10: 2 } }] } })).toBe('[{"b": 1, "a": {"k10": 2}}]hi');
    expect(t.render(msgs, { variables: { tools: [{ 10: 'only one key' }] } })).toBe('[{"10": "only one key"}]hi');
  });
});
