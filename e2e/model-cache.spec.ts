// A model is cached whole or not at all (issue 19, item 5, inputs b and c), on the production build
// with its service worker: a Cache API quota error on the second of five files leaves no partial
// entries and the page says why it could not cache; a load that fails part-way (a file answering
// 503) leaves none either; a truncated cached file of a model without manifest.json (the weights, or
// a JSON file: its typed error must survive Chromium's stream reading) is evicted when it fails to
// parse, so the next reload downloads it again. <msn-chat> loads on a page the service worker
// controls (the library's example page) are cached whole or not at all as well.
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';
import { generate, loadModelUrl } from './app-steps.ts';

const MODEL = '/test/fixtures/models/tiny-gqa-f32/'; // five files, no manifest.json
const OTHER = '/test/fixtures/models/tiny-mha-tied-f16/';
const THIRD = '/test/fixtures/models/tiny-gqa-f16-untied/';
const MODEL_CACHE = 'msn-webgpu-models-v1';

let server: StaticServer;
test.beforeAll(() => {
  test.setTimeout(180_000);
  ensureBuild();
});
test.beforeEach(async () => {
  // The library's example page as shipped, its elements pointed at MODEL.
  server = await startStaticServer({ '/example-e2e.html': readFileSync('public/example.html', 'utf8').replaceAll('model="./models/msn-code-tiny/"', `model="${MODEL}"`) });
});
test.afterEach(async () => {
  await server?.stop();
});

async function switchModel(page: Page, model: string): Promise<void> {
  await loadModelUrl(page, `${server.url}${model}`);
}

/** What the page's cache summary lists after "Cached for offline use:" (whole models only). */
async function cachedList(page: Page): Promise<string> {
  const text = await page.locator('#cache-info').innerText();
  return /Cached for offline use: (.*?)\.(?:\s|$)/.exec(text)?.[1] ?? '';
}

/** URLs of `folder` in the model cache. */
async function cachedUrls(page: Page, folder: string): Promise<string[]> {
  return page.evaluate(async ([name, f]) => (await caches.has(name)) ? (await (await caches.open(name)).keys()).map((r) => r.url).filter((u) => u.startsWith(f)) : [], [MODEL_CACHE, `${server.url}${folder}`]);
}

test('a quota error on the second of five files: nothing of the model stays cached, and the page says why', async ({ page, context }) => {
  // First visit: another model, cached whole.
  await page.goto(`${server.url}/?model=${OTHER}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(page.locator('#cache-info')).toContainText('Cached for offline use: tiny-mha-tied-f16');
  // The fault: the service worker's second Cache API write of the next model's files fails on quota.
  const sw = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  await sw.evaluate((folder) => {
    const g = self as unknown as { msnFaults: string[] };
    g.msnFaults = [];
    let n = 0;
    const put = Cache.prototype.put;
    Cache.prototype.put = function (this: Cache, req: RequestInfo | URL, res: Response) {
      const url = typeof req === 'string' ? req : req instanceof URL ? req.href : req.url;
      if (url.includes(folder) && ++n === 2) {
        g.msnFaults.push(url);
        return Promise.reject(new DOMException('The quota has been exceeded (injected).', 'QuotaExceededError'));
      }
      return put.call(this, req, res);
    };
  }, MODEL);

  await switchModel(page, MODEL);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const online = await generate(page, 4);
  expect(online.length).toBeGreaterThan(0);
  const info = page.locator('#cache-info');
  await expect(info).toContainText('Could not cache tiny-gqa-f32 for offline use');
  await expect(info).toContainText(/QuotaExceededError while storing (?:(?:config|generation_config|tokenizer|tokenizer_config)\.json|model\.safetensors): The quota has been exceeded \(injected\)\. It still works while online/);
  expect(await cachedList(page)).toContain('tiny-mha-tied-f16');
  expect(await cachedList(page)).not.toContain('tiny-gqa-f32');
  const faults = await sw.evaluate(() => (self as unknown as { msnFaults: string[] }).msnFaults);
  expect(faults, 'the fault fired once, in the service worker that served the load').toHaveLength(1);
  expect(await cachedUrls(page, MODEL), 'no partial entries').toEqual([]);
  expect((await cachedUrls(page, OTHER)).length, 'the other model is untouched').toBeGreaterThanOrEqual(5);

  // Offline, the page never claimed the model was cached, and says it cannot be loaded.
  server.down = true;
  await page.reload();
  await expect(page.getByRole('alert')).toContainText('could not be downloaded', { timeout: 60_000 });
  await expect(page.getByRole('alert')).toContainText('tiny-gqa-f32');
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  await expect(info).toContainText('Cached for offline use: tiny-mha-tied-f16');
  expect(await cachedList(page)).not.toContain('tiny-gqa-f32');
  // The model that was cached whole still loads offline.
  await switchModel(page, OTHER);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });

  // Back online (the quota fault was one-off): loading the model again caches it whole.
  server.down = false;
  await switchModel(page, MODEL);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect.poll(() => cachedList(page)).toContain('tiny-gqa-f32');
  expect(await cachedUrls(page, MODEL)).toHaveLength(6); // five files and the record
  await expect(info).not.toContainText('Could not cache');
});

test('a load that fails part-way (tokenizer.json answers 503) leaves nothing of the model cached; the next load caches it whole', async ({ page }) => {
  const tokenizer = `${MODEL}tokenizer.json`;
  server.faults.set(tokenizer, 503);
  await page.goto(`${server.url}/?model=${MODEL}`);
  await expect(page.getByRole('alert')).toContainText(`${server.url}${tokenizer} (503`, { timeout: 120_000 });
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  // The storage check before any download (src/app/storage.ts) already fails on tokenizer.json, so the
  // load never starts: nothing of the model is fetched for the cache, and none stays.
  expect(server.requests).not.toContain(`GET ${MODEL}model.safetensors`);
  await expect.poll(() => cachedUrls(page, MODEL), { timeout: 30_000 }).toEqual([]);
  await expect(page.locator('#cache-info')).not.toContainText('tiny-gqa-f32');

  server.faults.clear();
  await page.reload();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect.poll(() => cachedList(page)).toContain('tiny-gqa-f32');
  expect(await cachedUrls(page, MODEL)).toHaveLength(6); // five files and the record
});

for (const file of ['model.safetensors', 'config.json', 'tokenizer.json']) {
  test(`a truncated cached ${file} (no manifest.json) is evicted when it fails to parse; the next reload downloads it again`, async ({ page }) => {
    const url = `${server.url}${MODEL}${file}`;
    await page.goto(`${server.url}/?model=${MODEL}`);
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
    const text = await generate(page, 6);
    await expect(page.locator('#cache-info')).toContainText('Cached for offline use: tiny-gqa-f32');
    // Truncate the cached copy (its headers unchanged), as a broken write or a short response would.
    const sizes = await page.evaluate(async ([name, u]) => {
      const cache = await caches.open(name);
      const res = (await cache.match(u))!;
      const bytes = await res.arrayBuffer();
      await cache.put(u, new Response(bytes.slice(0, bytes.byteLength >> 1), { headers: res.headers }));
      return [bytes.byteLength, ((await (await cache.match(u))!.arrayBuffer())).byteLength];
    }, [MODEL_CACHE, url]);
    expect(sizes[1]).toBe(sizes[0] >> 1);
    const gets = () => server.requests.filter((r) => r === `GET ${MODEL}${file}`).length;
    const before = gets();

    await page.reload();
    const alert = page.getByRole('alert');
    await expect(alert).toContainText('A cached model file was damaged', { timeout: 60_000 });
    await expect(alert).toContainText(`${file} (${url}) is truncated: ${sizes[1]} of its ${sizes[0]} bytes arrived. The cached copy of ${file} was evicted`);
    await expect(page.getByRole('status')).toHaveText('Model not loaded');
    expect(gets(), 'the truncated copy came from the cache').toBe(before);
    // The model is no longer whole, so nothing of it stays cached (whole or not at all).
    await expect.poll(() => cachedUrls(page, MODEL), { timeout: 30_000 }).toEqual([]);
    await expect(page.locator('#cache-info')).not.toContainText('tiny-gqa-f32');

    await page.reload();
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
    // config.json is read twice: by the storage check before the download (cache: no-store, never
    // kept: src/app/storage.ts), then by the load, whose copy is cached.
    expect(gets(), 'downloaded again').toBe(before + (file === 'config.json' ? 2 : 1));
    expect(await generate(page, 6)).toBe(text);
    await expect(page.locator('#cache-info')).toContainText('Cached for offline use: tiny-gqa-f32');
  });
}

test('<msn-chat> on a page the service worker controls: a loaded model is cached whole, a failed load leaves nothing', async ({ page, context }) => {
  // The app's first visit installs the service worker (and caches another model).
  await page.goto(`${server.url}/?model=${OTHER}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  server.faults.set(`${THIRD}tokenizer.json`, 503);
  const example = await context.newPage();
  await example.goto(`${server.url}/example-e2e.html`);
  expect(await example.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  const chats = example.locator('msn-chat');
  await expect(chats.getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });
  // The two elements share one load, which the service worker records as a whole model.
  await expect.poll(() => cachedUrls(example, MODEL), { timeout: 30_000 }).toContain(`${server.url}${MODEL}.msn-cached.json`);
  expect(await cachedUrls(example, MODEL)).toHaveLength(6);
  // An element's load that fails part-way (its tokenizer.json answers 503) leaves nothing cached.
  await chats.first().evaluate((el, m) => el.setAttribute('model', m), THIRD);
  await expect(chats.first().getByRole('alert')).toContainText(`${server.url}${THIRD}tokenizer.json (503`, { timeout: 120_000 });
  expect(server.requests).toContain(`GET ${THIRD}model.safetensors`);
  await expect.poll(() => cachedUrls(example, THIRD), { timeout: 30_000 }).toEqual([]);
  // The app lists both whole models, and nothing partial.
  await page.reload();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect.poll(() => cachedList(page)).toContain('tiny-gqa-f32');
  expect(await cachedList(page)).toContain('tiny-mha-tied-f16');
  await expect(page.locator('#cache-info')).not.toContainText('Not fully cached');
});
