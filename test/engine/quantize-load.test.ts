// Load-time quantization (issue 12): its options and errors. The executor's validation of
// `quantize` / `quantizeGroupSize` / `quantizeEmbeddings`, the CLI flags (usage errors exit 2; a q4
// run prints PyTorch's tokens on the dequantized weights), a non-finite weight in a quantized load,
// and the load-time self-check under quantization (passes, and catches a corrupted weight).
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Executor, weightQuantization } from '../../src/worker/executor.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { parseCli, quantizeOptions } from '../../src/cli/args.js';
import { InvalidArgumentError, ModelFormatError, SelfCheckError } from '../../src/errors.js';
import type { LoadOptions } from '../../src/worker/api.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';
import { executorLoader } from '../helpers/executor.js';
import { copyWithValue } from '../helpers/safetensors-file.js';
import { tempDirs } from '../helpers/tmp.js';

const run = promisify(execFile);
const load = executorLoader();

describe('weightQuantization (the executor\'s validation of the load options)', () => {
  it('maps the options to the format, with group 32 and quantized embeddings by default', () => {
    expect(weightQuantization({})).toBeNull();
    expect(weightQuantization({ quantize: 'none', quantizeGroupSize: 64 })).toBeNull();
    expect(weightQuantization({ quantize: 'q4' })).toEqual({ bits: 4, group: 32, embeddings: true });
    expect(weightQuantization({ quantize: 'q8', quantizeGroupSize: 128, quantizeEmbeddings: false })).toEqual({ bits: 8, group: 128, embeddings: false });
  });

  it.each([
    [{ quantize: 'q3' }, /quantize must be 'q4', 'q8' or 'none', got "q3"/],
    [{ quantize: 'Q4' }, /quantize must be .* got "Q4"/],
    [{ quantize: 4 }, /quantize must be .* got 4/],
    [{ quantize: 'q4', quantizeGroupSize: 48 }, /quantizeGroupSize must be 32, 64 or 128, got 48/],
    [{ quantize: 'q4', quantizeGroupSize: '32' }, /quantizeGroupSize must be 32, 64 or 128, got "32"/],
    [{ quantize: 'q8', quantizeGroupSize: 256 }, /got 256/],
    [{ quantize: 'q4', quantizeEmbeddings: 'no' }, /quantizeEmbeddings must be true or false, got "no"/],
    [{ quantize: 'none', quantizeGroupSize: 16 }, /got 16/], // checked even when nothing is quantized
  ])('%j is an InvalidArgumentError', (options, message) => {
    const err = (() => { try { weightQuantization(options as unknown as LoadOptions); return null; } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(message);
  });

  it('a bad value fails the load before any weight is read, and the executor loads again afterwards', async () => {
    const ex = new Executor(() => createNodeGpu());
    const err = await ex.load(fixturePath('tiny-gqa-f32'), { contextLength: 64, quantize: 'q2' as 'q4' }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const info = await ex.load(fixturePath('tiny-gqa-f32'), { contextLength: 64, quantize: 'q4', disableFeatures: disabledFeatures() });
    expect(info.weightFormats).toEqual(['q4g32']);
    await ex.dispose();
  });
});

describe('CLI flags', () => {
  it('parses --quantize, --quantize-group-size and --keep-embeddings into LoadOptions', () => {
    const none = parseCli(['--prompt', 'x']);
    expect([none.quantize, none.quantizeGroupSize, none.quantizeEmbeddings]).toEqual(['none', 32, true]);
    expect(quantizeOptions(none)).toEqual({});
    expect(quantizeOptions(parseCli(['--prompt', 'x', '--quantize', 'q4']))).toEqual({ quantize: 'q4', quantizeGroupSize: 32, quantizeEmbeddings: true });
    expect(quantizeOptions(parseCli(['--prompt', 'x', '--quantize', 'q8', '--quantize-group-size', '128', '--keep-embeddings']))).toEqual({ quantize: 'q8', quantizeGroupSize: 128, quantizeEmbeddings: false });
  });

  it.each([
    [['--quantize', 'q5'], /--quantize must be q4, q8 or none, got "q5"/],
    [['--quantize', 'q4', '--quantize-group-size', '48'], /--quantize-group-size must be 32, 64 or 128, got "48"/],
    [['--quantize', 'q4', '--quantize-group-size', '32.0'], /--quantize-group-size must be 32, 64 or 128, got "32.0"/],
    [['--keep-embeddings'], /--keep-embeddings needs --quantize q4 or q8/],
    [['--quantize', 'none', '--keep-embeddings'], /--keep-embeddings needs --quantize q4 or q8/],
  ])('%j is an InvalidArgumentError', (args, message) => {
    expect(() => parseCli(['--prompt', 'x', ...args])).toThrow(InvalidArgumentError);
    expect(() => parseCli(['--prompt', 'x', ...args])).toThrow(message);
  });

  it('a usage error exits 2 with one line and nothing on stdout; --quantize q4 prints PyTorch\'s tokens on the dequantized weights', async () => {
    const cli = (args: string[]) => run(process.execPath, ['dist-node/cli.mjs', ...args], { maxBuffer: 1 << 24, timeout: 240_000 });
    for (const [args, message] of [
      [['--quantize', 'q5'], /^InvalidArgumentError: --quantize must be q4, q8 or none, got "q5"\.\n/],
      [['--keep-embeddings'], /^InvalidArgumentError: --keep-embeddings needs --quantize q4 or q8\.\n/],
      [['--quantize', 'q8', '--quantize-group-size', '16'], /^InvalidArgumentError: --quantize-group-size must be 32, 64 or 128, got "16"\.\n/],
    ] as const) {
      const e = await cli(['--prompt', 'x', ...args]).catch((err) => err);
      expect(e.code).toBe(2);
      expect(e.stdout).toBe('');
      expect(e.stderr).toMatch(message);
    }
    const name = 'tiny-gqa-f32';
    const g = JSON.parse(readFileSync(join(fixturePath(name), 'golden-q4.json'), 'utf8')) as { prompt_text: string; greedy_ids: number[] };
    const { stdout } = await cli(['--model', fixturePath(name), '--prompt', g.prompt_text, '--max-new-tokens', '16', '--decode', 'ar', '--quantize', 'q4', '--json']);
    const r = JSON.parse(stdout);
    expect(r.tokenIds).toEqual(g.greedy_ids);
    expect(r.tokenIds).not.toEqual(golden(name).greedy_ids); // q4 changes this fixture's greedy text
    expect(r.weightFormats).toEqual(['q4g32']);
    expect(r.selfCheck.ok).toBe(true);
    const k = JSON.parse((await cli(['--model', fixturePath(name), '--prompt', g.prompt_text, '--max-new-tokens', '1', '--decode', 'ar', '--quantize', 'q4', '--keep-embeddings', '--json'])).stdout);
    expect(k.weightFormats).toEqual(['f16', 'q4g32']);
    expect(k.memory.weightsBytes).toBeGreaterThan(r.memory.weightsBytes);
  });
});

describe('a non-finite weight in a quantized load', () => {
  const tmpNonfinite = tempDirs('msn-nonfinite-q-');
  it.each([
    ['tiny-gqa-f32', 'model.layers.1.mlp.down_proj.weight', 7, Number.NaN],
    ['tiny-gqa-f16-untied', 'model.layers.0.self_attn.k_proj.weight', 40, Number.POSITIVE_INFINITY],
    ['tiny-llama3-bf16-sharded', 'lm_head.weight', 3 * 64 + 5, Number.NaN],
    ['tiny-mha-tied-f16', 'model.embed_tokens.weight', 100, Number.NEGATIVE_INFINITY],
  ] as const)('%s: %s is a ModelFormatError naming the tensor', async (name, tensor, index, value) => {
    const dir = tmpNonfinite();
    copyWithValue(fixturePath(name), dir, tensor, index, value);
    for (const quantize of ['q4', 'q8'] as const) {
      const err = await load(dir, { quantize }).then(() => null, (e) => e);
      expect(err, quantize).toBeInstanceOf(ModelFormatError);
      expect(err.code).toBe('model-format');
      expect(err.detail.tensor).toBe(tensor);
      expect(err.message).toContain(`Tensor ${tensor}`);
      expect(err.message).toMatch(/not finite/);
      expect(err.message).toMatch(/quantize 'none'/);
    }
  });

});

describe('self-check with a quantized load', () => {
  it.each([
    ['tiny-gqa-f32', { quantize: 'q4' }],
    ['tiny-mha-tied-f16', { quantize: 'q8' }],
    ['tiny-llama3-bf16-sharded', { quantize: 'q4', quantizeGroupSize: 128 }],
    ['tiny-gqa-f16-untied', { quantize: 'q4', quantizeEmbeddings: false }],
  ] as const)('passes on %s %j: the CPU layer uses the same dequantized weights', async (name, options) => {
    const { ex, info } = await load(fixturePath(name), options);
    const s = info.selfCheck!;
    expect(s.ok).toBe(true);
    expect(s.maxAbsErr).toBeLessThan(s.tolerance / 10);
    await ex.dispose();
  });

  it.each([
    ['tiny-gqa-f32', { quantize: 'q4' }],
    ['tiny-llama3-bf16-sharded', { quantize: 'q8', quantizeGroupSize: 64 }],
  ] as const)('a corrupted quantized weight on the GPU (%s %j) fails the load with SelfCheckError', async (name, options) => {
    const err = await load(fixturePath(name), { ...options, faults: { corruptWeight: true } }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(SelfCheckError);
    expect(err.detail.layer).toBe(0);
    expect(err.detail.maxAbsErr).toBeGreaterThan(err.detail.tolerance);
  });
});
