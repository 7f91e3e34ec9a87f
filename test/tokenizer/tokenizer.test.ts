import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Tokenizer, normaliseMerges } from '../../src/tokenizer/tokenizer.js';
import { createModelSource } from '../../src/model/source.js';
import { FIXTURES, fixturePath, golden } from '../helpers/fixtures.js';

describe('tokenizer (fixtures)', () => {
  for (const name of FIXTURES) {
    it(`${name}: prompt ids and greedy text equal the Python goldens`, async () => {
      const tok = await Tokenizer.load(createModelSource(fixturePath(name)));
      const g = golden(name);
      expect(tok.encode(g.prompt_text)).toEqual(g.prompt_ids);
      expect(tok.decode(g.greedy_ids)).toEqual(g.greedy_text);
    });
  }

  it('parity samples (tabs, Unicode, long identifiers, CRLF)', async () => {
    const tok = await Tokenizer.load(createModelSource(fixturePath(FIXTURES[0])));
    const parity = JSON.parse(readFileSync(join(fixturePath(FIXTURES[0]), '..', '..', 'tokenizer', 'parity.json'), 'utf8'));
    const samples: Array<{ text: string; ids: number[] }> = Array.isArray(parity) ? parity : parity.samples;
    expect(samples.length).toBeGreaterThan(5);
    for (const s of samples) expect(tok.encode(s.text)).toEqual(s.ids);
  });

  it('chat template renders like transformers apply_chat_template', async () => {
    const tok = await Tokenizer.load(createModelSource(fixturePath('tiny-mha-tied-f16')));
    const g = golden('tiny-mha-tied-f16');
    expect(tok.hasChatTemplate).toBe(true);
    const text = tok.applyChatTemplate(g.chat!.messages);
    expect(text).toBe(g.chat!.text);
    expect(tok.encode(text)).toEqual(g.chat!.ids);
    const plain = await Tokenizer.load(createModelSource(fixturePath('tiny-gqa-f32')));
    expect(plain.hasChatTemplate).toBe(false);
    expect(() => plain.applyChatTemplate([{ role: 'user', content: 'x' }])).toThrow(/chat template/);
  });

  it('streamed pieces concatenate exactly to the decoded text, never splitting a character', async () => {
    const tok = await Tokenizer.load(createModelSource(fixturePath(FIXTURES[0])));
    await fc.assert(fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\uFFFD')), fc.integer({ min: 1, max: 4 }), async (text, step) => {
      const ids = tok.encode(text, false);
      const dec = tok.streamDecoder();
      const pieces: string[] = [];
      for (let i = 0; i < ids.length; i += step) {
        const p = dec.push(...ids.slice(i, i + step));
        expect(p.includes('\uFFFD')).toBe(false);
        pieces.push(p);
      }
      pieces.push(dec.flush());
      expect(pieces.join('')).toBe(tok.decode(ids));
      expect(pieces.join('')).toBe(text);
    }), { numRuns: 200 });
  });

  it('accepts merges written as pairs', () => {
    const j = { model: { merges: [['a', 'b'], 'c d'] } };
    normaliseMerges(j);
    expect(j.model.merges).toEqual(['a b', 'c d']);
  });
});
