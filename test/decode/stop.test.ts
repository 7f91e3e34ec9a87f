// Stop sequences (StopMatcher) and the scheduler's stop / prefix-reuse hooks, against the fake model (no GPU).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode, type DecodeMode, type DecodeOptions, type DecodeStats } from '../../src/decode/scheduler.js';
import { createRng } from '../../src/decode/rng.js';
import { StopMatcher, validateStops } from '../../src/decode/stop.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { FakeModel } from '../helpers/fake-model.js';

const MODES: DecodeMode[] = ['ar', 'jacobi', 'retrieval', 'tr-jacobi'];

/** Feeds the pieces; returns what was released (piece by piece) and the stop. */
function feed(stops: string[], pieces: string[]): { out: string[]; stopped: string | null; at: number } {
  const m = new StopMatcher(stops);
  const out: string[] = [];
  let at = -1;
  for (let i = 0; i < pieces.length; i++) {
    out.push(m.push(pieces[i]));
    if (m.stopped !== null && at < 0) at = i;
  }
  if (m.stopped === null) out.push(m.flush());
  return { out, stopped: m.stopped, at };
}

describe('StopMatcher', () => {
  it('matches across piece boundaries and holds back a possible beginning', () => {
    const r = feed(['END'], ['ab', 'cE', 'N', 'Dxyz', 'more']);
    expect(r.out).toEqual(['ab', 'c', '', '', '']); // nothing after the stop
    expect(r.stopped).toBe('END');
    expect(r.at).toBe(3);
  });

  it('releases held text as soon as it cannot begin a stop', () => {
    expect(feed(['END'], ['aE', 'Nx', 'y']).out).toEqual(['a', 'ENx', 'y', '']);
    expect(feed(['END'], ['aEN']).out).toEqual(['a', 'EN']); // flushed at the end
  });

  it('a stop that is a prefix of another ends the text first', () => {
    expect(feed(['abc', 'ab'], ['xa', 'bc']).out.join('')).toBe('x');
    expect(feed(['abc', 'ab'], ['xa', 'bc']).stopped).toBe('ab');
    // The earliest-ending occurrence wins even when a longer one starts earlier in the same piece.
    expect(feed(['abcd', 'bc'], ['abcd']).out.join('')).toBe('a');
    expect(feed(['abcd', 'bc'], ['abcd']).stopped).toBe('bc');
    // Equal ends: the one that starts first (cuts more).
    expect(feed(['c', 'bc'], ['abc']).out.join('')).toBe('a');
  });

  it('unicode: surrogate pairs and combining text match whole', () => {
    const r = feed(['😀!', 'é'], ['héllo', ' 😀', '!x']);
    expect(r.out.join('')).toBe('h');
    expect(r.stopped).toBe('é');
    const s = feed(['😀!'], ['ab😀', '!', 'c']);
    expect(s.out).toEqual(['ab', '', '']);
    expect(s.stopped).toBe('😀!');
  });

  it('does not depend on how the text is cut into pieces (property)', () => {
    fc.assert(fc.property(
      fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'é', '😀'), maxLength: 30 }),
      fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'é', '😀'), minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (text, stops, cutsRaw) => {
        // Cut at code point boundaries only (as the stream decoder does).
        const cps = [...text];
        const cuts = [...new Set(cutsRaw.map((c) => c % (cps.length + 1)))].sort((a, b) => a - b);
        const pieces: string[] = [];
        let last = 0;
        for (const c of [...cuts, cps.length]) { pieces.push(cps.slice(last, c).join('')); last = c; }
        const whole = feed(stops, [text]);
        const cut = feed(stops, pieces);
        expect(cut.out.join('')).toBe(whole.out.join(''));
        expect(cut.stopped).toBe(whole.stopped);
        // Reference: the shortest prefix of the text that ends with a stop.
        let ref = text;
        let refStop: string | null = null;
        for (let end = 1; end <= text.length && refStop === null; end++) {
          const prefix = text.slice(0, end);
          const hits = stops.filter((s) => prefix.endsWith(s)).sort((a, b) => b.length - a.length);
          if (hits.length) { refStop = hits[0]; ref = prefix.slice(0, end - hits[0].length); }
        }
        expect(whole.out.join('')).toBe(ref);
        expect(whole.stopped).toBe(refStop);
      },
    ), { numRuns: 2000 });
  });

  it('validateStops: at most 4 non-empty strings', () => {
    expect(validateStops(undefined)).toEqual([]);
    expect(validateStops(['a', 'b', 'c', 'd'])).toEqual(['a', 'b', 'c', 'd']);
    expect(() => validateStops(['a', 'b', 'c', 'd', 'e'])).toThrow(InvalidArgumentError);
    expect(() => validateStops([''])).toThrow(InvalidArgumentError);
    expect(() => validateStops('END')).toThrow(InvalidArgumentError);
    expect(() => validateStops([3])).toThrow(InvalidArgumentError);
  });
});

async function run(model: FakeModel, prompt: number[], mode: DecodeMode, extra: Partial<DecodeOptions> = {}) {
  const out: number[] = [];
  const gen = decode(model, prompt, { mode, maxNewTokens: 40, eosTokenIds: new Set(), maxRows: 128, contextLength: 4096, rng: createRng(1), vocabSize: model.spec.vocab, ...extra });
  let r = await gen.next();
  while (!r.done) { out.push(...r.value); r = await gen.next(); }
  return { out, stats: r.value as DecodeStats };
}

describe('scheduler: stopAfter, commitTail and cachedPrefix', () => {
  it('stops exactly at the stop token in every mode, inside accepted runs, and commits the KV of the emitted tokens', async () => {
    // A looping model: retrieval accepts long runs, so the stop falls inside multi-token steps.
    const model = new FakeModel({ vocab: 12, seed: 3, predictability: 1 });
    const prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3];
    const ref = model.greedy(prompt, 40);
    let insideRun = 0;
    for (const mode of MODES) {
      for (let n = 1; n <= 25; n++) {
        model.kv = [];
        model.pending = null;
        let seen = 0;
        const { out, stats } = await run(model, prompt, mode, { stopAfter: () => ++seen === n, commitTail: true });
        expect(out, `${mode} n=${n}`).toEqual(ref.slice(0, n));
        expect(stats.stopReason).toBe('stop');
        expect(stats.newTokens).toBe(n);
        expect(stats.acceptedHistogram.reduce((a, k, i) => a + k * i, 0)).toBe(n);
        // The committed cache: prompt + output minus the last token, nothing pending.
        expect(model.kv).toEqual([...prompt, ...out].slice(0, -1));
        expect(model.pending).toBeNull();
        if (mode === 'tr-jacobi' && stats.acceptedHistogram.findLastIndex((k) => k > 0) > 1) insideRun++;
      }
    }
    expect(insideRun).toBeGreaterThan(10);
  });

  it('a second request reusing the committed prefix gives the cold-start tokens (property, every mode)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        vocab: fc.integer({ min: 2, max: 40 }),
        seed: fc.nat(),
        predictability: fc.double({ min: 0, max: 1, noNaN: true }),
        prompt: fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        n1: fc.integer({ min: 1, max: 20 }),
        keepFrac: fc.double({ min: 0, max: 1, noNaN: true }),
        tail: fc.array(fc.nat(), { minLength: 1, maxLength: 10 }),
        maxRows: fc.constantFrom(128, 7, 2),
      }),
      async (c) => {
        const model = new FakeModel({ vocab: c.vocab, seed: c.seed, predictability: c.predictability });
        const prompt = c.prompt.map((x) => x % c.vocab);
        for (const mode of MODES) {
          model.kv = [];
          model.pending = null;
          const first = await run(model, prompt, mode, { maxNewTokens: c.n1, maxRows: c.maxRows, commitTail: true });
          const seq = [...prompt, ...first.out];
          expect(model.kv).toEqual(seq.slice(0, -1));
          // The next prompt keeps a part of the previous sequence, then diverges.
          const kept = seq.slice(0, Math.round(c.keepFrac * seq.length));
          const prompt2 = [...kept, ...c.tail.map((x) => x % c.vocab)];
          let lcp = 0;
          while (lcp < model.kv.length && lcp < prompt2.length - 1 && model.kv[lcp] === prompt2[lcp]) lcp++;
          model.kv.length = lcp; // the engine's kvTruncate
          const rows0 = model.rowsTotal;
          const second = await run(model, prompt2, mode, { maxNewTokens: 10, maxRows: c.maxRows, cachedPrefix: lcp });
          expect(second.out, mode).toEqual(model.greedy(prompt2, 10));
          expect(second.stats.promptTokens).toBe(prompt2.length);
          if (mode === 'ar') expect(model.rowsTotal - rows0).toBe(prompt2.length - 1 - lcp + 10);
        }
      },
    ), { numRuns: 300 });
  });

  it('rejects a cachedPrefix outside [0, prompt length − 1]', async () => {
    const model = new FakeModel({ vocab: 10, seed: 1, predictability: 0.5 });
    await expect(run(model, [1, 2, 3], 'ar', { cachedPrefix: 3 })).rejects.toThrow(InvalidArgumentError);
    await expect(run(model, [1, 2, 3], 'ar', { cachedPrefix: -1 })).rejects.toThrow(InvalidArgumentError);
  });
});
