// Ids and decoded text of the runtime tokenizer against Python `tokenizers`, on tiny tokenizers written
// in the tokenizer.json layout of each model family (test/fixtures/tokenizer/layouts/, expected values
// in layouts.json; both from test/fixtures/make_parity.py) and a multilingual sample.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { createModelSource } from '../../src/model/source.js';
import { StopMatcher } from '../../src/decode/stop.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'tokenizer');
interface Sample {
  text: string; ids: number[]; tokens: string[]; ids_with_special: number[]; ids_plain: number[];
  decoded: string; decoded_skip_special: string; decoded_prefixes: string[];
}
interface Layout { family: string; vocab_size: number; samples: Sample[]; decodes: Array<{ ids: number[]; decoded: string; decoded_skip_special: string }> }
const EXPECTED = JSON.parse(readFileSync(join(DIR, 'layouts.json'), 'utf8')) as { reference: string; layouts: Record<string, Layout> };
const load = (name: string) => Tokenizer.load(createModelSource(join(DIR, 'layouts', name)));

/**
 * `streamed` equals Python's `decoded`, except where a byte-fallback run turned out invalid after some
 * of its characters were shown: each such character stands where Python has one U+FFFD per UTF-8 byte.
 */
function expectShownEarly(streamed: string, decoded: string, what: string): void {
  const enc = new TextEncoder();
  let j = 0;
  for (const c of streamed) {
    if (decoded.startsWith(c, j)) { j += c.length; continue; }
    const n = enc.encode(c).length;
    expect(decoded.slice(j, j + n), `${what}: ${JSON.stringify(c)} at ${j}`).toBe('\uFFFD'.repeat(n));
    j += n;
  }
  expect(j, what).toBe(decoded.length);
}

describe(`tokenizer layouts equal Python (${EXPECTED.reference})`, () => {
  it('covers the families\' layouts: Qwen3 ships Qwen2\'s tokenizer (bytelevel-qwen2), Gemma 3 Gemma 2\'s layout (sentencepiece-gemma), Mistral v0.3 metaspace-first', () => {
    expect(EXPECTED.layouts['bytelevel-qwen2'].family).toContain('Qwen3');
    expect(EXPECTED.layouts['sentencepiece-gemma'].family).toContain('Gemma 3');
    expect(EXPECTED.layouts['sentencepiece-phi3'].family).toContain('Phi-3');
    expect(EXPECTED.layouts['metaspace-first'].family).toContain('Mistral v0.3');
    expect(EXPECTED.layouts['bytelevel-smollm2'].family).toContain('SmolLM2');
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
        expectShownEarly(pieces.join(''), tok.decode(s), `${name} ${JSON.stringify(s)}`);
        // Several ids per push (an accepted draft step) give the same text.
        const dec3 = tok.streamDecoder();
        const pieces3: string[] = [];
        for (let k = 0; k < s.length; k += 3) pieces3.push(dec3.push(...s.slice(k, k + 3)));
        pieces3.push(dec3.flush());
        expectShownEarly(pieces3.join(''), tok.decode(s), `${name} ${JSON.stringify(s)} by 3`);
      }
    }
  });

  it('streaming shows a character of a byte-fallback run as soon as its UTF-8 bytes are complete, so a stop completes at its token', async () => {
    const tok = await load('sentencepiece-llama2');
    const cases: Array<[string, string]> = [['Café naïve résumé', 'Café'], ['Café naïve résumé', 'é'], ['emoji 🙂👍🏽 x', '🙂'], ['こんにちは世界本日', '本'], ['你好，世界！漢字', '世'], ['Привет, мир!', 'и']];
    for (const [text, stop] of cases) {
      const ids = tok.encode(text, false);
      // The first token after which Python's decode of the prefix contains the stop (a prefix cut at a
      // character boundary inside a byte run is valid UTF-8, so Python decodes it to that character).
      const want = ids.findIndex((_, k) => tok.decode(ids.slice(0, k + 1)).includes(stop));
      expect(want, `${text} ${stop}`).toBeGreaterThanOrEqual(0);
      const dec = tok.streamDecoder();
      const matcher = new StopMatcher([stop]);
      let got = -1;
      for (let k = 0; k < ids.length && got < 0; k++) {
        const piece = dec.push(ids[k]);
        if (piece) matcher.push(piece);
        if (matcher.stopped !== null) got = k;
        // What was shown is always Python's decode of the ids so far, up to its last complete character.
        expect(tok.decode(ids.slice(0, k + 1)).startsWith(dec.text) || tok.decode(ids).startsWith(dec.text), `${text} after ${k + 1}`).toBe(true);
      }
      expect(got, `${JSON.stringify(text)} stop ${JSON.stringify(stop)}`).toBe(want);
    }
  });

  it('a byte run that turns out invalid: characters already shown stay, its other bytes are U+FFFD each as in Python, nothing is lost', async () => {
    const tok = await load('sentencepiece-llama2');
    const e9 = tok.encode('é', false).slice(-2); // <0xC3> <0xA9>
    expect(e9.every((id) => tok.isByteToken(id))).toBe(true);
    // <0xC3> <0xA9> <0xC3>, then a word: Python decodes the run C3 A9 C3 (invalid) to three U+FFFD.
    const ids = [...e9, e9[0], ...tok.encode('hi', false)];
    const python = tok.decode(ids);
    expect(python).toMatch(/^\uFFFD{3}[^\uFFFD]+$/);
    const dec = tok.streamDecoder();
    const pieces = ids.map((id) => dec.push(id));
    pieces.push(dec.flush());
    expect(pieces.slice(0, 2)).toEqual(['', 'é']);
    expect(pieces.join('')).toBe(`é${python.slice(2)}`);
    expect(dec.text).toBe(`é${python.slice(2)}`);
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
