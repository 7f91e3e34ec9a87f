// Ids and decoded text of the runtime tokenizer against Python `tokenizers`, on tiny tokenizers written
// in the tokenizer.json layout of each model family (test/fixtures/tokenizer/layouts/, expected values
// in layouts.json; both from test/fixtures/make_parity.py) and a multilingual sample.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { createModelSource } from '../../src/model/source.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'tokenizer');
interface Sample {
  text: string; ids: number[]; tokens: string[]; ids_with_special: number[]; ids_plain: number[];
  decoded: string; decoded_skip_special: string; decoded_prefixes: string[];
}
interface Layout { family: string; vocab_size: number; samples: Sample[]; decodes: Array<{ ids: number[]; decoded: string; decoded_skip_special: string }> }
const EXPECTED = JSON.parse(readFileSync(join(DIR, 'layouts.json'), 'utf8')) as { reference: string; layouts: Record<string, Layout> };
const load = (name: string) => Tokenizer.load(createModelSource(join(DIR, 'layouts', name)));

describe(`tokenizer layouts equal Python (${EXPECTED.reference})`, () => {
  it('covers the families\' layouts', () => {
    expect(Object.keys(EXPECTED.layouts).sort()).toEqual(['bytelevel-gpt2', 'bytelevel-llama3', 'bytelevel-qwen2', 'bytelevel-smollm2',
      'metaspace-always', 'metaspace-first', 'metaspace-legacy', 'metaspace-legacy-noprefix', 'sentencepiece-gemma', 'sentencepiece-llama2', 'sentencepiece-phi3']);
  });

  for (const [name, layout] of Object.entries(EXPECTED.layouts)) {
    it(`${name}: ${layout.family}`, async () => {
      const tok = await load(name);
      expect(layout.samples.length).toBeGreaterThan(40);
      for (const s of layout.samples) {
        const what = `${name} ${JSON.stringify(s.text)}`;
        expect(tok.encode(s.text, false), what).toEqual(s.ids);
        expect(tok.encode(s.text, true), what).toEqual(s.ids_with_special);
        expect(tok.encodePlain(s.text), what).toEqual(s.ids_plain);
        expect(tok.decode(s.ids, false), what).toBe(s.decoded);
        expect(tok.decode(s.ids, true), what).toBe(s.decoded_skip_special);
        s.decoded_prefixes.forEach((p, k) => expect(tok.decode(s.ids.slice(0, k + 1)), `${what} first ${k + 1} ids`).toBe(p));
      }
      for (const d of layout.decodes) {
        expect(tok.decode(d.ids, false), JSON.stringify(d.ids)).toBe(d.decoded);
        expect(tok.decode(d.ids, true), JSON.stringify(d.ids)).toBe(d.decoded_skip_special);
      }
    });
  }

  it('streamed pieces concatenate to the decoded text on every layout and sample, one id at a time', async () => {
    for (const [name, layout] of Object.entries(EXPECTED.layouts)) {
      const tok = await load(name);
      for (const s of [...layout.samples.map((x) => x.ids), ...layout.decodes.map((x) => x.ids)]) {
        const dec = tok.streamDecoder();
        const pieces = s.map((id) => dec.push(id));
        pieces.push(dec.flush());
        expect(pieces.join(''), `${name} ${JSON.stringify(s)}`).toBe(tok.decode(s));
      }
    }
  });

  it('the issue\'s input: Metaspace with prepend_scheme "always" and byte fallback encodes "hi hi" to one id twice and decodes it without a leading space', async () => {
    const tok = await load('metaspace-always');
    const ids = tok.encode('hi hi', false);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(tok.decode(ids)).toBe('hi hi');
    const legacy = await load('metaspace-legacy'); // the older add_prefix_space layout reads the same way
    expect(legacy.encode('hi hi', false)).toHaveLength(2);
    expect(legacy.decode(legacy.encode('hi hi', false))).toBe('hi hi');
  });
});
