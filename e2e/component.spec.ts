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
  expect(result.steps).toBeGreaterThan(0);
  expect(result.meanAcceptedTokens).toBeCloseTo(result.newTokens / result.steps, 10);
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

// Frameworks move elements by removing and re-inserting them in the same task (or with moveBefore()).
// A move must keep the element's request and its stream; a real removal aborts it and, once no
// element uses the engine, disposes it; attribute changes apply to later requests, never a running one.
type Chat = HTMLElement & {
  generate(p: string, o?: { maxNewTokens?: number; decode?: string }): Promise<{ text: string; tokenIds: number[]; newTokens: number; decode: string }>;
  engine: unknown;
};
const MOVE_PROMPT = 'def move():\n    """Move."""';

test('<msn-chat> moved after its third token (appendChild, moveBefore) keeps its stream and ends with the unmoved text', async ({ page }) => {
  await page.goto(`${server.url}/example-e2e.html`);
  await expect(page.getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });
  const r = await page.evaluate(async (prompt) => {
    const a = document.querySelector('msn-chat') as Chat;
    const opts = { maxNewTokens: 24, decode: 'ar' };
    const ref = await a.generate(prompt, opts);
    const home = a.parentElement!;
    const next = a.nextSibling;
    const box = document.body.appendChild(document.createElement('section'));
    const engine = a.engine;
    const run = async (move: () => void) => {
      const pieces: string[] = [];
      const errors: string[] = [];
      let movedAfter = -1;
      const onToken = (e: Event) => {
        const d = (e as CustomEvent<{ text: string; index: number }>).detail;
        pieces.push(d.text);
        if (d.index === 2) { move(); movedAfter = pieces.length; }
      };
      const onError = (e: Event) => errors.push((e as CustomEvent<{ code: string }>).detail.code);
      a.addEventListener('token', onToken);
      a.addEventListener('error', onError);
      try {
        const res = await a.generate(prompt, opts);
        const shadow = a.shadowRoot!;
        return {
          text: res.text, tokenIds: res.tokenIds, pieces: pieces.length, movedAfter, joined: pieces.join(''), errors,
          parent: a.parentElement === box ? 'box' : a.parentElement === home ? 'home' : 'other', sameEngine: a.engine === engine,
          output: shadow.querySelector('[role=log]')!.textContent, status: shadow.querySelector('[role=status]')!.textContent,
        };
      } catch (e) {
        return { rejected: (e as Error).name, errors };
      } finally {
        a.removeEventListener('token', onToken);
        a.removeEventListener('error', onError);
      }
    };
    const appended = await run(() => box.appendChild(a));
    const hasMoveBefore = typeof (Element.prototype as { moveBefore?: unknown }).moveBefore === 'function';
    const movedBefore = await run(() => (home as unknown as { moveBefore(n: Node, c: Node | null): void }).moveBefore(a, next));
    return { ref: { text: ref.text, tokenIds: ref.tokenIds, newTokens: ref.newTokens }, appended, movedBefore, hasMoveBefore };
  }, MOVE_PROMPT);
  expect(r.ref.newTokens).toBe(24);
  expect(r.hasMoveBefore, 'this Chromium has Element.prototype.moveBefore').toBe(true);
  for (const [how, moved, parent] of [['appendChild', r.appended, 'box'], ['moveBefore', r.movedBefore, 'home']] as const) {
    expect(moved, how).toMatchObject({ text: r.ref.text, tokenIds: r.ref.tokenIds, joined: r.ref.text, output: r.ref.text, errors: [], parent, sameEngine: true, status: 'Ready', movedAfter: 3 });
    // The stream went on after the move.
    expect((moved as { pieces: number }).pieces, how).toBeGreaterThan(3);
  }
  expect(await page.evaluate(async () => ((await import('/lib/msn-webgpu.js' as string)) as { sharedEngineModels(): string[] }).sharedEngineModels())).toEqual([`${server.url}${MODEL}`]);
});

test('<msn-chat> removed during a generation aborts it within a second; the engine is disposed after its last element goes', async ({ page }) => {
  await page.goto(`${server.url}/example-e2e.html`);
  await expect(page.getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });
  expect(page.workers()).toHaveLength(1);
  const r = await page.evaluate(async (prompt) => {
    const a = document.querySelector('msn-chat') as Chat;
    let removedAt = 0;
    let abortMs = -1;
    let code = '';
    a.addEventListener('token', (e) => {
      if ((e as CustomEvent<{ index: number }>).detail.index === 2 && !removedAt) { removedAt = performance.now(); a.remove(); }
    });
    a.addEventListener('error', (e: Event) => { code = (e as CustomEvent<{ code: string }>).detail.code; abortMs = performance.now() - removedAt; });
    let outcome = 'resolved';
    try { await a.generate(prompt, { maxNewTokens: 200, decode: 'ar' }); } catch (e) { outcome = (e as Error).name; }
    (window as unknown as { __removed: Chat }).__removed = a;
    return { outcome, code, abortMs, connected: a.isConnected };
  }, MOVE_PROMPT);
  expect(r).toMatchObject({ outcome: 'AbortedError', code: 'aborted', connected: false });
  expect(r.abortMs).toBeGreaterThanOrEqual(0);
  expect(r.abortMs, 'a real removal aborts within a second').toBeLessThan(1000);
  // Inserted again later, the element takes a share of the engine again and works.
  const again = await page.evaluate(async (prompt) => {
    const a = (window as unknown as { __removed: Chat }).__removed;
    document.body.append(a);
    const res = await a.generate(prompt, { maxNewTokens: 4, decode: 'ar' });
    return { newTokens: res.newTokens, status: a.shadowRoot!.querySelector('[role=status]')!.textContent };
  }, MOVE_PROMPT);
  expect(again).toEqual({ newTokens: 4, status: 'Ready' });
  // The other element still uses the engine; once both go, the engine and its worker are disposed.
  const models = () => page.evaluate(async () => ((await import('/lib/msn-webgpu.js' as string)) as { sharedEngineModels(): string[] }).sharedEngineModels());
  await page.evaluate(() => { for (const el of document.querySelectorAll('msn-chat')) el.remove(); });
  expect(await models()).toEqual([`${server.url}${MODEL}`]);
  await expect.poll(models, { timeout: 15_000 }).toEqual([]);
  await expect.poll(() => page.workers().length, { timeout: 15_000 }).toBe(0);
});

test('<msn-chat> attributes changed during a generation (model included) apply after it, never to it', async ({ page }) => {
  const M2 = '/test/fixtures/models/tiny-gqa-f16-untied/';
  await page.goto(`${server.url}/example-e2e.html`);
  await expect(page.getByRole('status')).toHaveText(['Ready', 'Ready'], { timeout: 120_000 });
  const r = await page.evaluate(async ({ prompt, M2 }) => {
    const a = document.querySelector('msn-chat') as Chat;
    a.setAttribute('decode', 'ar');
    a.setAttribute('max-new-tokens', '24');
    const ref = await a.generate(prompt);
    const events: string[] = [];
    for (const type of ['ready', 'done', 'error']) {
      a.addEventListener(type, (e) => {
        const d = (e as CustomEvent<{ model?: string; code?: string }>).detail;
        events.push(type === 'ready' ? `ready ${d.model}` : type === 'error' ? `error ${d.code}` : 'done');
      });
    }
    let later: ReturnType<Chat['generate']> | null = null;
    const onToken = (e: Event) => {
      if ((e as CustomEvent<{ index: number }>).detail.index !== 2 || later) return;
      a.setAttribute('model', M2);
      a.setAttribute('decode', 'tr-jacobi');
      a.setAttribute('max-new-tokens', '5');
      later = a.generate(prompt); // made after the change: the new model and attributes
      a.setAttribute('max-new-tokens', '7'); // after that request was made: not for it
      events.push('changed');
    };
    a.addEventListener('token', onToken);
    const running = await a.generate(prompt).then((x) => ({ text: x.text, tokenIds: x.tokenIds, decode: x.decode }), (e: Error) => ({ rejected: e.name }));
    a.removeEventListener('token', onToken);
    const l = await later!;
    const after = await a.generate(prompt);
    const lib = (await import('/lib/msn-webgpu.js' as string)) as { sharedEngineModels(): string[] };
    return {
      ref: { text: ref.text, tokenIds: ref.tokenIds, decode: ref.decode }, running, events, model: a.getAttribute('model'),
      later: { tokenIds: l.tokenIds, newTokens: l.newTokens, decode: l.decode }, after: { tokenIds: after.tokenIds, newTokens: after.newTokens, decode: after.decode },
      shared: lib.sharedEngineModels().sort(),
    };
  }, { prompt: MOVE_PROMPT, M2 });
  // The running request finished on the old model with the old attributes, untouched.
  expect(r.running).toEqual(r.ref);
  expect(r.ref.tokenIds).toHaveLength(24);
  // Then the element switched models: the new model's `ready` comes after the running request's `done`.
  expect(r.events.slice(0, 3)).toEqual(['changed', 'done', `ready ${server.url}${M2}`]);
  expect(r.events).not.toContain('error aborted');
  // The request made after the change ran on the new model with the attributes of that moment.
  expect(r.later).toMatchObject({ newTokens: 5, decode: 'tr-jacobi' });
  expect(r.after).toMatchObject({ newTokens: 7, decode: 'tr-jacobi' });
  expect(r.after.tokenIds.slice(0, 5)).toEqual(r.later.tokenIds);
  expect(r.later.tokenIds, 'the new model gives other tokens than the old one').not.toEqual(r.ref.tokenIds.slice(0, 5));
  expect(r.shared).toEqual([`${server.url}${MODEL}`, `${server.url}${M2}`].sort());
});

test('<msn-chat chat="off"> sends raw completion prompts to a model that has a chat template', async ({ page }) => {
  await page.goto(`${server.url}/example-e2e.html`);
  const r = await page.evaluate(async (model) => {
    const make = (chat: string | null) => {
      const el = document.createElement('msn-chat') as Chat;
      el.setAttribute('model', model);
      if (chat !== null) el.setAttribute('chat', chat);
      document.body.append(el);
      return el;
    };
    const raw = make('off');
    const templated = make(null);
    const a = await raw.generate('Hello', { maxNewTokens: 2, decode: 'ar' }) as unknown as { promptTokens: number };
    const b = await templated.generate('Hello', { maxNewTokens: 2, decode: 'ar' }) as unknown as { promptTokens: number };
    return { raw: a.promptTokens, templated: b.promptTokens };
  }, '/test/fixtures/models/tiny-mha-tied-f16/');
  // The template adds its markup around the user message; chat="off" sends the text alone.
  expect(r.raw).toBeLessThan(r.templated);
  expect(r.raw).toBeGreaterThan(0);
});

test('<msn-chat temperature top-p seed>: sampled, the same tokens in ar and tr-jacobi; per-call override; a bad value is refused', async ({ page }) => {
  await page.goto(`${server.url}/example-e2e.html`);
  const r = await page.evaluate(async (model) => {
    type R = { tokenIds: number[]; seed: number | null };
    type S = HTMLElement & { generate(p: string, o?: Record<string, unknown>): Promise<R> };
    const el = document.createElement('msn-chat') as S;
    el.setAttribute('model', model);
    el.setAttribute('temperature', '1');
    el.setAttribute('top-p', '0.95');
    el.setAttribute('seed', '7');
    document.body.append(el);
    const ar = await el.generate('x = ', { maxNewTokens: 10, decode: 'ar' });
    const tr = await el.generate('x = ', { maxNewTokens: 10, decode: 'tr-jacobi' });
    const other = await el.generate('x = ', { maxNewTokens: 10, decode: 'tr-jacobi', seed: 8 });
    const greedy = await el.generate('x = ', { maxNewTokens: 10, decode: 'ar', temperature: 0 });
    el.setAttribute('temperature', 'hot');
    const bad = await el.generate('x = ', { maxNewTokens: 2 }).then(() => null, (e: Error) => ({ name: e.name, message: e.message }));
    return { ar, tr, other, greedy, bad };
  }, MODEL);
  expect(r.ar.seed).toBe(7);
  expect(r.tr.tokenIds).toEqual(r.ar.tokenIds);
  expect(r.other.seed).toBe(8);
  expect(r.other.tokenIds).not.toEqual(r.ar.tokenIds);
  expect(r.greedy.seed).toBeNull();
  expect(r.greedy.tokenIds).not.toEqual(r.ar.tokenIds);
  expect(r.bad).toEqual({ name: 'InvalidArgumentError', message: expect.stringContaining('temperature') });
});
