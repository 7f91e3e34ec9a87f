// Large downloads (issue 12, item 6), on the production build with its service worker: persistent
// storage is asked before the first model file is requested and the model panel shows the answer;
// a storage estimate too small for the model is a StorageQuotaError with the numbers before any
// weight byte is fetched, nothing is cached, and "Load without caching" loads it uncached; a
// transfer broken mid-file is resumed (Range) by the service worker and the model is cached whole.
// On the dev server (no service worker): a model folder opened from disk (webkitdirectory input,
// or a real directory handle from the directory picker) loads without a
// request and generates what the same folder over HTTP generates.
import { expect, test, type Page } from '@playwright/test';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';
import { generate } from './app-steps.ts';

const MODEL = '/test/fixtures/models/tiny-gqa-f32/';
const DIR = 'test/fixtures/models/tiny-gqa-f32';
const MODEL_CACHE = 'msn-webgpu-models-v1';
/** The bytes the offline copy needs: every file a load reads (golden.json is the tests' own). */
const BYTES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].reduce((s, f) => s + statSync(join(DIR, f)).size, 0);

async function cachedUrls(page: Page, server: StaticServer): Promise<string[]> {
  return page.evaluate(async ([name, f]) => (await caches.has(name)) ? (await (await caches.open(name)).keys()).map((r) => r.url).filter((u) => u.startsWith(f)) : [], [MODEL_CACHE, `${server.url}${MODEL}`]);
}

test.describe('production build: storage and broken transfers', () => {
  let server: StaticServer;
  test.beforeAll(() => {
    test.setTimeout(180_000);
    ensureBuild();
  });
  test.beforeEach(async () => {
    server = await startStaticServer();
  });
  test.afterEach(async () => {
    await server?.stop();
  });

  test('persistence is asked first; too little storage is a StorageQuotaError with the numbers and nothing cached; "Load without caching" loads it', async ({ page }) => {
    const quota = 10_000_000;
    const usage = quota - (BYTES - 1000); // 1000 bytes short
    await page.addInitScript(([q, u]) => {
      // persist() leaves a trace in the server's request log, so its order against the model's requests shows.
      StorageManager.prototype.persisted = async () => false;
      StorageManager.prototype.persist = async () => {
        await fetch('/__persist-asked').catch(() => {});
        return true;
      };
      StorageManager.prototype.estimate = async () => ({ quota: q, usage: u });
    }, [quota, usage]);
    await page.goto(`${server.url}/?model=${MODEL}`);
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('Not enough browser storage to cache this model', { timeout: 120_000 });
    await expect(alert).toContainText(`it needs ${BYTES} bytes`);
    await expect(alert).toContainText(`but only ${BYTES - 1000} bytes`);
    await expect(page.getByRole('status')).toHaveText('Model not loaded');
    await expect(page.locator('#storage-info')).toHaveText(/^Storage: persistent\./);
    const asked = server.requests.indexOf('GET /__persist-asked');
    const first = server.requests.findIndex((r) => r.includes(MODEL));
    expect(asked, 'persist() was called').toBeGreaterThanOrEqual(0);
    expect(asked, 'before the first model request').toBeLessThan(first);
    expect(server.requests, 'no weight byte was fetched').not.toContain(`GET ${MODEL}model.safetensors`);
    expect(await cachedUrls(page, server), 'nothing of the model is cached').toEqual([]);

    await page.getByRole('button', { name: 'Load without caching' }).click();
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
    expect((await generate(page, 3)).length).toBeGreaterThan(0);
    await expect(page.locator('#cache-info')).toContainText('Could not cache tiny-gqa-f32 for offline use: it was loaded without caching');
    expect(await cachedUrls(page, server), 'still nothing cached').toEqual([]);
  });

  test('while a load checks storage, the loaded model takes no request: Send and Ctrl+Enter wait, then the new model generates', async ({ page }) => {
    const OTHER = '/test/fixtures/models/tiny-mha-tied-f16/';
    await page.goto(`${server.url}/?model=${OTHER}`);
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
    // The storage check of the next model reads its config.json first: the server holds it.
    let release = () => {};
    server.holds.set(`${MODEL}config.json`, new Promise<void>((r) => (release = r)));
    await page.getByLabel('Model folder URL').fill(`${server.url}${MODEL}`);
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await expect(page.getByRole('status')).toHaveText(/^(Preparing|Checking storage for) tiny-gqa-f32…$/);
    await expect.poll(() => server.requests.filter((r) => r.endsWith(`${MODEL}config.json`)).length).toBeGreaterThan(0);
    await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
    await expect(page.getByRole('button', { name: 'Load', exact: true })).toBeDisabled();
    await page.getByLabel('Prompt').press('Control+Enter');
    await expect(page.getByRole('button', { name: 'Stop' }), 'no generation started on the engine about to be released').toBeDisabled();
    await expect(page.locator('#output')).toHaveText('');
    release();
    server.holds.clear();
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
    await expect(page.locator('#model-info')).toContainText('tiny-gqa-f32');
    expect((await generate(page, 4)).length).toBeGreaterThan(0);
  });

  test('a transfer broken after 100 000 bytes is resumed by the service worker (Range) and the model is cached whole', async ({ page }) => {
    server.breaks.set(`${MODEL}model.safetensors`, 100_000);
    await page.goto(`${server.url}/?model=${MODEL}`);
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
    expect(server.ranges, server.requests.join("\n")).toEqual([`${MODEL}model.safetensors bytes=100000-`]);
    await expect(page.locator('#cache-info')).toContainText(`Cached for offline use: tiny-gqa-f32 (5 files, ${(BYTES / 1e6).toFixed(2)} MB)`);
    const size = await page.evaluate(async ([name, url]) => (await (await (await caches.open(name)).match(url))!.blob()).size, [MODEL_CACHE, `${server.url}${MODEL}model.safetensors`]);
    expect(size).toBe(statSync(join(DIR, 'model.safetensors')).size);
    expect((await generate(page, 3)).length).toBeGreaterThan(0);
  });
});

test('dev server: a model folder opened from disk (webkitdirectory) loads without a request and generates what it generates over HTTP', async ({ page }) => {
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`/?model=${MODEL}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const overHttp = await generate(page, 4);
  requests.length = 0;
  await page.locator('#folder-input').setInputFiles(DIR);
  await expect(page.locator('#model-info')).toContainText('tiny-gqa-f32 (from disk): LlamaForCausalLM', { timeout: 120_000 });
  await expect(page.getByRole('status')).toHaveText('Ready');
  expect(await generate(page, 4)).toBe(overHttp);
  expect(requests.filter((u) => u.includes('/fixtures/models/')), 'nothing of the model came over the network').toEqual([]);
  expect(new URL(page.url()).searchParams.get('model'), 'a folder from disk cannot be reopened from a link').toBeNull();
});

test('dev server: "Open folder…" with the directory picker sends a real FileSystemDirectoryHandle to the worker and generates what HTTP gives', async ({ page }) => {
  await page.goto(`/?model=${MODEL}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const overHttp = await generate(page, 4);
  // A real directory handle (the origin-private file system) holding the folder's files, returned
  // by a stand-in for the native picker, which a test cannot drive.
  await page.evaluate(async (model) => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('tiny-gqa-f32', { create: true });
    for (const name of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
      const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await w.write(await (await fetch(`${model}${name}`)).arrayBuffer());
      await w.close();
    }
    (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () => dir;
  }, MODEL);
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.getByRole('button', { name: 'Open folder…' }).click();
  await expect(page.locator('#model-info')).toContainText('tiny-gqa-f32 (from disk): LlamaForCausalLM', { timeout: 120_000 });
  await expect(page.getByRole('status')).toHaveText('Ready');
  expect(await generate(page, 4)).toBe(overHttp);
  expect(requests.filter((u) => u.includes('/fixtures/models/')), 'nothing of the model came over the network').toEqual([]);
});
