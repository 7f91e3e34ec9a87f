// A new deployment must not strand an open tab (issue 19, item 3). Two production builds: v1 (this
// checkout, dist/) and v2 (a copy with a one-line change to the worker source, so its worker chunks,
// the app's and the library's, get new names). The static server serves v1, two tabs open it, then
// v2 is served in its place: the old tabs keep switching models (v1's worker chunk stays available
// to them), each shows "An update is ready" with a button that reloads into v2, and the cached
// models survive the update and still work offline. The library's example page (<msn-chat>, one
// module script) opened on v1 keeps loading models across the deployment too.
import { expect, test, type Page } from '@playwright/test';
import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildVariant, ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';
import { generate, loadModelUrl } from './app-steps.ts';

const A = '/test/fixtures/models/tiny-gqa-f32/';
const B = '/test/fixtures/models/tiny-mha-tied-f16/';
const C = '/test/fixtures/models/tiny-gqa-f16-untied/';

let server: StaticServer;
let v2: ReturnType<typeof buildVariant> | undefined;
const workerChunk = (dist: string, dir = 'assets') => readdirSync(join(dist, dir)).find((f) => /^worker-.*\.js$/.test(f))!;
// The example page as shipped, with its elements pointed at a fixture model (served in place of
// dist/example.html by both deployments, so the service worker precaches this one).
const examplePage = () => readFileSync('public/example.html', 'utf8').replaceAll('model="./models/msn-code-tiny/"', `model="${A}"`);

test.beforeAll(async () => {
  test.setTimeout(180_000);
  ensureBuild();
  v2 = buildVariant((root) => appendFileSync(join(root, 'src/worker/worker.ts'), "(self as unknown as { msnBuild?: string }).msnBuild = 'v2';\n"));
});
test.beforeEach(async () => {
  server = await startStaticServer({ '/example.html': examplePage() });
});
test.afterEach(async () => {
  await server?.stop();
});
test.afterAll(() => {
  v2?.dispose();
});

/** Loads `model` through the Custom URL field and waits until it is ready. */
async function switchModel(page: Page, model: string): Promise<void> {
  await loadModelUrl(page, `${server.url}${model}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(page.locator('#model-info')).toContainText(model.split('/').at(-2)!);
}

/** Runs the browser's update check (what the app does hourly and when the tab becomes visible). */
async function checkForUpdate(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.getRegistration();
    await reg?.update();
    while (reg?.installing) await new Promise((r) => setTimeout(r, 50));
  });
}

test('update: old tabs keep working across a deployment, "An update is ready" reloads into v2, models stay cached offline', async ({ context }, info) => {
  const v1Worker = workerChunk('dist');
  const v2Worker = workerChunk(v2!.dist);
  expect(v2Worker, 'the one-line change renames the worker chunk').not.toBe(v1Worker);
  const workers = new Map<Page, string[]>();
  const errors: string[] = [];
  const open = async () => {
    const p = await context.newPage();
    const urls: string[] = [];
    workers.set(p, urls);
    p.on('worker', (w) => urls.push(w.url()));
    p.on('pageerror', (e) => errors.push(e.message));
    return p;
  };

  // v1: two tabs, the first one caches model A.
  const tab1 = await open();
  await tab1.goto(`${server.url}/?model=${A}`);
  await expect(tab1.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const textA = await generate(tab1, 6);
  await expect(tab1.locator('#cache-info')).toContainText('Cached for offline use: tiny-gqa-f32');
  const tab2 = await open();
  await tab2.goto(`${server.url}/?model=${A}`);
  await expect(tab2.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(tab1.locator('#update')).toBeHidden();

  // v2 is deployed in v1's place: v1's chunks are gone from the server.
  server.serve(v2!.dist);
  const deployedAt = server.requests.length;
  // The input: switch models in the old tab, and reload.
  await switchModel(tab1, B);
  await tab1.reload();
  await expect(tab1.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await checkForUpdate(tab1);
  // The reloaded tab is still v1 (its service worker still controls it), and it still switches models.
  await switchModel(tab1, B);
  await switchModel(tab1, A);
  expect(workers.get(tab1)!.every((u) => u.endsWith(`/assets/${v1Worker}`)), `v1 workers only: ${workers.get(tab1)}`).toBe(true);
  await expect(tab1.locator('#update')).toBeVisible();
  await expect(tab1.locator('#update')).toContainText('An update is ready');
  await expect(tab2.locator('#update')).toBeVisible();
  await tab1.screenshot({ path: info.outputPath('update-1-ready.png'), fullPage: true });

  // The button activates v2 and reloads this tab into it.
  await Promise.all([tab1.waitForEvent('load'), tab1.getByRole('button', { name: 'Reload to update' }).click()]);
  await expect(tab1.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  expect(workers.get(tab1)!.at(-1), 'tab 1 now runs v2').toMatch(new RegExp(`/assets/${v2Worker}$`));
  await expect(tab1.locator('#update')).toBeHidden();
  expect(await generate(tab1, 6), 'same text in v2').toBe(textA);

  // The other tab is still v1, now served by v2's service worker: v1's worker chunk must stay available.
  await switchModel(tab2, B);
  await switchModel(tab2, A);
  expect(workers.get(tab2)!.every((u) => u.endsWith(`/assets/${v1Worker}`)), `v1 workers only: ${workers.get(tab2)}`).toBe(true);
  expect(await generate(tab2, 6), 'the old tab still generates').toBe(textA);
  await expect(tab2.locator('#update')).toContainText('An update is ready');
  expect(server.requests.slice(deployedAt).filter((r) => r.includes(`/assets/${v1Worker}`)), 'after the deployment, v1\'s worker chunk came from the caches only').toEqual([]);

  // The cached models survived the update: offline, v2 reloads and generates from the cache.
  await expect(tab1.locator('#cache-info')).toContainText('tiny-gqa-f32');
  await server.stop();
  await tab1.reload();
  await expect(tab1.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  expect(workers.get(tab1)!.at(-1)).toMatch(new RegExp(`/assets/${v2Worker}$`));
  expect(await generate(tab1, 6), 'offline after the update').toBe(textA);
  // The old tab, reloaded, becomes v2 too.
  await Promise.all([tab2.waitForEvent('load'), tab2.getByRole('button', { name: 'Reload to update' }).click()]);
  await expect(tab2.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  expect(workers.get(tab2)!.at(-1)).toMatch(new RegExp(`/assets/${v2Worker}$`));
  await expect(tab2.locator('#update')).toBeHidden();
  await tab2.screenshot({ path: info.outputPath('update-2-after.png'), fullPage: true });
  expect(errors).toEqual([]);
});

type Chat = HTMLElement & { generate(prompt: string, o: object): Promise<{ newTokens: number }> };

/** Points the `index`th <msn-chat> of the page at `model`, waits until it is ready, and generates 3 tokens with it. */
async function switchElement(page: Page, index: number, model: string): Promise<void> {
  const chat = page.locator('msn-chat').nth(index);
  await chat.evaluate((el, m) => el.setAttribute('model', m), model);
  await expect(chat.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(chat.locator('.error')).toBeHidden();
  const r = await chat.evaluate((el) => (el as Chat).generate('x = ', { maxNewTokens: 3, decode: 'ar' }).then((x) => `ok ${x.newTokens}`, (e: Error) => `${e.name}: ${e.message}`));
  expect(r, `generates with ${model}`).toBe('ok 3');
}

test('the library\'s example page opened on v1 keeps loading models across the deployment (its worker chunk stays available), and reloads into v2', async ({ context }) => {
  const v1Worker = workerChunk('dist', 'lib/assets');
  const v2Worker = workerChunk(v2!.dist, 'lib/assets');
  expect(v2Worker, 'the one-line change renames the library\'s worker chunk').not.toBe(v1Worker);
  const errors: string[] = [];
  // The app's first visit installs the service worker; the example page opens under it.
  const app = await context.newPage();
  app.on('pageerror', (e) => errors.push(e.message));
  await app.goto(`${server.url}/?model=${A}`);
  await expect(app.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const page = await context.newPage();
  const workers: string[] = [];
  page.on('worker', (w) => workers.push(w.url()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/example.html`);
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the example page is controlled by the service worker').toBe(true);
  await expect(page.locator('msn-chat').getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });

  // v2 is deployed in v1's place: v1's library chunks are gone from the server.
  server.serve(v2!.dist);
  const deployedAt = server.requests.length;
  // v2 waits; an element switches models: a new worker from v1's library chunk.
  await switchElement(page, 0, B);
  // v2 activates from the app tab's button; the example page is still v1 and switches again.
  await checkForUpdate(app);
  await expect(app.locator('#update')).toBeVisible();
  await Promise.all([app.waitForEvent('load'), app.getByRole('button', { name: 'Reload to update' }).click()]);
  await expect(app.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await switchElement(page, 0, C);
  expect(workers.length, 'three workers: model A, then B, then C').toBe(3);
  expect(workers.every((u) => u.endsWith(`/lib/assets/${v1Worker}`)), `v1 library workers only: ${workers}`).toBe(true);
  expect(server.requests.slice(deployedAt).filter((r) => r.includes(`/lib/assets/${v1Worker}`)), 'after the deployment, v1\'s library chunk came from the caches only').toEqual([]);

  // Reloaded, the example page runs v2's library.
  await page.reload();
  await expect(page.locator('msn-chat').getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });
  expect(workers.at(-1)).toMatch(new RegExp(`/lib/assets/${v2Worker}$`));
  await switchElement(page, 1, B);
  expect(errors).toEqual([]);
});
