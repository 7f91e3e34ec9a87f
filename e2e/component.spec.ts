// The library build on a plain HTML page (public/example.html, pointed at a fixture model): one
// module script tag, two <msn-chat> elements sharing one worker and engine, their events with typed
// details, the same accessible names inside the shadow roots, FIFO across elements, and a queued
// request removed at once by abort.
import { expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';

const MODEL = '/test/fixtures/models/tiny-gqa-f32/';

interface Rec { type: string; index: number; detail: Record<string, unknown> }
declare global {
  interface Window { __events: Rec[] }
}

let server: StaticServer;
test.beforeAll(async () => {
  test.setTimeout(180_000);
  ensureBuild();
  // The example page as shipped, with its model attributes pointed at a small fixture model.
  const html = readFileSync('public/example.html', 'utf8')
    .replaceAll('model="./models/msn-code-tiny/"', `model="${MODEL}"`)
    .replaceAll('max-new-tokens="64"', 'max-new-tokens="8"');
  server = await startStaticServer({ '/example-e2e.html': html });
});
test.afterAll(async () => {
  await server?.stop();
});

test('<msn-chat> on a plain page: shared engine, events, shadow DOM contract, FIFO, abort of a queued request', async ({ page }, info) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) errors.push(m.text()); });
  await page.addInitScript(() => {
    window.__events = [];
    for (const type of ['progress', 'ready', 'token', 'done', 'error']) {
      document.addEventListener(type, (e) => {
        const el = e.composedPath()[0] as Element;
        if (el?.localName !== 'msn-chat') return;
        const d = (e as CustomEvent).detail as Record<string, unknown>;
        // Keep the detail cloneable: drop the error object and the engine info.
        const { error: _e, info: _i, ...rest } = d;
        window.__events.push({ type, index: [...document.querySelectorAll<Element>('msn-chat')].indexOf(el), detail: rest });
      });
    }
  });
  await page.goto(`${server.url}/example-e2e.html`);
  const scripts = await page.locator('script').evaluateAll((s) => s.map((x) => [(x as HTMLScriptElement).type, (x as HTMLScriptElement).src]));
  expect(scripts).toEqual([['module', `${server.url}/lib/msn-webgpu.js`]]);

  // Both elements become ready; the shadow roots expose the demo's accessible names.
  await expect(page.getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });
  await expect(page.getByRole('textbox', { name: 'Prompt' })).toHaveCount(2);
  await expect(page.getByRole('button', { name: 'Send' })).toHaveCount(2);
  await expect(page.getByRole('button', { name: 'Stop' })).toHaveCount(2);
  await expect(page.getByRole('log')).toHaveCount(2);
  expect(await page.locator('msn-chat').evaluateAll((els) => els.map((e) => e.shadowRoot?.mode))).toEqual(['open', 'open']);
  // One worker and one engine for the two elements.
  expect(page.workers().map((w) => w.url()).filter((u) => /\/lib\/assets\/worker-[\w-]+\.js$/.test(u))).toHaveLength(1);
  expect(page.workers()).toHaveLength(1);
  expect(await page.evaluate(async () => ((await import('/lib/msn-webgpu.js' as string)) as { sharedEngineModels(): string[] }).sharedEngineModels())).toEqual([`${server.url}${MODEL}`]);

  let ev = await page.evaluate(() => window.__events);
  const progress = ev.filter((e) => e.type === 'progress');
  expect(progress.length).toBeGreaterThanOrEqual(1);
  const lastP = progress.at(-1)!.detail;
  expect(lastP).toMatchObject({ model: `${server.url}${MODEL}`, file: 'model.safetensors' });
  expect(lastP.loadedBytes).toBe(lastP.totalBytes);
  expect(lastP.fraction).toBe(1);
  expect(ev.filter((e) => e.type === 'ready').map((e) => [e.index, e.detail.chat])).toEqual(expect.arrayContaining([[0, false], [1, false]]));

  // Send from the first element's shadow UI: token events, then done; pieces = result text.
  await page.getByRole('button', { name: 'Send' }).first().click();
  await expect.poll(async () => (await page.evaluate(() => window.__events)).filter((e) => e.type === 'done').length, { timeout: 120_000 }).toBe(1);
  ev = await page.evaluate(() => window.__events);
  const tokens = ev.filter((e) => e.type === 'token' && e.index === 0);
  const done = ev.find((e) => e.type === 'done')!;
  expect(done.index).toBe(0);
  expect(tokens.length).toBeGreaterThan(1);
  const result = done.detail.result as { text: string; newTokens: number; steps: number; decode: string; meanAcceptedTokens: number; tokensPerSecond: number };
  expect(tokens.map((t) => t.detail.text).join('')).toBe(result.text);
  expect(tokens.at(-1)!.detail.output).toBe(result.text);
  expect(result).toMatchObject({ newTokens: 8, decode: 'tr-jacobi' });
  expect(result.meanAcceptedTokens).toBeGreaterThanOrEqual(1);
  expect(tokens.map((t) => t.detail.index)).toEqual(tokens.map((_, i) => i));
  await expect(page.getByRole('log').first()).toHaveText(result.text);
  const shot = info.outputPath('component.png');
  await page.screenshot({ path: shot, fullPage: true });
  await info.attach('component', { path: shot, contentType: 'image/png' });

  // FIFO across elements; a queued request aborted before its turn leaves the queue at once.
  const order = await page.evaluate(async () => {
    type Chat = HTMLElement & { generate(p: string, o?: { maxNewTokens?: number; signal?: AbortSignal }): Promise<{ decode: string; newTokens: number }> };
    const [a, b] = [...document.querySelectorAll('msn-chat')] as Chat[];
    const order: string[] = [];
    const ctl = new AbortController();
    const pa = a.generate('def a():\n    """A."""', { maxNewTokens: 4 }).then((r) => order.push(`a:${r.decode}:${r.newTokens}`));
    const pb = b.generate('def b():\n    """B."""', { maxNewTokens: 4 }).then((r) => order.push(`b:${r.decode}:${r.newTokens}`));
    const pc = b.generate('def c():\n    """C."""', { maxNewTokens: 4, signal: ctl.signal }).then(() => order.push('c'), (e: Error) => order.push(`c:${e.name}`));
    ctl.abort();
    await Promise.all([pa, pb, pc]);
    return order;
  });
  expect(order).toEqual(['c:AbortedError', 'a:tr-jacobi:4', 'b:ar:4']);
  ev = await page.evaluate(() => window.__events);
  const aborted = ev.filter((e) => e.type === 'error');
  expect(aborted).toHaveLength(1);
  expect(aborted[0]).toMatchObject({ index: 1, detail: { phase: 'generate', name: 'AbortedError', code: 'aborted' } });
  expect(typeof aborted[0].detail.action).toBe('string');
  expect(ev.filter((e) => e.type === 'done').map((e) => e.index)).toEqual([0, 0, 1]);
  await expect(page.getByRole('status')).toHaveText(['Ready', 'Ready']);

  // The Stop button of an element stops its running request.
  await page.locator('msn-chat').nth(1).evaluate((el) => el.setAttribute('max-new-tokens', '200'));
  await page.getByRole('button', { name: 'Send' }).nth(1).click();
  await expect(page.getByRole('log').nth(1)).not.toBeEmpty();
  await page.getByRole('button', { name: 'Stop' }).nth(1).click();
  await expect.poll(async () => (await page.evaluate(() => window.__events)).filter((e) => e.type === 'error').length).toBe(2);
  await expect(page.getByRole('button', { name: 'Stop' }).nth(1)).toBeDisabled();
  expect(errors).toEqual([]);
});

test('<msn-chat> with a bad model URL fires a load error and shows it', async ({ page }) => {
  await page.goto(`${server.url}/example-e2e.html`);
  const err = await page.evaluate(() => new Promise<Record<string, unknown>>((resolve) => {
    const el = document.createElement('msn-chat');
    el.addEventListener('error', (e) => {
      const { error: _e, ...d } = (e as CustomEvent).detail;
      resolve(d);
    });
    el.setAttribute('model', '/no/such/model/');
    document.body.append(el);
  }));
  expect(err).toMatchObject({ phase: 'load', requestId: null, name: 'NetworkError', code: 'network' });
  expect(String(err.message)).toContain('/no/such/model/config.json');
  await expect(page.locator('msn-chat').last().getByRole('alert')).toContainText('The model could not be downloaded');
});
