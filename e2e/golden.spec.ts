// The same engine in headless Chromium (Web Worker, SwiftShader): fixture goldens from HF transformers,
// and every decode mode equal to ar, in both kernel configurations (issue 11 item 5): `cpu`, and `gpu`
// forced on SwiftShader (`kernelConfig` of the harness's msnRun/msnLogits), under the WebGPU default
// limits. AR and the tree always run in the same configuration.
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';

// Llama fixtures and the other families' (issue 17: Qwen2 biases, Qwen2 with per-layer windows, Qwen3 q/k norms, Mistral window; Gemma 2 and 3, a Gemma 3 multimodal folder's language model; Phi-3 with partial rotary and a window, and with longrope crossing its switch).
const FIXTURES = ['tiny-gqa-f32', 'tiny-mha-tied-f16', 'tiny-llama3-bf16-sharded', 'tiny-qwen2-bf16', 'tiny-qwen2-window-f32', 'tiny-qwen3-f16', 'tiny-mistral-window-f32', 'tiny-gemma2-f32', 'tiny-gemma3-f32', 'tiny-gemma3-mm-f32', 'tiny-phi3-f32', 'tiny-phi3-longrope-f32'];
const KERNEL_CONFIGS = ['cpu', 'gpu'] as const;
/**
 * Fixtures whose Chromium golden also runs in the `gpu` configuration: in CI one per distinct code path
 * (Llama GQA, Qwen3 q/k norms in f16, Gemma 3 norms/soft-capping/local layers, Phi-3 partial rotary +
 * longrope); `MSN_HEAVY=1` runs all of them. Node runs every fixture's golden in both configurations
 * (test/model/golden.test.ts), and every fixture runs here in `cpu`.
 */
const GPU_FIXTURES: readonly string[] = process.env.MSN_HEAVY === '1' ? FIXTURES : ['tiny-gqa-f32', 'tiny-qwen3-f16', 'tiny-gemma3-f32', 'tiny-phi3-longrope-f32'];
/** The WebGPU spec's default limits of kernel fields the engine reports; the two buffer limits are the adapter's (src/gpu/context.ts). */
const DEFAULT_LIMITS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };
const golden = (name: string) => JSON.parse(readFileSync(`test/fixtures/models/${name}/golden.json`, 'utf8'));

async function harness(page: Page) {
  await page.goto('/e2e/harness.html');
  await page.waitForFunction(() => (window as unknown as { msnReady?: boolean }).msnReady === true);
}

for (const kernelConfig of KERNEL_CONFIGS) for (const name of kernelConfig === 'gpu' ? GPU_FIXTURES : FIXTURES) {
  test(`kernel config ${kernelConfig}: ${name}: logits and 16 greedy tokens equal HF's`, async ({ page }) => {
    const g = golden(name);
    await harness(page);
    const model = `/test/fixtures/models/${name}/`;
    const lg = await page.evaluate((a) => (window as never as { msnLogits: (a: unknown) => Promise<{ ids: number[]; vocab: number; logits: number[]; adapter: { architecture: string }; kernelConfig: string }> }).msnLogits(a), { model, prompt: g.prompt_text, contextLength: 64, kernelConfig });
    expect(lg.kernelConfig).toBe(kernelConfig);
    expect(lg.ids).toEqual(g.prompt_ids);
    for (let t = 0; t < g.prompt_ids.length; t++) {
      const ref: number[] = g.prompt_logits[t];
      const scale = Math.max(...ref.map(Math.abs));
      const row = lg.logits.slice(t * lg.vocab, (t + 1) * lg.vocab);
      const worst = Math.max(...row.map((v, i) => Math.abs(v - ref[i]) - 1e-4 * Math.abs(ref[i])));
      expect(worst, `row ${t}`).toBeLessThanOrEqual(1e-4 * scale);
    }
    const run = await page.evaluate((a) => (window as never as { msnRun: (a: unknown) => Promise<{ ok: boolean; result: { tokenIds: number[]; pieces: string[]; text: string; steps: number; deviceLimits: Record<string, number> } }> }).msnRun(a), { model, prompt: g.prompt_text, maxNewTokens: 16, contextLength: 64, decode: 'ar', kernelConfig });
    expect(run.ok).toBe(true);
    expect(run.result.deviceLimits).toMatchObject(DEFAULT_LIMITS);
    expect(run.result.tokenIds).toEqual(g.greedy_ids);
    expect(run.result.pieces.join('')).toBe(run.result.text);
    expect(run.result.steps).toBe(16);
    console.log(`${name}: adapter ${lg.adapter.architecture}`);
  });
}

test('typed errors reach the page: a missing model folder', async ({ page }) => {
  await harness(page);
  const run = await page.evaluate(() => (window as never as { msnRun: (a: unknown) => Promise<{ ok: boolean; error: { name: string; message: string } }> }).msnRun({ model: '/no/such/model/', prompt: 'x' }));
  expect(run.ok).toBe(false);
  expect(run.error.name).toBe('NetworkError');
  expect(run.error.message).toContain('/no/such/model/config.json');
});

// tiny-phi3-longrope-f32: 12 prompt tokens + 12 new ones cross its longrope switch (position 16).
// In `gpu` (slow on SwiftShader) CI runs the longrope fixture only; MSN_HEAVY=1 adds tiny-gqa-f32 there.
for (const kernelConfig of KERNEL_CONFIGS) for (const fixture of kernelConfig === 'gpu' && process.env.MSN_HEAVY !== '1' ? ['tiny-phi3-longrope-f32'] : ['tiny-gqa-f32', 'tiny-phi3-longrope-f32']) {
  test(`kernel config ${kernelConfig}: every decode mode gives the ar tokens in Chromium (fixture ${fixture}, short prompt)`, async ({ page }) => {
    const g = golden(fixture);
    await harness(page);
    const model = `/test/fixtures/models/${fixture}/`;
    const runs: Record<string, number[]> = {};
    for (const [decode, tree] of [['ar', 'fixed'], ['jacobi', 'fixed'], ['retrieval', 'fixed'], ['tr-jacobi', 'fixed'], ['tr-jacobi', 'adaptive']]) {
      const r = await page.evaluate((a) => (window as never as { msnRun: (a: unknown) => Promise<{ ok: boolean; result: { tokenIds: number[]; kernelConfig: { preset: string } }; error?: unknown }> }).msnRun(a), { model, prompt: g.prompt_text, maxNewTokens: 12, contextLength: 64, decode, tree, kernelConfig });
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      expect(r.result.kernelConfig.preset).toBe(kernelConfig);
      runs[`${decode}/${tree}`] = r.result.tokenIds;
    }
    for (const k of Object.keys(runs)) expect(runs[k], k).toEqual(g.greedy_ids.slice(0, 12));
  });
}

for (const kernelConfig of KERNEL_CONFIGS) {
  test(`kernel config ${kernelConfig}: default model in Chromium: one short held-out prompt, every mode equals ar`, async ({ page }) => {
    const prompt = JSON.parse(readFileSync('train/data/test_prompts.jsonl', 'utf8').split('\n')[0]).prompt;
    await harness(page);
    const model = '/models/msn-code-tiny/';
    const runs: Record<string, { tokenIds: number[]; steps: number; kernelConfig: { preset: string } }> = {};
    for (const [decode, tree] of [['ar', 'fixed'], ['jacobi', 'fixed'], ['retrieval', 'fixed'], ['tr-jacobi', 'fixed'], ['tr-jacobi', 'adaptive']]) {
      const r = await page.evaluate((a) => (window as never as { msnRun: (a: unknown) => Promise<{ ok: boolean; result: { tokenIds: number[]; steps: number; kernelConfig: { preset: string } }; error?: unknown }> }).msnRun(a), { model, prompt, maxNewTokens: 8, contextLength: 256, decode, tree, kernelConfig });
      expect(r.ok, JSON.stringify(r.error)).toBe(true);
      runs[`${decode}/${tree}`] = r.result;
    }
    for (const k of Object.keys(runs)) expect([k, runs[k].kernelConfig.preset, runs[k].tokenIds]).toEqual([k, kernelConfig, runs['ar/fixed'].tokenIds]);
    expect(runs['ar/fixed'].tokenIds.length).toBe(8);
  });
}

test('integrity: a corrupted model file is an IntegrityError and its cached copy is evicted', async ({ page, context }) => {
  await harness(page);
  const url = new URL('/models/msn-code-tiny/model.safetensors', page.url()).href;
  await context.route('**/models/msn-code-tiny/model.safetensors', async (route) => {
    const res = await route.fetch();
    const body = Buffer.from(await res.body());
    body[body.length - 100] ^= 0x55; // same size, one byte changed
    await route.fulfill({ response: res, body });
  });
  // A (stale) cached copy, as the service worker would have stored it.
  await page.evaluate(async (u) => { await (await caches.open('msn-webgpu-models-test')).put(u, new Response('stale')); }, url);
  const run = await page.evaluate(() => (window as never as { msnRun: (a: unknown) => Promise<{ ok: boolean; error: { name: string; message: string } }> }).msnRun({ model: '/models/msn-code-tiny/', prompt: 'x', maxNewTokens: 1 }));
  expect(run.ok).toBe(false);
  expect(run.error.name).toBe('IntegrityError');
  expect(run.error.message).toContain('model.safetensors');
  expect(await page.evaluate(async (u) => (await (await caches.open('msn-webgpu-models-test')).match(u)) === undefined, url)).toBe(true);
});
