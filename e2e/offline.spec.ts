// The offline PWA on the production build: one online visit (model loaded, one generation), then
// the server is stopped for real and the page reloads and generates again; the model bytes must
// come from the service worker's Cache API (every response of the server was no-store).
import { expect, test, type Page } from '@playwright/test';
import { statSync } from 'node:fs';
import { ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';
import { generate } from './app-steps.ts';

const MODEL = '/test/fixtures/models/tiny-gqa-f32/';
const MODEL_CACHE = 'msn-webgpu-models-v1';

let server: StaticServer;
test.beforeAll(async () => {
  test.setTimeout(180_000);
  ensureBuild();
  server = await startStaticServer();
});
test.afterAll(async () => {
  await server?.stop();
});

async function cachedUrls(page: Page): Promise<string[]> {
  return page.evaluate(async (name) => (await caches.has(name)) ? (await (await caches.open(name)).keys()).map((r) => r.url) : [], MODEL_CACHE);
}

test('offline: after one visit the app reloads and generates with the server stopped; bytes from the Cache API', async ({ page }, info) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused/.test(m.text())) errors.push(m.text()); });
  // Online visit.
  await page.goto(`${server.url}/?model=${MODEL}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker controls the page before the model loads').toBe(true);
  const manifest = await page.evaluate(async () => {
    const href = document.querySelector('link[rel=manifest]')?.getAttribute('href');
    return href ? (await fetch(href)).json() : null;
  });
  expect(manifest?.icons?.length).toBeGreaterThanOrEqual(2);
  expect(manifest?.display).toBe('standalone');
  // Chromium's own installability check (manifest, icons, service worker with a fetch handler).
  const cdp = await page.context().newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  // (Playwright's contexts are incognito-like, which Chromium reports on its own.)
  expect(installabilityErrors.filter((e) => e.errorId !== 'in-incognito'), 'installable').toEqual([]);
  const online = await generate(page, 6);
  expect(online.length).toBeGreaterThan(0);
  await expect.poll(() => cachedUrls(page)).toEqual(expect.arrayContaining([
    `${server.url}${MODEL}config.json`, `${server.url}${MODEL}tokenizer.json`, `${server.url}${MODEL}model.safetensors`,
  ]));
  const cacheNames = await page.evaluate(() => caches.keys());
  expect(cacheNames, 'versioned cache names').toEqual(expect.arrayContaining([MODEL_CACHE, expect.stringMatching(/^msn-webgpu-precache-.*v1$/)]));
  await expect(page.locator('#cache-info')).toContainText('tiny-gqa-f32');
  await page.screenshot({ path: info.outputPath('offline-1-online.png'), fullPage: true });

  // Stop the server for real; nothing answers on its port any more.
  await server.stop();
  await expect(fetch(`${server.url}/`)).rejects.toThrow();
  const served = server.requests.length;

  await page.reload();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const offline = await generate(page, 6);
  expect(offline, 'greedy decoding gives the same text offline').toBe(online);
  expect(server.requests.length).toBe(served);
  // What the service worker served from the model cache since this page loaded.
  const stats = await page.evaluate(async () => {
    const ch = new MessageChannel();
    const reply = new Promise<{ hits: Record<string, { count: number; bytes: number }> }>((r) => { ch.port1.onmessage = (e) => r(e.data); });
    navigator.serviceWorker.controller!.postMessage({ type: 'msn-cache-stats' }, [ch.port2]);
    return reply;
  });
  const weights = stats.hits[`${server.url}${MODEL}model.safetensors`];
  expect(weights?.count).toBeGreaterThanOrEqual(1);
  expect(weights.bytes).toBeGreaterThanOrEqual(statSync(`test/fixtures/models/tiny-gqa-f32/model.safetensors`).size);
  expect(stats.hits[`${server.url}${MODEL}tokenizer.json`]?.count).toBeGreaterThanOrEqual(1);
  await page.screenshot({ path: info.outputPath('offline-2-reloaded.png'), fullPage: true });

  // Clearing the cached models: offline, the model can no longer load, and the page says why.
  await page.getByRole('button', { name: 'Clear cached models' }).click();
  await expect(page.locator('#cache-info')).toContainText('Cached models cleared');
  expect(await cachedUrls(page)).toEqual([]);
  await page.reload();
  await expect(page.getByRole('alert')).toContainText('could not be downloaded', { timeout: 60_000 });
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  expect(errors).toEqual([]);
});
