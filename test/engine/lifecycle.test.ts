// Engine lifecycle in Node: a worker thread that dies or fails to load (every pending and queued
// call rejects with WorkerLostError; a CLI process exits by itself), an abort whose stream is never
// read again (the engine's turn is released), and engine.lost's message.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Worker as NodeWorker } from 'node:worker_threads';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { AbortedError, DeviceLostError, WorkerLostError } from '../../src/errors.js';
import { fixturePath, golden } from '../helpers/fixtures.js';

/** Every worker thread the engine starts; `replaceScript` swaps the next one's code (load failures). */
const threads = vi.hoisted(() => ({ started: [] as NodeWorker[], replaceScript: null as string | null }));
vi.mock('node:worker_threads', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:worker_threads')>();
  class RecordedWorker extends orig.Worker {
    constructor(file: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      const code = threads.replaceScript;
      threads.replaceScript = null;
      super(code ?? file, code ? { ...options, eval: true } : options);
      threads.started.push(this);
    }
  }
  return { ...orig, Worker: RecordedWorker };
});

const engines: Engine[] = [];
afterAll(async () => { for (const e of engines) await e.dispose(); });

/** `p`'s outcome, or 'pending' if it has not settled within `ms` (a hang detector, not a speed check). */
async function settleWithin<T>(p: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | 'pending'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), ms); });
  try {
    return await Promise.race([p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })), pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a worker thread that dies', () => {
  it('rejects the running and the queued generation with WorkerLostError within 3 s; later calls fail at once', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 128 });
    engines.push(e);
    const worker = threads.started.at(-1)!;
    const a = e.generate(g.prompt_text, { maxNewTokens: 48, decode: 'ar' });
    const first = await a.next();
    expect(first.done).toBe(false);
    const b = e.complete(g.prompt_text, { maxNewTokens: 4, decode: 'ar' });
    const lost = e.lost;
    await worker.terminate();
    const [ra, rb, rl] = await Promise.all([settleWithin((async () => { let r = await a.next(); while (!r.done) r = await a.next(); })(), 3000), settleWithin(b, 3000), settleWithin(lost, 3000)]);
    for (const r of [ra, rb]) {
      expect(r).not.toBe('pending');
      expect(r !== 'pending' && !r.ok && r.error).toBeInstanceOf(WorkerLostError);
    }
    const lostError = rl !== 'pending' && rl.ok ? rl.value : null;
    expect(lostError).toBeInstanceOf(WorkerLostError);
    expect(lostError).toBeInstanceOf(DeviceLostError); // code that handles a lost device handles this too
    expect(lostError!.code).toBe('worker-lost');
    expect(lostError!.message).toMatch(/^The model's worker stopped: the worker thread exited with code 1\. Its pending calls were cancelled\. Create a new engine to continue;/);
    // The queue is free and later calls fail at once with the same error.
    const later = await settleWithin(e.complete('x', { maxNewTokens: 2 }), 100);
    expect(later !== 'pending' && !later.ok && later.error).toBe(lostError);
    await expect(e.executor.gpuStats()).rejects.toBe(lostError);
    await e.dispose();
  });

  for (const [what, script, cause] of [
    ['throws while loading its script (failed import)', 'throw new Error("cannot import dawn.node")', /uncaught error: cannot import dawn\.node/],
    ['exits while loading', 'process.exit(3)', /exited with code 3/],
  ] as const) {
    it(`a worker that ${what}: createNodeEngine rejects with WorkerLostError`, async () => {
      threads.replaceScript = script;
      const r = await settleWithin(createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64 }), 5000);
      expect(r).not.toBe('pending');
      const err = r !== 'pending' && !r.ok ? r.error : null;
      expect(err).toBeInstanceOf(WorkerLostError);
      expect((err as Error).message).toMatch(cause);
    });
  }

  it('the CLI exits by itself, with one readable line and code 1, when its worker dies mid-generation', async () => {
    const g = golden('tiny-gqa-f32');
    // The preload terminates every worker thread at the first streamed text on stdout.
    const r = await promisify(execFile)(process.execPath, ['--import', './test/helpers/kill-workers-on-output.mjs', 'dist-node/cli.mjs', '--model', fixturePath('tiny-gqa-f32'), '--prompt', g.prompt_text, '--max-new-tokens', '48', '--decode', 'ar'], { timeout: 60_000 })
      .then(() => null, (e: { code: number | null; killed: boolean; stdout: string; stderr: string }) => e);
    expect(r).not.toBeNull();
    expect(r!.killed).toBe(false); // it exited by itself, not by the test's timeout
    expect(r!.code).toBe(1);
    const lines = r!.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning'));
    expect(lines).toEqual([expect.stringMatching(/^WorkerLostError: The model's worker stopped: the worker thread exited with code 1\./)]);
    expect(r!.stdout.length).toBeGreaterThan(0);
    expect(g.greedy_text.startsWith(r!.stdout)).toBe(true);
  });
});

describe('abort', () => {
  it('releases the engine when the aborted stream is never read again: the next generation runs to the golden end', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true });
    engines.push(e);
    for (const decode of ['ar', 'tr-jacobi'] as const) {
      const ac = new AbortController();
      const it = e.generate(g.prompt_text, { maxNewTokens: 30, decode, tree: 'fixed', signal: ac.signal });
      for (let i = 0; i < 3; i++) expect((await it.next()).done).toBe(false);
      ac.abort(); // and never call it.next() again
      const next = await settleWithin(e.complete(g.prompt_text, { maxNewTokens: 16, decode }), 20_000);
      expect(next).not.toBe('pending');
      expect(next !== 'pending' && next.ok && next.value.tokenIds).toEqual(g.greedy_ids);
      // Reading the abandoned stream later only reports the abort; it does not touch the executor.
      await expect(it.next()).rejects.toBeInstanceOf(AbortedError);
    }
  });

  it('an abort while parked at a yield, with the stream read again at once, throws AbortedError and keeps FIFO', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64, inline: true });
    engines.push(e);
    const ac = new AbortController();
    const it = e.generate(g.prompt_text, { maxNewTokens: 30, decode: 'ar', signal: ac.signal });
    await it.next();
    const queued = e.complete(g.prompt_text, { maxNewTokens: 8, decode: 'ar' });
    ac.abort();
    await expect(it.next()).rejects.toBeInstanceOf(AbortedError);
    expect((await queued).tokenIds).toEqual(g.greedy_ids.slice(0, 8));
  });
});

describe('engine.lost', () => {
  it('states the device-lost prefix and the advice once (worker thread)', async () => {
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 64 });
    engines.push(e);
    await e.executor.simulateDeviceLoss();
    const lost = await e.lost;
    expect(lost).toBeInstanceOf(DeviceLostError);
    expect(lost).not.toBeInstanceOf(WorkerLostError);
    expect(lost.message.match(/The GPU device was lost/g)).toHaveLength(1);
    expect(lost.message.match(/Create a new engine/g)).toHaveLength(1);
    expect(lost.message).toMatch(/^The GPU device was lost \(destroyed\): /);
  });
});
