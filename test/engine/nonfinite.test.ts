// Non-finite logits end to end (issue 16, item 3), on fixture copies with planted weights:
//  - `model.norm.weight[0] = NaN` makes every logit NaN: the executor returns id −1 / value NaN (never
//    0xffffffff or an id ≥ V), and the CLI exits 1 with NonFiniteLogitsError on stderr and nothing on
//    stdout, in every decode mode (prefill of the prompt hides nothing);
//  - one NaN (or +inf) weight in an lm_head row makes that token's logit NaN (or ±inf) in every row:
//    it never wins and never becomes a draft, and every mode still outputs the same tokens;
//  - ids between the tokenizer's size and the config's vocab_size decode to empty text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Executor } from '../../src/worker/executor.js';
import { createNodeGpu } from '../../src/gpu/node.js';
import { describeError } from '../../src/component/describe-error.js';
import { NonFiniteLogitsError } from '../../src/errors.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { disabledFeatures } from '../helpers/gpu.js';

const execFileP = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['dist-node/cli.mjs', ...args], { maxBuffer: 1 << 24, timeout: 240_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** Rewrites tensor `name` of a safetensors file in place; `edit` gets its raw bytes (file dtype). */
function editTensor(file: string, name: string, edit: (bytes: DataView, shape: number[]) => void): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  const t = header[name];
  if (!t) throw new Error(`${name} is not in ${file}`);
  const [a, b] = t.data_offsets;
  edit(new DataView(buf.buffer, buf.byteOffset + 8 + n + a, b - a), t.shape);
  writeFileSync(file, buf);
}

let dir: string;
let nanModel: string; // tiny-gqa-f32, model.norm.weight[0] = NaN: every logit NaN
let nanTokenModel: string; // tiny-gqa-f32, lm_head.weight[j, 0] = NaN: token j's logit NaN
let infTokenModel: string; // tiny-gqa-f32, lm_head.weight[j, 0] = +inf: token j's logit ±inf (sign of h[0]) or NaN
let beyondModel: string; // tiny-llama3-bf16-sharded, lm_head row 310 (≥ the tokenizer's 301) = 2 × row 9
const gqa = golden('tiny-gqa-f32');
const nanToken = gqa.greedy_ids[0]; // the token the unmodified model picks first
const executors: Executor[] = [];
// An id that the golden prompt and output never use, that the adaptive probe's made-up tokens
// (0..T−1) do use, and that the self-check's sampled embedding rows (1, 38, 75, …) do not.
const UNUSED_ID = 3;
let nanLayerModel: string; // tiny-gqa-f32, model.layers.0.mlp.down_proj.weight[0, 0] = NaN (the self-check's layer)
let nanEmbedModel: string; // tiny-gqa-f32, model.embed_tokens.weight[UNUSED_ID, 0] = NaN

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'msn-nonfinite-'));
  nanModel = join(dir, 'nan-norm');
  cpSync(fixturePath('tiny-gqa-f32'), nanModel, { recursive: true });
  editTensor(join(nanModel, 'model.safetensors'), 'model.norm.weight', (v) => v.setFloat32(0, NaN, true));
  nanLayerModel = join(dir, 'nan-layer0');
  cpSync(fixturePath('tiny-gqa-f32'), nanLayerModel, { recursive: true });
  editTensor(join(nanLayerModel, 'model.safetensors'), 'model.layers.0.mlp.down_proj.weight', (v) => v.setFloat32(0, NaN, true));
  nanEmbedModel = join(dir, 'nan-embed');
  cpSync(fixturePath('tiny-gqa-f32'), nanEmbedModel, { recursive: true });
  editTensor(join(nanEmbedModel, 'model.safetensors'), 'model.embed_tokens.weight', (v, shape) => v.setFloat32(UNUSED_ID * shape[1] * 4, NaN, true));
  nanTokenModel = join(dir, 'nan-token');
  cpSync(fixturePath('tiny-gqa-f32'), nanTokenModel, { recursive: true });
  editTensor(join(nanTokenModel, 'model.safetensors'), 'lm_head.weight', (v, [, K]) => v.setFloat32(nanToken * K * 4, NaN, true));
  infTokenModel = join(dir, 'inf-token');
  cpSync(fixturePath('tiny-gqa-f32'), infTokenModel, { recursive: true });
  editTensor(join(infTokenModel, 'model.safetensors'), 'lm_head.weight', (v, [, K]) => v.setFloat32(nanToken * K * 4, Infinity, true));
  beyondModel = join(dir, 'beyond-tokenizer');
  cpSync(fixturePath('tiny-llama3-bf16-sharded'), beyondModel, { recursive: true });
  editTensor(join(beyondModel, 'model-00003-of-00003.safetensors'), 'lm_head.weight', (v, [, K]) => {
    // bf16 is the top half of an f32: doubling it is exact.
    const f = new DataView(new ArrayBuffer(4));
    for (let c = 0; c < K; c++) {
      f.setUint16(2, v.getUint16((9 * K + c) * 2, true), false);
      f.setFloat32(0, 2 * f.getFloat32(0, false), false);
      v.setUint16((310 * K + c) * 2, f.getUint16(2, false), true);
    }
  });
});

afterAll(async () => {
  for (const e of executors) await e.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('non-finite logits', () => {
  it('executor: a row with no finite logit returns id −1 and value NaN in every slot', async () => {
    const ex = new Executor(() => createNodeGpu());
    executors.push(ex);
    const info = await ex.load(nanModel, { contextLength: 64, disableFeatures: disabledFeatures() });
    const T = 5;
    const r = await ex.forward({ tokens: gqa.prompt_ids.slice(0, T), positions: Array.from({ length: T }, (_, i) => i), mask: 'causal', topK: 10, commit: false, returnLogits: true });
    expect(r.logits!.every(Number.isNaN)).toBe(true); // the planted NaN reaches every logit
    expect(Array.from(r.ids)).toEqual(new Array(T * 10).fill(-1));
    expect(Array.from(r.values).every(Number.isNaN)).toBe(true);
    expect(info.config.vocabSize).toBe(301);
  });

  const MODES: Array<[string, string[], RegExp]> = [
    ['ar', ['--decode', 'ar'], /at decode step 1, row 0/],
    ['tr-jacobi fixed', ['--decode', 'tr-jacobi', '--tree', 'fixed'], /at decode step 1, row 0/],
    ['tr-jacobi adaptive', ['--decode', 'tr-jacobi', '--tree', 'adaptive'], /at decode step 1, row 0/],
    ['jacobi', ['--decode', 'jacobi'], /at decode step 1, row 0/],
    ['retrieval', ['--decode', 'retrieval'], /at decode step 1, row 0/],
  ];
  for (const [name, args, where] of MODES) {
    it(`CLI --decode ${name} on an all-NaN model: exit 1, NonFiniteLogitsError on stderr, no JSON`, async () => {
      const r = await cli(['--model', nanModel, '--prompt', gqa.prompt_text, '--max-new-tokens', '8', '--json', ...args]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning'));
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^NonFiniteLogitsError: The model's logits are not finite /);
      expect(lines[0]).toMatch(where);
      expect(lines[0]).toMatch(new RegExp(`\\(position ${gqa.prompt_ids.length - 1}\\)`));
    });
  }

  it('a NaN weight in the self-check\'s layer is the model\'s fault, not the GPU\'s: the load passes, decoding reports it as without the check', async () => {
    const ex = new Executor(() => createNodeGpu());
    executors.push(ex);
    const info = await ex.load(nanLayerModel, { contextLength: 64, warmup: false, disableFeatures: disabledFeatures() });
    expect(info.selfCheck).toMatchObject({ ok: true });
    expect(info.selfCheck!.nonFinite).toBeGreaterThan(0);
    await ex.dispose();
    const lines = async (extra: string[]) => {
      const r = await cli(['--model', nanLayerModel, '--prompt', gqa.prompt_text, '--max-new-tokens', '4', '--json', '--decode', 'ar', ...extra]);
      return [r.code, r.stdout, r.stderr.split('\n').filter((l) => /Error/.test(l))];
    };
    const withCheck = await lines([]);
    expect(withCheck).toEqual([1, '', [expect.stringMatching(/^NonFiniteLogitsError: The model's logits are not finite at decode step 1, row 0/)]]);
    expect(await lines(['--no-self-check'])).toEqual(withCheck);
  });

  it('a NaN in an embedding row the prompt never uses: every mode, the adaptive tree included, gives the golden tokens', async () => {
    expect([...gqa.prompt_ids, ...gqa.greedy_ids]).not.toContain(UNUSED_ID);
    for (const args of [['--decode', 'ar'], ['--decode', 'tr-jacobi', '--tree', 'adaptive'], ['--decode', 'tr-jacobi', '--tree', 'fixed']]) {
      const r = await cli(['--model', nanEmbedModel, '--prompt', gqa.prompt_text, '--max-new-tokens', String(gqa.greedy_ids.length), '--json', ...args]);
      expect([r.code, r.stderr.split('\n').filter((l) => /Error/.test(l))], args.join(' ')).toEqual([0, []]);
      expect(JSON.parse(r.stdout).tokenIds, args.join(' ')).toEqual(gqa.greedy_ids);
    }
  });

  it('CLI --runtime chromium (SwiftShader compiles the kernel) reports the all-NaN model the same way', async () => {
    const r = await cli(['--model', nanModel, '--prompt', gqa.prompt_text, '--max-new-tokens', '8', '--json', '--decode', 'tr-jacobi', '--tree', 'fixed', '--runtime', 'chromium']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^NonFiniteLogitsError: The model's logits are not finite at decode step 1, row 0 \\(position ${gqa.prompt_ids.length - 1}\\)`, 'm'));
  });

  it.each([['NaN', () => nanTokenModel], ['+inf', () => infTokenModel]])('a %s logit among finite ones never wins and never becomes a draft; every mode agrees', async (_, model) => {
    const ex = new Executor(() => createNodeGpu());
    executors.push(ex);
    await ex.load(model(), { contextLength: 64, disableFeatures: disabledFeatures() });
    const T = gqa.prompt_ids.length;
    const r = await ex.forward({ tokens: gqa.prompt_ids, positions: Array.from({ length: T }, (_, i) => i), mask: 'causal', topK: 16, commit: false, returnLogits: true });
    const V = 301;
    for (let t = 0; t < T; t++) {
      const row = Array.from(r.ids.subarray(t * 16, (t + 1) * 16));
      expect(Number.isFinite(r.logits![t * V + nanToken])).toBe(false);
      expect(row).not.toContain(nanToken);
      expect(row.every((id) => id >= 0 && id < V)).toBe(true);
    }
    // Unmodified, the first new token would be `nanToken`; now it is the runner-up of the golden logits.
    const first = gqa.greedy_logits[0].map((x, i) => [x, i]).filter(([, i]) => i !== nanToken).sort((a, b) => b[0] - a[0] || a[1] - b[1])[0][1];
    const outs: number[][] = [];
    for (const args of [['--decode', 'ar'], ['--decode', 'tr-jacobi', '--tree', 'fixed'], ['--decode', 'jacobi'], ['--decode', 'retrieval']]) {
      const c = await cli(['--model', model(), '--prompt', gqa.prompt_text, '--max-new-tokens', '12', '--json', ...args]);
      expect(c.code, c.stderr).toBe(0);
      const res = JSON.parse(c.stdout) as { tokenIds: number[] };
      expect(res.tokenIds).not.toContain(nanToken);
      outs.push(res.tokenIds);
    }
    expect(outs[0][0]).toBe(first);
    for (const o of outs) expect(o).toEqual(outs[0]);
  });

  it('the app and <msn-chat> name the error and say what to do', () => {
    const v = describeError(new NonFiniteLogitsError({ step: 3, row: 2, position: 9, id: -1 }));
    expect(v).toMatchObject({ name: 'NonFiniteLogitsError', code: 'non-finite-logits', needsReload: false });
    expect(v.title).toMatch(/NaN or infinity/);
    expect(v.message).toMatch(/at decode step 3, row 2 \(position 9\)/);
    expect(v.action).toMatch(/weights/);
  });

  it("ids between the tokenizer's size and vocab_size decode to empty text without throwing", async () => {
    const g = golden('tiny-llama3-bf16-sharded');
    const c = await cli(['--model', beyondModel, '--prompt', g.prompt_text, '--max-new-tokens', '1', '--decode', 'ar', '--json']);
    expect(c.code, c.stderr).toBe(0);
    const res = JSON.parse(c.stdout) as { tokenIds: number[]; text: string };
    expect(res.tokenIds).toEqual([310]);
    expect(res.text).toBe('');
  });
});
