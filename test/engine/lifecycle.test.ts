// Engine lifecycle in Node: an executor process that dies, hangs or fails to load (every pending
// and queued call rejects with WorkerLostError within 3 s, the host process lives on and exits by
// itself, a CLI prints one WorkerLostError line), an abort whose stream is never read again (the
// engine's turn is released), and engine.lost's message.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { AbortedError, DeviceLostError, WorkerLostError } from '../../src/errors.js';
import { readProcessFault, type ProcessFault } from '../../src/worker/process-faults.js';
import { fixturePath, golden } from '../helpers/fixtures.js';

/** Every executor process the engine forks (to kill one from outside). */
const forks = vi.hoisted(() => ({ started: [] as ChildProcess[] }));
vi.mock('node:child_process', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:child_process')>();
  const fork = (...args: Parameters<typeof orig.fork>) => {
    const child = orig.fork(...args);
    forks.started.push(child);
    return child;
  };
  return { ...orig, fork };
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

/** What a process printed and how it ended (execFile's rejection carries the same fields). */
interface Run { code: number | null; signal: string | null; killed: boolean; stdout: string; stderr: string }

/** Runs node with `args` and `env` added to this process's environment; never rejects. */
function runNode(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return promisify(execFile)(process.execPath, args, { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 1 << 24 })
    .then(({ stdout, stderr }) => ({ code: 0, signal: null, killed: false, stdout, stderr }), (e: Run) => e);
}

/** The test-only fault variable of the executor process (src/worker/process-faults.ts). */
const faultEnv = (f: ProcessFault) => ({ MSN_TEST_EXECUTOR_FAULT: JSON.stringify(f) });

/**
 * The prompt of the fault scenarios and what greedy decoding makes of it (tiny-gqa-f32, computed
 * in-process). Its first new token is a whole character, so the first streamed piece comes from
 * forward 2 (forward 1 is the prefill) and a fault at forward 3 hits the request after it.
 */
const PROMPT = 'def f(x):';
const reference = { text: '', firstPiece: '' };
beforeAll(async () => {
  const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 128, inline: true });
  const r = await e.complete(PROMPT, { maxNewTokens: 48, decode: 'ar' });
  reference.text = r.text;
  reference.firstPiece = e.tokenizer.decode([r.tokenIds[0]]);
  await e.dispose();
  expect(reference.firstPiece.length).toBeGreaterThan(0);
  expect(reference.text.startsWith(reference.firstPiece)).toBe(true);
});

/** A settled call as test/helpers/fault-scenario.ts reports it. */
type Outcome = { ok: true; value: unknown } | { ok: false; name: string; message: string } | 'pending';
interface Scenario {
  phase: 'load' | 'generate';
  load?: Outcome;
  first?: string;
  running?: Outcome;
  queued?: Outcome;
  lost?: { name: string; code: string; message: string } | null;
  later?: Outcome;
  stats?: Outcome;
}

describe('an executor process that dies or hangs', () => {
  beforeAll(() => {
    // The scenario's host process, beside the executor bundle of test/global-setup.ts.
    execFileSync(process.execPath, ['--input-type=module', '-e', "import { bundleNode } from './scripts/esbuild-node.mjs'; await bundleNode({ 'fault-scenario': 'test/helpers/fault-scenario.ts' }, 'dist-node/test');"]);
  });

  /** Runs the scenario with `fault`; checks that its host process ended by itself, with code 0. */
  async function scenario(fault: ProcessFault, execArgv?: string[]): Promise<Scenario> {
    const r = await runNode(['dist-node/test/fault-scenario.mjs', fixturePath('tiny-gqa-f32'), PROMPT, ...(execArgv ? [JSON.stringify(execArgv)] : [])], faultEnv(fault));
    expect({ code: r.code, signal: r.signal, killed: r.killed }).toEqual({ code: 0, signal: null, killed: false });
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    return JSON.parse(lines[0]) as Scenario;
  }

  for (const [mode, cause, execArgv] of [
    ['throw', /^the executor process exited with code 1 after an uncaught error: injected fault: an uncaught error in the executor process$/, undefined],
    ['exit', /^the executor process exited with code 3$/, undefined],
    ['kill', /^the executor process was killed by SIGKILL \(killed from outside, e\.g\. by the system when memory ran out\)$/, undefined],
    ['abort', /^the executor process was killed by SIGABRT \(a native abort: Dawn or the GPU driver gave up, or JavaScript ran out of heap memory\)$/, undefined],
    ['oom', /^the executor process was killed by SIGABRT \(a native abort: .*JavaScript ran out of heap memory\)$/, ['--max-old-space-size=64']],
    ['hang', /^it stopped answering \(no sign of life for \d+ ms\)$/, undefined],
  ] as const) {
    it(`${mode} mid-generation: the running and the queued request reject with WorkerLostError within 3 s, later calls at once; the host lives on and exits by itself`, async () => {
      // Forward 1 is the prefill, 2 the first decode step (its token is streamed), 3 the next one.
      const s = await scenario({ mode, at: 3 }, execArgv ? [...execArgv] : undefined);
      expect(s.phase).toBe('generate');
      expect(s.first).toBe(reference.firstPiece);
      expect(s.lost).toMatchObject({ name: 'WorkerLostError', code: 'worker-lost' });
      const m = /^The model's worker stopped: (.*)\. Its pending calls were cancelled\. Create a new engine to continue;/.exec(s.lost!.message);
      expect(m?.[1]).toMatch(cause);
      // Both requests, a later request and a later executor call: the same error, none left pending.
      for (const o of [s.running, s.queued, s.later, s.stats]) expect(o).toEqual({ ok: false, name: 'WorkerLostError', message: s.lost!.message });
    });
  }

  for (const [fault, cause] of [
    [{ mode: 'throw', at: 'start' }, /exited with code 1 after an uncaught error: injected fault/],
    [{ mode: 'exit', at: 'start' }, /exited with code 3\./],
    [{ mode: 'abort', at: 'load' }, /killed by SIGABRT/],
  ] as const) {
    it(`a process that fails to load (${fault.mode} at ${fault.at}): createNodeEngine rejects with WorkerLostError; the host exits by itself`, async () => {
      const s = await scenario(fault);
      expect(s.phase).toBe('load');
      expect(s.load).toMatchObject({ ok: false, name: 'WorkerLostError', message: expect.stringMatching(cause) });
    });
  }

  it('killed from outside (SIGKILL) in this process: every call rejects within 3 s with the same error, which names the signal', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await createNodeEngine({ model: fixturePath('tiny-gqa-f32'), contextLength: 128 });
    engines.push(e);
    const child = forks.started.at(-1)!;
    const a = e.generate(g.prompt_text, { maxNewTokens: 48, decode: 'ar' });
    const first = await a.next();
    expect(first.done).toBe(false);
    const b = e.complete(g.prompt_text, { maxNewTokens: 4, decode: 'ar' });
    const lost = e.lost;
    child.kill('SIGKILL');
    const [ra, rb, rl] = await Promise.all([settleWithin((async () => { let r = await a.next(); while (!r.done) r = await a.next(); })(), 3000), settleWithin(b, 3000), settleWithin(lost, 3000)]);
    for (const r of [ra, rb]) {
      expect(r).not.toBe('pending');
      expect(r !== 'pending' && !r.ok && r.error).toBeInstanceOf(WorkerLostError);
    }
    const lostError = rl !== 'pending' && rl.ok ? rl.value : null;
    expect(lostError).toBeInstanceOf(WorkerLostError);
    expect(lostError).toBeInstanceOf(DeviceLostError); // code that handles a lost device handles this too
    expect(lostError!.code).toBe('worker-lost');
    expect(lostError!.message).toMatch(/^The model's worker stopped: the executor process was killed by SIGKILL \(killed from outside/);
    // The queue is free and later calls fail at once with the same error.
    const later = await settleWithin(e.complete('x', { maxNewTokens: 2 }), 100);
    expect(later !== 'pending' && !later.ok && later.error).toBe(lostError);
    await expect(e.executor.gpuStats()).rejects.toBe(lostError);
    await e.dispose();
  });

  it('the test-only fault variable is checked: a malformed value is an error, not a silent no-op', () => {
    expect(readProcessFault({})).toBeNull();
    expect(readProcessFault(faultEnv({ mode: 'abort', at: 2 }))).toEqual({ mode: 'abort', at: 2 });
    expect(() => readProcessFault({ MSN_TEST_EXECUTOR_FAULT: '{"mode":"explode","at":1}' })).toThrow(/MSN_TEST_EXECUTOR_FAULT must be/);
    expect(() => readProcessFault({ MSN_TEST_EXECUTOR_FAULT: '{"mode":"exit","at":0}' })).toThrow(/MSN_TEST_EXECUTOR_FAULT must be/);
  });
});

describe('the CLI when its executor process dies', () => {
  /** One generation streamed by the built CLI, with `args` before its own (a preload) and `env`. */
  async function cli(nodeArgs: string[], env: Record<string, string> = {}): Promise<Run> {
    return runNode([...nodeArgs, 'dist-node/cli.mjs', '--model', fixturePath('tiny-gqa-f32'), '--prompt', PROMPT, '--max-new-tokens', '48', '--decode', 'ar'], env);
  }

  for (const [what, run, cause] of [
    ['an uncaught error', () => cli([], faultEnv({ mode: 'throw', at: 3 })), /exited with code 1 after an uncaught error: injected fault/],
    ['a native abort (SIGABRT)', () => cli([], faultEnv({ mode: 'abort', at: 3 })), /was killed by SIGABRT/],
    ['SIGKILL from outside', () => cli(['--import', './test/helpers/kill-executor-on-output.mjs']), /was killed by SIGKILL/],
  ] as const) {
    it(`${what}: one WorkerLostError line, exit code 1, by itself; stdout holds the tokens streamed before`, async () => {
      const r = await run();
      expect({ code: r.code, signal: r.signal, killed: r.killed }).toEqual({ code: 1, signal: null, killed: false });
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning'));
      expect(lines).toEqual([expect.stringMatching(/^WorkerLostError: The model's worker stopped: the executor process /)]);
      expect(lines[0]).toMatch(cause);
      expect(r.stdout.startsWith(reference.firstPiece)).toBe(true);
      expect(reference.text.startsWith(r.stdout)).toBe(true);
    });
  }
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
  it('states the device-lost prefix and the advice once (executor process)', async () => {
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
