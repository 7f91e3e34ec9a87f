// The load-time self-check (issue 16, item 5): layer 0 on the GPU against float64 on the CPU.
// It passes on every fixture and the default model, reports its cost, fails with SelfCheckError
// naming the adapter when a weight on the GPU is wrong, and `selfCheck: false` skips it.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { SelfCheckError } from '../../src/errors.js';
import { SELF_CHECK_CHUNKS, SELF_CHECK_RTOL, selfCheckChunks, selfCheckTokens } from '../../src/worker/selfcheck.js';
import { MATMUL_ROW_CASES } from '../../src/kernels/matmul.js';
import { bf16ToF32, decodeToF32, f16ToF32 } from '../../src/model/dtype.js';
import { FAMILY_FIXTURES, FIXTURES, fixturePath } from '../helpers/fixtures.js';
import { executorLoader } from '../helpers/executor.js';

const DEFAULT_MODEL = join(import.meta.dirname, '..', '..', 'public', 'models', 'msn-code-tiny');

const load = executorLoader();

describe('self-check', () => {
  // The family fixtures' layer 0 has q/k/v biases (Qwen2), q/k norms (Qwen3), a window of 6 < 17 tokens (Mistral).
  it.each([...[...FIXTURES, ...FAMILY_FIXTURES].map((f) => [f, fixturePath(f)]), ['msn-code-tiny (default model)', DEFAULT_MODEL]])('passes on %s and reports its cost', async (_name, path) => {
    const { ex, info } = await load(path);
    const s = info.selfCheck!;
    expect(s.ok).toBe(true);
    expect(s.layer).toBe(0);
    expect(s.tokens).toBe(17);
    expect(s.tolerance).toBeGreaterThan(0);
    expect(s.maxAbsErr).toBeLessThanOrEqual(s.tolerance);
    // A real comparison: the GPU and float64 differ by rounding only, far inside the tolerance.
    expect(s.maxAbsErr).toBeLessThan(s.tolerance / 10);
    expect(s.ms).toBeGreaterThan(0);
    // The check leaves an empty KV cache behind.
    expect((await ex.gpuStats()).kvLength).toBe(0);
    await ex.dispose();
  });

  it('passes with split weights and KV slabs and forwards capped at 3 rows', async () => {
    const { ex, info } = await load(fixturePath('tiny-gqa-f32'), { maxBindingBytes: (64 + 69) * 2 * 12 * 4, maxRows: 3 } /* one KV layer (Hkv 2, D 12) per binding */);
    expect(info.memory.weightBuffers).toBeGreaterThan(9);
    expect(info.memory.kvBuffers).toBe(4);
    expect(info.selfCheck!.tokens).toBe(17);
    expect(info.selfCheck!.maxAbsErr).toBeLessThan(info.selfCheck!.tolerance / 10);
    await ex.dispose();
  });

  it('passes with the GPU kernel configuration (16 matmul lanes, workgroup reductions)', async () => {
    const { ex, info } = await load(fixturePath('tiny-llama3-bf16-sharded'), { matmulLanes: 16 });
    expect(info.selfCheck!.maxAbsErr).toBeLessThan(info.selfCheck!.tolerance / 10);
    await ex.dispose();
  });

  for (const name of ['tiny-gqa-f32', 'tiny-mha-tied-f16', 'tiny-llama3-bf16-sharded'] as const) {
    it(`a corrupted weight on the GPU (${name}) fails the load with SelfCheckError naming the adapter`, async () => {
      const err = await load(fixturePath(name), { faults: { corruptWeight: true } }).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(SelfCheckError);
      expect(err.code).toBe('self-check');
      expect(err.detail.layer).toBe(0);
      expect(err.detail.maxAbsErr).toBeGreaterThan(err.detail.tolerance);
      // names the adapter the check ran on (lavapipe here)
      expect(err.message).toMatch(/^Self-check failed on mesa .*llvmpipe/);
      expect(err.detail.adapter).toMatch(/llvmpipe/);
    });
  }

  it('selfCheck: false skips it (and then nothing notices the corrupted weight)', async () => {
    const { ex, info } = await load(fixturePath('tiny-gqa-f32'), { selfCheck: false, faults: { corruptWeight: true } });
    expect(info.selfCheck).toBeNull();
    const r = await ex.forward({ tokens: [1, 2, 3], positions: [0, 1, 2], mask: 'causal', topK: 1, commit: true });
    expect(r.ids.length).toBe(3);
    await ex.dispose();
  });

  it('picks distinct token ids spread over the vocabulary, and chunks that fit maxRows', () => {
    expect(selfCheckTokens(4096, 8)).toEqual([1, 512, 1023, 1534, 2045, 2556, 3067, 3578]);
    expect(selfCheckTokens(5, 8)).toEqual([0, 1, 2, 3, 4]);
    expect(selfCheckChunks(128, 17)).toEqual([9, 5, 2, 1]);
    expect(selfCheckChunks(3, 17)).toEqual([3, 3, 3, 3, 2, 2, 1]);
    expect(selfCheckChunks(128, 5)).toEqual([5]);
    expect([...SELF_CHECK_CHUNKS].reverse()).toEqual([...MATMUL_ROW_CASES]);
    expect(SELF_CHECK_RTOL).toBe(1e-4);
  });

  it('decodes every f16 and bf16 bit pattern like the scalar conversions, at even and odd byte offsets', () => {
    const words = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const raw = new Uint8Array(words.buffer);
    const odd = new Uint8Array(raw.length + 1);
    odd.set(raw, 1);
    for (const [dt, scalar] of [['F16', f16ToF32], ['BF16', bf16ToF32]] as const) {
      for (const bytes of [raw, odd.subarray(1)]) {
        const got = decodeToF32(bytes, dt);
        let bad = 0;
        for (let i = 0; i < 65536; i++) if (!Object.is(got[i], Math.fround(scalar(i)))) bad++;
        expect(bad).toBe(0);
      }
    }
  });
});
