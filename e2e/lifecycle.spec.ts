// A Web Worker that dies or never loads (issue 19 item 1): the running and the queued request
// reject with WorkerLostError within 3 s (a Web Worker has no exit event: the heartbeat notices),
// engine.lost resolves, later calls fail at once; a worker script that fails to load rejects
// createEngine; the app offers "Reload model", and reloading works. Workers are terminated from
// outside, through a recording Worker class installed before the page's scripts run.
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';

const FIXTURE = '/test/fixtures/models/tiny-gqa-f32/';
const GOLDEN = JSON.parse(readFileSync('test/fixtures/models/tiny-gqa-f32/golden.json', 'utf8')) as { prompt_text: string; greedy_ids: number[] };

declare global {
  interface Window { __workers: Worker[] }
}

/** Records every Worker the page creates in `window.__workers`. */
async function recordWorkers(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const Native = window.Worker;
    window.__workers = [];
    window.Worker = class extends Native {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        window.__workers.push(this);
      }
    };
  });
}

/** Opens the harness page (the engine's modules are then importable from the dev server). */
async function openHarness(page: Page): Promise<void> {
  await page.goto('/e2e/harness.html');
  await page.waitForFunction(() => (window as unknown as { msnReady?: boolean }).msnReady === true);
}

interface Outcome { name: string; code?: string; message: string; ms: number }

test('harness: the worker terminated after the first token; the running and the queued request reject with WorkerLostError within 3 s', async ({ page }) => {
  await recordWorkers(page);
  await openHarness(page);
  const r = await page.evaluate(async (model) => {
    const entry = '/src/engine/browser.ts';
    const { createEngine } = await import(/* @vite-ignore */ entry) as typeof import('../src/engine/browser.ts');
    const engine = await createEngine({ model, contextLength: 128 });
    const prompt = 'def add(a, b):';
    const running = engine.generate(prompt, { maxNewTokens: 64, decode: 'ar' });
    const first = await running.next();
    const queued = engine.complete(prompt, { maxNewTokens: 4, decode: 'ar' });
    const t0 = performance.now();
    window.__workers.at(-1)!.terminate();
    const outcome = (p: Promise<unknown>) => p.then(() => null, (e: Error & { code?: string }) => ({ name: e.name, code: e.code, message: e.message, ms: performance.now() - t0 }));
    const drain = async () => { let s = await running.next(); while (!s.done) s = await running.next(); };
    const [a, b, lost] = await Promise.all([outcome(drain()), outcome(queued), engine.lost.then((e) => ({ name: e.name, code: e.code, message: e.message, ms: performance.now() - t0 }))]);
    const t1 = performance.now();
    const later = await outcome(engine.complete(prompt, { maxNewTokens: 2 }));
    const laterMs = performance.now() - t1;
    await engine.dispose();
    return { firstDone: first.done, a, b, lost, later, laterMs };
  }, FIXTURE);
  expect(r.firstDone).toBe(false);
  for (const o of [r.a, r.b, r.lost] as Outcome[]) {
    expect(o.name).toBe('WorkerLostError');
    expect(o.code).toBe('worker-lost');
    expect(o.message).toMatch(/^The model's worker stopped: it stopped answering \(no sign of life for \d+ ms\)/);
    expect(o.ms).toBeLessThan(3000);
  }
  expect(r.later?.name).toBe('WorkerLostError');
  expect(r.laterMs).toBeLessThan(100); // fails at once instead of waiting on a dead worker
});

for (const [what, fulfill] of [
  ['missing (404)', { status: 404, body: 'not found' }],
  ['a syntax error', { status: 200, contentType: 'text/javascript', body: 'export const x = ;' }],
  ['a failed import', { status: 200, contentType: 'text/javascript', body: 'import "/no/such/module.js";' }],
] as const) {
  test(`harness: a worker script that is ${what} rejects createEngine with WorkerLostError`, async ({ page }) => {
    await page.context().route(/\/src\/worker\/worker\.ts(\?|$)/, (route) => route.fulfill(fulfill));
    await openHarness(page);
    const r = await page.evaluate(async (model) => {
      const entry = '/src/engine/browser.ts';
      const { createEngine } = await import(/* @vite-ignore */ entry) as typeof import('../src/engine/browser.ts');
      const t0 = performance.now();
      const hang = new Promise((resolve) => setTimeout(() => resolve('still pending after 20 s'), 20_000));
      const out = await Promise.race([createEngine({ model }).then(() => 'loaded', (e: Error & { code?: string }) => ({ name: e.name, code: e.code, message: e.message })), hang]);
      return { out, ms: performance.now() - t0 };
    }, FIXTURE);
    expect(r.out).toMatchObject({ name: 'WorkerLostError', code: 'worker-lost' });
    // The page's files are at fault, not the model's size: the advice is to reload the page.
    expect((r.out as Outcome).message).toMatch(/^The model's worker stopped: its script failed to load \(.+\)\. Its pending calls were cancelled\. The page's files changed \(a new version of the site was deployed\) or could not be downloaded: reload the page\.$/);
  });
}

test('app: the worker dies mid-generation; the error offers "Reload model", which loads a working model again', async ({ page }) => {
  await recordWorkers(page);
  await page.goto(`/?model=${FIXTURE}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await page.getByLabel('Decoding').selectOption('ar');
  await page.getByLabel('Max new tokens').fill('200');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.locator('#output .text')).not.toBeEmpty();
  await page.evaluate(() => { for (const w of window.__workers) w.terminate(); });
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('its worker was lost', { timeout: 10_000 });
  await expect(alert).toContainText("The model's worker stopped");
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
  await page.getByRole('button', { name: 'Reload model' }).click();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(alert).toBeHidden();
  await page.getByLabel('Max new tokens').fill('4');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
  await expect(page.getByRole('status')).toHaveText('Ready');
  await expect(page.locator('#stat-tokens')).toHaveText('4 in 4 steps');
});

test('app: the worker dies while idle; the page says so at once and "Reload model" recovers', async ({ page }) => {
  await recordWorkers(page);
  await page.goto(`/?model=${FIXTURE}`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await page.evaluate(() => { for (const w of window.__workers) w.terminate(); });
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('its worker was lost', { timeout: 10_000 });
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
  await page.getByRole('button', { name: 'Reload model' }).click();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(alert).toBeHidden();
  await page.getByLabel('Decoding').selectOption('ar');
  await page.getByLabel('Max new tokens').fill('4');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('status')).toHaveText('Ready');
  await expect(page.locator('#stat-tokens')).toHaveText('4 in 4 steps');
});

test('harness: default decoding (adaptive tree) works with IndexedDB absent or throwing', async ({ page }) => {
  await page.addInitScript(() => {
    const mode = new URL(location.href).searchParams.get('idb');
    if (mode === 'absent') Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
    if (mode === 'throws') Object.defineProperty(window, 'indexedDB', { get() { throw new DOMException('The operation is insecure.', 'SecurityError'); }, configurable: true });
  });
  for (const mode of ['absent', 'throws']) {
    await page.goto(`/e2e/harness.html?idb=${mode}`);
    await page.waitForFunction(() => (window as unknown as { msnReady?: boolean }).msnReady === true);
    const warnings: string[] = [];
    const onConsole = (m: { type(): string; text(): string }) => { if (m.type() === 'warning' && m.text().includes('msn-webgpu')) warnings.push(m.text()); };
    page.on('console', onConsole);
    const r = await page.evaluate(([model, prompt, n]) => (window as unknown as { msnRun: (o: unknown) => Promise<{ ok: boolean; result?: { tokenIds: number[]; tree: string } }> })
      .msnRun({ model, prompt, maxNewTokens: n, contextLength: 64 }), [FIXTURE, GOLDEN.prompt_text, GOLDEN.greedy_ids.length] as const);
    page.off('console', onConsole);
    expect(r.ok).toBe(true);
    expect(r.result!.tree).toBe('adaptive');
    expect(r.result!.tokenIds).toEqual(GOLDEN.greedy_ids);
    expect(warnings).toEqual([expect.stringContaining('IndexedDB cannot be opened')]);
  }
});

test('<msn-chat>: the worker dies mid-generation; the element shows the error with "Reload model", which recovers', async ({ page }) => {
  await recordWorkers(page);
  await openHarness(page);
  await page.evaluate(async (model) => {
    const lib = '/lib/msn-webgpu.js'; // the library, served from source by the dev server
    await import(/* @vite-ignore */ lib);
    const el = document.createElement('msn-chat');
    el.setAttribute('model', model);
    el.setAttribute('decode', 'ar');
    el.setAttribute('max-new-tokens', '200');
    document.body.append(el);
  }, FIXTURE);
  const chat = page.locator('msn-chat');
  await expect(chat.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await page.evaluate(() => {
    const el = document.querySelector('msn-chat') as HTMLElement & { generate(p: string): Promise<unknown> };
    (window as unknown as { __gen: Promise<string> }).__gen = el.generate('def add(a, b):').then(() => 'resolved', (e: Error) => e.name);
  });
  await expect(chat.getByRole('log')).not.toBeEmpty();
  await page.evaluate(() => { for (const w of window.__workers) w.terminate(); });
  await expect(chat.getByRole('alert')).toContainText('its worker was lost', { timeout: 10_000 });
  expect(await page.evaluate(() => (window as unknown as { __gen: Promise<string> }).__gen)).toBe('WorkerLostError');
  await chat.getByRole('button', { name: 'Reload model' }).click();
  await expect(chat.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(chat.getByRole('alert')).toBeHidden();
  const r = await page.evaluate(() => (document.querySelector('msn-chat') as HTMLElement & { generate(p: string, o: { maxNewTokens: number }): Promise<{ newTokens: number }> })
    .generate('def add(a, b):', { maxNewTokens: 4 }).then((x) => x.newTokens));
  expect(r).toBe(4);
});
