// Issue 11 item 7 in the scheduler (no GPU): the KV length it expects travels with every forward,
// an unknown mask is recognised by its error code, and the tree constants are defined once.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, type DecodeMode } from '../../src/decode/scheduler.js';
import { createRng } from '../../src/decode/rng.js';
import { PROBE_SIZES } from '../../src/decode/adaptive.js';
import { probeForwardCost } from '../../src/decode/probe.js';
import { COLS } from '../../src/decode/candidates.js';
import { DraftTree, JACOBI_CANDIDATES, PAPER_TREE_SIZE, RETRIEVAL_COL } from '../../src/decode/tree.js';
import { TREE_ROOM, type ForwardRequest } from '../../src/worker/api.js';
import { InvalidArgumentError, KvLengthMismatchError, UnknownMaskError } from '../../src/errors.js';
import { FakeModel } from '../helpers/fake-model.js';

async function collect(model: FakeModel, prompt: number[], mode: DecodeMode, maxNewTokens: number, maskCache?: Map<string, number>): Promise<number[]> {
  const out: number[] = [];
  const gen = decode(model, prompt, { mode, maxNewTokens, eosTokenIds: new Set(), maxRows: 128, contextLength: 256, rng: createRng(3), vocabSize: model.spec.vocab, maskCache });
  for (let r = await gen.next(); !r.done; r = await gen.next()) out.push(...r.value);
  return out;
}

/** The fake model, checking each forward's expectedKvLength as the executor does. */
class CheckedModel extends FakeModel {
  expected: Array<number | undefined> = [];
  override async forward(req: ForwardRequest) {
    const committed = this.kv.length + (req.keep?.length ?? 0);
    this.expected.push(req.expectedKvLength);
    if (req.expectedKvLength !== committed) throw new KvLengthMismatchError(req.expectedKvLength ?? -1, committed);
    return super.forward(req);
  }
}

describe('scheduler: KV length', () => {
  it.each(['ar', 'jacobi', 'retrieval', 'tr-jacobi'] as DecodeMode[])('%s sends the KV length it expects on every forward (prefill chunks, steps)', async (mode) => {
    const model = new CheckedModel({ vocab: 40, seed: 11, predictability: 0.7 });
    const prompt = Array.from({ length: 30 }, (_, i) => (i * 7) % 40);
    const out = await collect(model, prompt, mode, 24);
    expect(out).toEqual(model.greedy(prompt, 24, new Set()));
    expect(model.expected.length).toBeGreaterThan(1);
    expect(model.expected.every((x) => typeof x === 'number')).toBe(true);
  });

  it('a backend whose length disagrees stops decoding with KvLengthMismatchError', async () => {
    const model = new CheckedModel({ vocab: 40, seed: 11, predictability: 0.7 });
    model.kv = [1, 2]; // rows the scheduler does not know about
    await expect(collect(model, [3, 4, 5], 'ar', 4)).rejects.toBeInstanceOf(KvLengthMismatchError);
  });
});

describe('probe: KV length', () => {
  it('every probe forward says it follows an empty committed cache', async () => {
    const model = new CheckedModel({ vocab: 40, seed: 11, predictability: 0.7 });
    let clock = 0;
    const table = await probeForwardCost(model, 128, 40, 2, () => (clock += 1));
    expect(table.sizes).toEqual(PROBE_SIZES);
    expect(model.expected).toEqual(PROBE_SIZES.flatMap(() => [0, 0]));
    expect(model.kv.length).toBe(0);
  });

  it('a backend that holds committed rows stops the probe with KvLengthMismatchError', async () => {
    const model = new CheckedModel({ vocab: 40, seed: 11, predictability: 0.7 });
    model.kv = [1, 2, 3];
    await expect(probeForwardCost(model, 128, 40)).rejects.toBeInstanceOf(KvLengthMismatchError);
  });
});

describe('scheduler: unknown mask', () => {
  /** Forgets every registered mask once, as the executor's full mask library does, or fails with `other`. */
  class ForgetfulModel extends FakeModel {
    forgets = 1;
    registered = 0;
    other: Error | null = null;
    override async registerMask(mask: Float32Array, T: number) { this.registered++; return super.registerMask(mask, T); }
    override async forward(req: ForwardRequest) {
      if (typeof req.mask === 'number') {
        if (this.other) throw this.other;
        if (this.forgets > 0) { this.forgets--; throw new UnknownMaskError(req.mask, req.tokens.length, null); }
      }
      return super.forward(req);
    }
  }

  it('is recognised by its code: the scheduler registers the mask again and the tokens are AR\'s', async () => {
    const model = new ForgetfulModel({ vocab: 30, seed: 5, predictability: 0.8 });
    const prompt = [1, 2, 3, 4, 5, 6];
    const cache = new Map<string, number>();
    const out = await collect(model, prompt, 'tr-jacobi', 12, cache);
    expect(out).toEqual(model.greedy(prompt, 12, new Set()));
    expect(model.registered).toBe(2);
  });

  it('another invalid argument that mentions a mask is not taken for an unknown mask', async () => {
    const model = new ForgetfulModel({ vocab: 30, seed: 5, predictability: 0.8 });
    model.other = new InvalidArgumentError('forward: mask row 3 must see itself (diagonal not masked).');
    await expect(collect(model, [1, 2, 3, 4, 5, 6], 'tr-jacobi', 12)).rejects.toBe(model.other);
    expect(model.registered).toBe(1);
  });
});

describe('tree constants are defined once', () => {
  it('the tree room, the probe sizes and the candidate table follow the paper tree and JACOBI_CANDIDATES', () => {
    expect(PAPER_TREE_SIZE).toBe(69);
    expect(DraftTree.paper().size).toBe(PAPER_TREE_SIZE);
    expect(TREE_ROOM).toBe(PAPER_TREE_SIZE);
    expect(PROBE_SIZES[PROBE_SIZES.length - 1]).toBe(PAPER_TREE_SIZE);
    expect(JACOBI_CANDIDATES).toBe(10);
    expect(RETRIEVAL_COL).toBe(JACOBI_CANDIDATES);
    expect(COLS).toBe(JACOBI_CANDIDATES + 1);
  });

  it('no decoding or executor source spells 69 or the candidate count as a literal', () => {
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
    const src = join(import.meta.dirname, '..', '..', 'src');
    const offenders: string[] = [];
    for (const f of [...files(join(src, 'decode')), ...files(join(src, 'worker'))]) {
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '').replace(/\/\*\*.*\*\//, '');
        if (/\b69\b/.test(code) || /min\(10, (d\.V|vocab)|topK: 10\b|% 11\b|=== 10\b/.test(code)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
