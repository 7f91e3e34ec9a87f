// The model maker's family shapes (scripts/configs/*.json, issue 17 item 5): the published configs of
// the families this loader reads (Mistral 7B v0.3, Qwen2.5-0.5B, Qwen3-0.6B, Phi-3.5-mini; Gemma comes with
// its forward) parse, count the published number of parameters, and get a memory plan at real
// shapes; make-model.py --family writes them (config only here: --no-weights). Their 2-layer GPU runs
// (load, memory plan, transformers' greedy tokens) are in family-shapes-gpu.heavy.test.ts (`npm run test:heavy`).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDirs } from '../helpers/tmp.js';
import { parseLlamaConfig } from '../../src/model/config.js';
import { denseFormat, parameterCount, planMemory, qgroupFormat } from '../../src/model/memory-plan.js';
import { TREE_ROOM } from '../../src/worker/api.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const SCRIPT = join(ROOT, 'scripts', 'make-model.py');
const LIMITS = { maxBindingBytes: 2 ** 31 - 4, maxBufferBytes: 2 ** 32 };
const shape = (name: string) => JSON.parse(readFileSync(join(ROOT, 'scripts', 'configs', `${name}.json`), 'utf8')) as { family: string; repo: string; config: Record<string, unknown> };

describe('make-model.py family shapes the loader reads', () => {
  const dir = tempDirs('msn-family-shapes-')();
  it.each([
    // Parameter counts: the sum of the published tensors' sizes (tied embeddings once), as the Hub lists them.
    ['mistral', 'mistral-7b-v0.3', 'MistralForCausalLM', 7_248_023_552, { vocabSize: 32768, hiddenSize: 4096, numLayers: 32, numKvHeads: 8, headDim: 128, tieWordEmbeddings: false, ropeTheta: 1e6, eosTokenIds: [2] }, { qkvBias: false, qkNorm: false }],
    ['qwen2', 'qwen2.5-0.5b', 'Qwen2ForCausalLM', 494_032_768, { vocabSize: 151936, hiddenSize: 896, numLayers: 24, numHeads: 14, numKvHeads: 2, headDim: 64, tieWordEmbeddings: true }, { qkvBias: true, qkNorm: false }],
    ['qwen3', 'qwen3-0.6b', 'Qwen3ForCausalLM', 596_049_920, { vocabSize: 151936, hiddenSize: 1024, numLayers: 28, numHeads: 16, numKvHeads: 8, headDim: 128, tieWordEmbeddings: true }, { qkvBias: false, qkNorm: true }],
    // Phi-3.5-mini: fused qkv_proj / gate_up_proj, longrope, sliding_window 262144 (past its 131072 positions: no effect).
    ['phi3', 'phi-3.5-mini', 'Phi3ForCausalLM', 3_821_079_552, { vocabSize: 32064, hiddenSize: 3072, numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 96, tieWordEmbeddings: false, eosTokenIds: [32000] }, { qkvBias: false, qkNorm: false, fusedProjections: true, rotaryDim: 96 }],
  ] as const)('--family %s: %s parses, with its parameters and a memory plan', (family, name, arch, params, want, flags) => {
    const s = shape(name);
    expect(s.family).toBe(family);
    const cfg = parseLlamaConfig(s.config);
    expect(cfg).toMatchObject({ architecture: arch, declaredDtype: 'bfloat16', ...want });
    expect(cfg.family).toMatchObject(flags);
    expect(cfg.family.slidingWindow.every((w) => w === null || w >= cfg.maxPositionEmbeddings), 'no effective sliding window in the published folders').toBe(true);
    expect(parameterCount(cfg)).toBe(params);
    // bf16 weights, and q4 at about a quarter, at a 4096-token context with an f16 KV cache.
    const plan = planMemory({ config: cfg, format: denseFormat('BF16'), kvDtype: 'f16', contextLength: 4096, treeRoom: TREE_ROOM, limits: LIMITS });
    expect(plan.weightsBytes).toBeGreaterThanOrEqual(2 * params);
    expect(plan.weightsBytes).toBeLessThan(2.01 * params);
    expect(plan.kvBytes).toBe(2 * cfg.numLayers * (4096 + TREE_ROOM) * cfg.numKvHeads * cfg.headDim * 2);
    const q4 = planMemory({ config: cfg, format: qgroupFormat(4, 32, 'f16', null), kvDtype: 'f16', contextLength: 4096, treeRoom: TREE_ROOM, q4: true, limits: LIMITS });
    expect(q4.weightsBytes / plan.weightsBytes).toBeLessThan(0.32);
    // make-model.py --family writes the same config (layers changed) and a tokenizer with the shape's ids.
    const out = join(dir, name);
    execFileSync(PYTHON, [SCRIPT, '--family', family, '--layers', '2', '--no-weights', '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
    const written = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(written).toEqual({ ...s.config, num_hidden_layers: 2 });
    expect(parseLlamaConfig(written).numLayers).toBe(2);
  }, 180_000);
});
