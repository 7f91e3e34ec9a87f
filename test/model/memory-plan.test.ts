// The memory plan (issue 12, item 5): its numbers equal what LlamaGpu allocates (fixtures, f32 and f16
// KV, a lowered binding limit that splits weights and KV slabs); the budget's OutOfMemoryError and the
// context fallback; the device's raised buffer limits; --gpu-memory / --kv-dtype parsing.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, LimitTooLowError, OutOfMemoryError, UnsupportedModelError } from '../../src/errors.js';
import { createGpuContext, REQUESTED_BUFFER_LIMITS } from '../../src/gpu/context.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { parseCli } from '../../src/cli/args.js';
import { parseByteSize } from '../../src/model/byte-size.js';
import { parseLlamaConfig, type LlamaConfig } from '../../src/model/config.js';
import { defaultKvDtype, denseFormat, parameterCount, planMemory, qgroupFormat, type MemoryPlanInput } from '../../src/model/memory-plan.js';
import { qgroupMatrixBytes } from '../../src/model/quantize.js';
import { TREE_ROOM, WEBGPU_DEFAULT_LIMITS } from '../../src/worker/api.js';
import { Executor } from '../../src/worker/executor.js';
import { fixturePath } from '../helpers/fixtures.js';

const executors: Executor[] = [];
afterAll(async () => { for (const e of executors) await e.dispose(); });

const config = (path: string): LlamaConfig => parseLlamaConfig(JSON.parse(readFileSync(path, 'utf8')));
const fixtureConfig = (name: string) => config(join(fixturePath(name), 'config.json'));
const CONFIGS = join(import.meta.dirname, '..', 'fixtures', 'configs');
const LIMITS = { maxBindingBytes: 2 ** 27, maxBufferBytes: 2 ** 28 };

function load(name: string, opts: Record<string, unknown>) {
  const ex = new Executor(() => createNodeGpu());
  executors.push(ex);
  return ex.load(fixturePath(name), { selfCheck: false, warmup: false, ...opts }).then((info) => ({ ex, info }));
}

describe('the plan equals what LlamaGpu allocates', () => {
  // (+ the family fixtures: q/k/v bias vectors, q/k norm vectors)
  for (const [name, dtype] of [['tiny-gqa-f32', 'F32'], ['tiny-mha-tied-f16', 'F16'], ['tiny-qwen2-bf16', 'BF16'], ['tiny-qwen3-f16', 'F16']] as const) {
    for (const kvDtype of ['f32', 'f16'] as const) {
      for (const split of [false, true]) {
        it(`${name}, ${kvDtype} KV${split ? ', split under a lowered binding limit' : ''}`, async () => {
          const cfg = fixtureConfig(name);
          // Split: one KV layer per binding (f32), so weights are row-chunked and f32 slabs hold one layer each.
          const maxBindingBytes = split ? (64 + TREE_ROOM) * cfg.numKvHeads * cfg.headDim * 4 : undefined;
          const { ex, info } = await load(name, { contextLength: 64, kvDtype, maxBindingBytes, maxRows: split ? 5 : undefined });
          const plan = planMemory({ config: cfg, format: denseFormat(dtype), kvDtype, contextLength: 64, treeRoom: TREE_ROOM, maxRows: split ? 5 : undefined,
            limits: { maxBindingBytes: maxBindingBytes ?? info.deviceLimits.maxStorageBufferBindingSize, maxBufferBytes: info.deviceLimits.maxBufferSize } });
          expect(info.kvDtype).toBe(kvDtype);
          expect(info.memory).toMatchObject({ weightsBytes: plan.weightsBytes, kvBytes: plan.kvBytes, scratchBytes: plan.scratchBytes, weightBuffers: plan.weightBuffers, kvBuffers: plan.kvBuffers });
          expect(info.memoryPlan).toEqual(plan);
          // Independent figures: the KV cache is 2·L·Smax·Hkv·D elements; f16 halves it.
          expect(info.memory.kvBytes).toBe(2 * cfg.numLayers * (64 + TREE_ROOM) * cfg.numKvHeads * cfg.headDim * (kvDtype === 'f16' ? 2 : 4));
          if (split) {
            expect(info.memory.kvBuffers).toBe(kvDtype === 'f32' ? 2 * cfg.numLayers : 2 * Math.ceil(cfg.numLayers / 2));
            expect(info.memory.weightBuffers).toBeGreaterThan(4 * cfg.numLayers + 1);
          }
          // Every live GPU buffer is counted, except the params arena's uniform, which scratch includes.
          const stats = await ex.gpuStats();
          expect(stats.liveBytes).toBe(plan.totalBytes);
          expect(info.memory.peakJsHeapBytes).toBeGreaterThan(0);
          await ex.dispose();
        });
      }
    }
  }
});

describe('budget and context fallback (planMemory)', () => {
  const cfg = fixtureConfig('tiny-gqa-f32');
  const base: MemoryPlanInput = { config: cfg, format: denseFormat('F32'), kvDtype: 'f32', treeRoom: TREE_ROOM, limits: LIMITS };

  it('a fixed context that does not fit is an OutOfMemoryError with required and allowed bytes and what to do', () => {
    const full = planMemory({ ...base, contextLength: 256 });
    const budget = full.totalBytes - 1;
    let err: unknown = null;
    try { planMemory({ ...base, contextLength: 256, budgetBytes: budget }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(OutOfMemoryError);
    const e = err as OutOfMemoryError;
    expect(e.code).toBe('out-of-memory');
    expect(e.detail).toMatchObject({ requiredBytes: full.totalBytes, allowedBytes: budget, weightsBytes: full.weightsBytes, kvBytes: full.kvBytes, scratchBytes: full.scratchBytes, contextLength: 256 });
    expect(e.message).toContain(`needs ${full.totalBytes} bytes, but ${budget} are allowed`);
    expect(e.message).toMatch(/f16 KV cache.*shorter context.*4-bit weights/);
    // Already f16 KV and q4: the advice leaves them out.
    const f16 = planMemory({ ...base, kvDtype: 'f16', contextLength: 256 });
    try { planMemory({ ...base, kvDtype: 'f16', contextLength: 256, budgetBytes: f16.totalBytes - 1, q4: true }); } catch (x) { err = x; }
    expect((err as OutOfMemoryError).detail.advice).toEqual([expect.stringMatching(/^a shorter context/), expect.stringMatching(/gpuMemoryBytes/)]);
  });

  it('an unfixed context shrinks to the largest that fits, and says why', () => {
    const at = (n: number) => planMemory({ ...base, contextLength: n }).totalBytes;
    const budget = at(200);
    const p = planMemory({ ...base, budgetBytes: budget });
    expect(p.requestedContextLength).toBe(256);
    expect(p.contextLength).toBe(200);
    expect(p.totalBytes).toBeLessThanOrEqual(budget);
    expect(at(201)).toBeGreaterThan(budget);
    expect(p.reason).toMatch(/^Context shortened from 256 to 200 tokens: .* exceed the GPU memory budget of \d+ bytes\.$/);
    // Fits as asked: no reason.
    expect(planMemory({ ...base, budgetBytes: at(256) }).reason).toBeNull();
    // The floor, 64 tokens (MIN_AUTO_CONTEXT), fits; anything less is an OutOfMemoryError.
    expect(planMemory({ ...base, budgetBytes: at(64) }).contextLength).toBe(64);
    expect(() => planMemory({ ...base, budgetBytes: at(64) - 1 })).toThrow(OutOfMemoryError);
  });

  it('a KV layer larger than one binding: the unfixed context shrinks; a fixed one is LimitTooLowError', () => {
    const perRow = cfg.numKvHeads * cfg.headDim * 4;
    const limits = { maxBindingBytes: (100 + TREE_ROOM) * perRow, maxBufferBytes: 2 ** 28 };
    const p = planMemory({ ...base, limits });
    expect(p.contextLength).toBe(100);
    expect(p.reason).toMatch(/does not fit one buffer binding/);
    expect(() => planMemory({ ...base, limits, contextLength: 101 })).toThrow(LimitTooLowError);
  });

  it('weights in the group format take qgroupMatrixBytes; embeddings can stay f16', () => {
    const q4 = planMemory({ ...base, format: qgroupFormat(4, 32), contextLength: 64 });
    const dense = planMemory({ ...base, contextLength: 64 });
    const C = cfg.hiddenSize; const QKV = (cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim; const F = cfg.intermediateSize;
    const norms = (2 * cfg.numLayers + 1) * Math.ceil(C / 8) * 8 * 4;
    const layer = qgroupMatrixBytes(QKV, C, 4, 32, 'f16') + qgroupMatrixBytes(C, cfg.numHeads * cfg.headDim, 4, 32, 'f16') + qgroupMatrixBytes(2 * F, C, 4, 32, 'f16') + qgroupMatrixBytes(C, F, 4, 32, 'f16');
    expect(q4.weightsBytes).toBe(norms + 2 * qgroupMatrixBytes(cfg.vocabSize, C, 4, 32, 'f16') + cfg.numLayers * layer);
    expect(q4.kvBytes).toBe(dense.kvBytes);
    const keepEmb = planMemory({ ...base, format: qgroupFormat(4, 32, 'f16', 'F16'), contextLength: 64 });
    expect(keepEmb.weightsBytes - q4.weightsBytes).toBe(2 * (cfg.vocabSize * Math.ceil(C / 8) * 8 * 2 - qgroupMatrixBytes(cfg.vocabSize, C, 4, 32, 'f16')));
  });

  it('an f16 KV cache of an odd row length is refused with a typed error (every accepted head dim is a multiple of 4)', () => {
    expect(() => planMemory({ ...base, config: { ...cfg, numKvHeads: 1, headDim: 13 }, kvDtype: 'f16' })).toThrow(UnsupportedModelError);
  });
});

describe('the paper-scale configs', () => {
  it('parameter counts and the default KV dtype (f16 above 100M parameters)', () => {
    const llama = config(join(CONFIGS, 'llama-3-8b.json'));
    const ds = config(join(CONFIGS, 'deepseek-coder-6.7b.json'));
    expect(parameterCount(llama)).toBe(8_030_261_248); // Meta-Llama-3-8B's published count
    expect(parameterCount(ds)).toBe(6_740_512_768); // deepseek-coder-6.7b-base (sum of its safetensors shapes)
    expect(defaultKvDtype(llama)).toBe('f16');
    expect(defaultKvDtype(fixtureConfig('tiny-gqa-f32'))).toBe('f32');
    expect(defaultKvDtype(config(join('public', 'models', 'msn-code-tiny', 'config.json')))).toBe('f32');
  });

  it('Llama-3-8B in q4 with f16 KV: 4096 tokens need 2 · 32 · 4165 · 1024 · 2 bytes of KV cache', () => {
    const llama = config(join(CONFIGS, 'llama-3-8b.json'));
    const p = planMemory({ config: llama, format: qgroupFormat(4, 32), kvDtype: 'f16', treeRoom: TREE_ROOM, limits: { maxBindingBytes: 2 ** 31 - 4, maxBufferBytes: 2 ** 32 } });
    expect(p.contextLength).toBe(4096);
    expect(p.kvBytes).toBe(2 * 32 * 4165 * 1024 * 2);
    expect(() => planMemory({ config: llama, format: qgroupFormat(4, 32), kvDtype: 'f16', treeRoom: TREE_ROOM, limits: LIMITS, budgetBytes: 4e9 })).toThrow(OutOfMemoryError);
  });
});

describe('the executor and the device', () => {
  it('requests maxBufferSize and maxStorageBufferBindingSize at the adapter\'s values, every other limit at its default', async () => {
    const gpu = await createNodeGpu();
    const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
    const ctx = await createGpuContext(gpu);
    for (const k of REQUESTED_BUFFER_LIMITS) expect(ctx.device.limits[k]).toBe(adapter.limits[k]);
    for (const k of ['maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupsPerDimension'] as const) {
      expect(ctx.device.limits[k]).toBe(WEBGPU_DEFAULT_LIMITS[k]);
    }
    expect(ctx.limits.maxBufferBytes).toBe(adapter.limits.maxBufferSize);
    ctx.device.destroy();
  });

  it('gpuMemoryBytes: an unfixed context shrinks (ModelInfo.memoryPlan.reason); a fixed one fails with OutOfMemoryError; memoryBudgetBytes is its alias', async () => {
    const cfg = fixtureConfig('tiny-gqa-f32');
    const limits = { maxBindingBytes: WEBGPU_DEFAULT_LIMITS.maxStorageBufferBindingSize, maxBufferBytes: 2 ** 32 - 1 };
    const budget = planMemory({ config: cfg, format: denseFormat('F32'), kvDtype: 'f32', contextLength: 180, treeRoom: TREE_ROOM, limits }).totalBytes;
    const { info } = await load('tiny-gqa-f32', { gpuMemoryBytes: budget });
    expect(info.contextLength).toBe(180);
    expect(info.kvCapacity).toBe(180 + TREE_ROOM);
    expect(info.memoryPlan.reason).toMatch(/^Context shortened from 256 to 180 tokens/);
    expect(info.memory.weightsBytes + info.memory.kvBytes + info.memory.scratchBytes).toBeLessThanOrEqual(budget);
    const err = await load('tiny-gqa-f32', { gpuMemoryBytes: budget, contextLength: 200 }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err.detail).toMatchObject({ allowedBytes: budget, contextLength: 200 });
    expect(err.detail.requiredBytes).toBeGreaterThan(budget);
    const alias = await load('tiny-gqa-f32', { memoryBudgetBytes: 100_000 }).then(() => null, (e) => e);
    expect(alias).toBeInstanceOf(OutOfMemoryError);
    expect(alias.detail.allowedBytes).toBe(100_000);
    await expect(load('tiny-gqa-f32', { gpuMemoryBytes: -5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(load('tiny-gqa-f32', { kvDtype: 'f8' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('--gpu-memory and --kv-dtype', () => {
  it('byte sizes: integers, SI and binary units', () => {
    expect(parseByteSize('4000000000', 'x')).toBe(4e9);
    expect(parseByteSize('4GB', 'x')).toBe(4e9);
    expect(parseByteSize('1.5 gb', 'x')).toBe(1.5e9);
    expect(parseByteSize('6GiB', 'x')).toBe(6 * 2 ** 30);
    expect(parseByteSize('512MiB', 'x')).toBe(2 ** 29);
    for (const bad of ['', '4 GBs', '-1', '0', 'GB', '4e9', '1/2GB']) expect(() => parseByteSize(bad, '--gpu-memory')).toThrow(InvalidArgumentError);
  });

  it('the CLI parses them into LoadOptions', () => {
    const o = parseCli(['--prompt', 'x', '--kv-dtype', 'f16', '--gpu-memory', '4GB']);
    expect(o.kvDtype).toBe('f16');
    expect(o.gpuMemoryBytes).toBe(4e9);
    expect(parseCli(['--prompt', 'x']).kvDtype).toBeUndefined();
    expect(() => parseCli(['--prompt', 'x', '--kv-dtype', 'bf16'])).toThrow(/--kv-dtype must be one of f16, f32/);
    expect(() => parseCli(['--prompt', 'x', '--gpu-memory', 'lots'])).toThrow(/--gpu-memory must be a byte count/);
  });
});
