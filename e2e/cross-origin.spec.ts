// A model on another origin whose server compresses its JSON files (gzip), as many hosts do: the
// page sees Content-Length = the compressed size (a CORS-safelisted header) but not
// Content-Encoding (not exposed), and reads the decoded body. The length check must not take such a
// file for a truncated one, in the page (dev harness, no service worker) and in the service
// worker's cache audit (production app): the model loads, generates the same tokens as from its own
// origin, is cached whole, and works offline. Two origins: two ports of 127.0.0.1.
import { expect, test } from '@playwright/test';
import { ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';
import { generate } from './app-steps.ts';

const MODEL = '/test/fixtures/models/tiny-gqa-f32/';

let app: StaticServer | undefined;
let host: StaticServer | undefined;
test.afterEach(async () => {
  await host?.stop();
  await app?.stop();
  host = app = undefined;
});

interface Probe { status: number; length: string | null; encoding: string | null; body: number }

/** What the page sees of `url` (cross-origin): the status, Content-Length, Content-Encoding and the body's size. */
async function probe(page: import('@playwright/test').Page, url: string): Promise<Probe> {
  return page.evaluate(async (u) => {
    const res = await fetch(u);
    return { status: res.status, length: res.headers.get('content-length'), encoding: res.headers.get('content-encoding'), body: (await res.arrayBuffer()).byteLength };
  }, url);
}

/** The precondition: the host really compresses, and the page cannot see it. */
async function expectHiddenGzip(page: import('@playwright/test').Page, folder: string): Promise<void> {
  const p = await probe(page, `${folder}config.json`);
  expect(p.status).toBe(200);
  expect(p.encoding, 'Content-Encoding is not exposed to the page').toBeNull();
  expect(Number(p.length), 'Content-Length is the compressed size').toBeLessThan(p.body);
  expect(host!.requests).toContain(`GET ${MODEL}config.json`);
}

test('dev harness (no service worker): a compressed model on another origin loads and generates the same tokens as from this origin', async ({ page }) => {
  host = await startStaticServer({}, undefined, { gzip: true });
  const folder = `${host.url}${MODEL}`;
  await page.goto('/e2e/harness.html');
  await page.waitForFunction(() => (window as unknown as { msnReady?: boolean }).msnReady === true);
  await expectHiddenGzip(page, folder);
  const run = (model: string) => page.evaluate((m) => (window as unknown as { msnRun(o: object): Promise<{ ok: boolean; result?: { tokenIds: number[] }; error?: unknown }> })
    .msnRun({ model: m, prompt: 'x = ', maxNewTokens: 6, decode: 'ar' }), model);
  const remote = await run(folder);
  expect(remote.error, 'loads from the compressing host').toBeUndefined();
  const local = await run(MODEL);
  expect(local.ok).toBe(true);
  expect(remote.result!.tokenIds).toEqual(local.result!.tokenIds);
  expect(remote.result!.tokenIds).toHaveLength(6);
});

test('production app: a compressed model on another origin loads, is cached whole, and works offline', async ({ page }) => {
  test.setTimeout(300_000);
  ensureBuild();
  app = await startStaticServer();
  host = await startStaticServer({}, undefined, { gzip: true });
  const folder = `${host.url}${MODEL}`;
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${app.url}/?model=${encodeURIComponent(folder)}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(page.getByRole('alert')).toBeHidden();
  await expectHiddenGzip(page, folder);
  const text = await generate(page, 6);
  await expect(page.locator('#cache-info')).toContainText('Cached for offline use: tiny-gqa-f32', { timeout: 30_000 });
  await expect(page.locator('#cache-info')).not.toContainText('Could not cache');
  const cached = await page.evaluate(async (f) => (await (await caches.open('msn-webgpu-models-v1')).keys()).map((r) => r.url.slice(f.length)).filter((n) => !n.includes('/')).sort(), folder);
  expect(cached).toEqual(['.msn-cached.json', 'config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);

  // The model's host is gone: the app reloads and generates the same text from the cache.
  await host.stop();
  host = undefined;
  await page.reload();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  expect(await generate(page, 6)).toBe(text);
  expect(errors).toEqual([]);
});
