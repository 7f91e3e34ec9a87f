// A host process for test/engine/lifecycle.test.ts, bundled and run by it in a process of its own:
// a Node engine whose executor process fails as MSN_TEST_EXECUTOR_FAULT says (src/worker/process-faults.ts).
// A generation streams its first token, a second request is queued behind it, then the fault hits
// the next forward. Prints one JSON line with what every call became, and never disposes the
// engine: the test checks that this process survives the fault and exits by itself, with code 0.
//   node fault-scenario.mjs <model folder> <prompt> [execArgv of the executor process, JSON]
import { createNodeEngine } from '../../src/engine/node.js';

/** A settled call, or 'pending' if it did not settle within the limit. */
type Outcome = { ok: true; value: unknown } | { ok: false; name: string; message: string } | 'pending';

/** `p`'s outcome, or 'pending' if it has not settled within `ms` (a hang detector, not a speed check). */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), ms); });
  try {
    return await Promise.race([p.then((value) => ({ ok: true as const, value }), (e: Error) => ({ ok: false as const, name: e.name, message: e.message })), pending]);
  } finally {
    clearTimeout(timer);
  }
}

const [model, prompt, execArgv] = process.argv.slice(2);
const created = await settleWithin(createNodeEngine({ model, contextLength: 128, execArgv: execArgv ? (JSON.parse(execArgv) as string[]) : undefined }), 20_000);
if (created === 'pending' || !created.ok) {
  process.stdout.write(`${JSON.stringify({ phase: 'load', load: created })}\n`);
} else {
  const engine = created.value as Awaited<ReturnType<typeof createNodeEngine>>;
  const a = engine.generate(prompt, { maxNewTokens: 48, decode: 'ar' });
  const first = await a.next();
  const b = engine.complete(prompt, { maxNewTokens: 4, decode: 'ar' });
  // The fault fires in the forward that this next() starts.
  const rest = (async () => { for (let r = await a.next(); !r.done; r = await a.next()); })();
  const [running, queued, lost] = await Promise.all([settleWithin(rest, 3000), settleWithin(b, 3000), settleWithin(engine.lost, 3000)]);
  const later = await settleWithin(engine.complete('x', { maxNewTokens: 2 }), 100);
  const stats = await settleWithin(engine.executor.gpuStats(), 100);
  const lostError = lost !== 'pending' && lost.ok ? (lost.value as Error) : null;
  process.stdout.write(`${JSON.stringify({
    phase: 'generate', first: first.value, running, queued,
    lost: lostError && { name: lostError.name, code: (lostError as Error & { code?: string }).code, message: lostError.message },
    later, stats,
  })}\n`);
}
