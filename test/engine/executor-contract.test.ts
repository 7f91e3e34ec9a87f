// Issue 11 item 7 on the real executor (Dawn in Node): typed errors for an unknown mask and for a KV
// length the caller got wrong, and a forward time that says what it measured.
import { afterAll, describe, expect, it } from 'vitest';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { KvLengthMismatchError, UnknownMaskError } from '../../src/errors.js';
import { DraftTree } from '../../src/decode/tree.js';
import { fixturePath } from '../helpers/fixtures.js';

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

async function engine(disableFeatures: string[] = []): Promise<Engine> {
  const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true, disableFeatures });
  engines.push(e);
  return e;
}

describe('executor contract', () => {
  it('an unknown or wrong-size mask id is UnknownMaskError (code unknown-mask), and nothing changes', async () => {
    const e = await engine();
    const x = e.executor;
    await x.reset();
    const tree = DraftTree.jacobiChain(3);
    const id = await x.registerMask(tree.mask(), tree.size);
    const req = { tokens: [1, 2, 3, 4], positions: [0, 1, 2, 3], topK: 2, commit: false };
    const bad = await x.forward({ ...req, mask: id + 12345 }).catch((err: unknown) => err);
    expect(bad).toBeInstanceOf(UnknownMaskError);
    expect(bad).toMatchObject({ code: 'unknown-mask', detail: { mask: id + 12345, T: 4, registeredT: null } });
    const wrongT = await x.forward({ ...req, tokens: [1, 2, 3], positions: [0, 1, 2], mask: id }).catch((err: unknown) => err);
    expect(wrongT).toMatchObject({ code: 'unknown-mask', detail: { mask: id, T: 3, registeredT: 4 } });
    expect((await x.gpuStats()).kvLength).toBe(0);
    const ok = await x.forward({ ...req, mask: id });
    expect(ok.rows).toBe(4);
  });

  it('a forward whose expectedKvLength is not the executor\'s length throws KvLengthMismatchError before running', async () => {
    const e = await engine();
    const x = e.executor;
    await x.reset();
    await x.forward({ tokens: [5, 6, 7], positions: [0, 1, 2], mask: 'causal', topK: 0, commit: true, expectedKvLength: 0 });
    const err = await x.forward({ tokens: [8], positions: [2], mask: 'causal', topK: 1, commit: true, expectedKvLength: 2 }).catch((er: unknown) => er);
    expect(err).toBeInstanceOf(KvLengthMismatchError);
    expect(err).toMatchObject({ code: 'kv-length-mismatch', detail: { expected: 2, actual: 3 } });
    expect((await x.gpuStats()).kvLength).toBe(3);
    // keep is counted: a pending tree of 3 rows, two of them kept, follows 3 + 2 rows.
    const tree = DraftTree.jacobiChain(2);
    await x.forward({ tokens: [8, 9, 10], positions: [3, 4, 5], mask: tree.mask(), topK: 1, commit: false, expectedKvLength: 3 });
    await expect(x.forward({ tokens: [11], positions: [5], mask: 'causal', topK: 1, commit: true, keep: [0, 1], expectedKvLength: 3 })).rejects.toBeInstanceOf(KvLengthMismatchError);
    const r = await x.forward({ tokens: [11], positions: [5], mask: 'causal', topK: 1, commit: true, keep: [0, 1], expectedKvLength: 5 });
    expect(r.kvLength).toBe(6);
  });

  it('gpuMs says whether it is device time (timestamp queries) or wall time', async () => {
    for (const disable of [[], ['all']]) {
      const e = await engine(disable);
      const r = await e.executor.forward({ tokens: [1, 2], positions: [0, 1], mask: 'causal', topK: 1, commit: false });
      expect(r.gpuTiming).toBe(e.info.features.timestampQuery ? 'timestamp' : 'wall');
      if (disable.length) expect(r.gpuTiming).toBe('wall');
      expect(r.gpuMs).toBeGreaterThan(0);
      expect(Number.isFinite(r.gpuMs)).toBe(true);
    }
  });
});
