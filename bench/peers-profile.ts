/**
 * Where one of our `ar` decode steps spends its time (peers benchmark, issue 14): the raw measurement
 * of bench/decode-profile.ts (taken in a bench-only Web Worker on the same adapter as the engine), the
 * split of the engine's measured per-token time into GPU kernels, submit/wait/readback, worker RPC
 * and the rest (the decode scheduler's JS on the page), and its Markdown. Pure functions (tested in
 * test/bench/peers-profile.test.ts).
 */

/** Kernel time of one kind of pass in one decode forward (T = 1). */
export interface ProfileKind {
  /** `matmul qkv`, `matmul lm_head`, `attention`, `rmsnorm`, ... (bench/kernels.ts kindOf). */
  kind: string;
  /** Dispatches of this kind in one forward. */
  dispatches: number;
  /** Device time per forward, ms: the sum over its dispatches of each dispatch's median. */
  ms: number;
  /** Floating-point operations per forward (multiply-add = 2; 0 where not counted: norms, copies, top-k). */
  flops: number;
  /** Global-memory bytes read per forward (the kernels' traffic model, `Pass.reads`). */
  bytes: number;
}

/** What bench/decode-profile.ts measures (medians over `reps` repetitions). */
export interface DecodeProfileRaw {
  /** KV rows before the profiled token (the decode position). */
  P: number;
  dispatches: number;
  /** Per-pass times: GPU timestamps around each pass, or (no timestamp-query) each pass in its own submit, wall. */
  timing: 'timestamp' | 'wall';
  reps: number;
  kinds: ProfileKind[];
  /** The whole forward in one compute pass and one submit: device time, ms (null without timestamps). */
  forwardDeviceMs: number | null;
  /** The same, wall time from submit to onSubmittedWorkDone, ms. */
  forwardWallMs: number;
  /** As the executor does it: write ids/positions, encode, submit, mapAsync of the top-k readback, ms. */
  forwardReadbackMs: number;
  /** Every pass in its own submit, each awaited with onSubmittedWorkDone: sum of the medians, ms. */
  passSubmitsWallMs: number;
  /**
   * Median over the repetitions of one repetition's per-pass total, ms (the kinds' ms are per-pass
   * medians, whose sum reads lower on a loaded machine). Absent in files written before it was added.
   */
  passTotalMedianMs?: number;
  /** An empty Comlink call page → worker → page, ms. */
  rpcMs: number;
}

/** One part of the per-token time. */
export interface ProfilePart {
  part: string;
  ms: number;
  /** ms / the engine's per-token time. */
  share: number;
}

/** The profile on our `ar` row (`profile` in the results JSON). */
export interface DecodeProfile {
  raw: DecodeProfileRaw;
  /** The engine's decode time per token in the benchmark, ms (1000 / its median tok/s). */
  tokenMs: number;
  /** The profiled step, ms: the executor-like forward with its top-k readback + one worker RPC round trip. */
  stepMs: number;
  /** Kernel kinds, slowest first, with ms per token, share of stepMs and achieved rates. */
  kinds: Array<ProfileKind & { share: number; gflops: number | null; gbps: number }>;
  /** Sum of the kinds' ms (GPU execution of one token). */
  kernelsMs: number;
  /** kernels + submit/wait/readback + RPC = stepMs (shares of stepMs). */
  parts: ProfilePart[];
  flopsPerToken: number;
  bytesPerToken: number;
  /** flopsPerToken / kernelsMs, GFLOP/s (what SwiftShader achieves on our kernels). */
  gflops: number;
  /** Per other runtime: flopsPerToken × its decode tok/s, GFLOP/s (the same arithmetic, done at its speed). */
  peers: Array<{ name: string; tokensPerSecond: number; gflops: number }>;
}

/**
 * Splits the profiled step (`raw`, measured after the benchmark's runs: the executor-like forward
 * with its top-k readback plus one worker RPC round trip) into GPU kernels (sum of per-pass device
 * times), submit + completion wait + readback (that forward's wall time minus the kernels, at least 0)
 * and worker RPC (an empty Comlink round trip); shares are of the step, so they add up to it (the
 * kernels' part can exceed it only when the separately timed passes sum to more than the whole
 * forward). `tokenMs`, the engine's own per-token time in the benchmark, is reported beside it, not
 * split: the scheduler's and page JavaScript plus the machine's variation between the two moments are
 * the difference. `peers`: other runtimes' decode tok/s, turned into the GFLOP/s the same per-token
 * arithmetic reaches at their speed.
 * @throws Error when tokenMs is not positive or raw has no kinds.
 */
export function summarizeProfile(raw: DecodeProfileRaw, tokenMs: number, peers: ReadonlyArray<{ name: string; tokensPerSecond: number }> = []): DecodeProfile {
  if (!(tokenMs > 0)) throw new Error(`tokenMs must be positive, got ${tokenMs}`);
  if (!raw.kinds.length) throw new Error('profile has no kernel kinds');
  const kernelsMs = raw.kinds.reduce((s, k) => s + k.ms, 0);
  const flopsPerToken = raw.kinds.reduce((s, k) => s + k.flops, 0);
  const bytesPerToken = raw.kinds.reduce((s, k) => s + k.bytes, 0);
  const stepMs = raw.forwardReadbackMs + raw.rpcMs;
  const kinds = [...raw.kinds].sort((a, b) => b.ms - a.ms).map((k) => ({
    ...k, share: k.ms / stepMs, gflops: k.flops > 0 && k.ms > 0 ? k.flops / k.ms / 1e6 : null, gbps: k.ms > 0 ? k.bytes / k.ms / 1e6 : 0,
  }));
  const submit = Math.max(0, raw.forwardReadbackMs - kernelsMs);
  const part = (p: string, ms: number): ProfilePart => ({ part: p, ms, share: ms / stepMs });
  return {
    raw, tokenMs, stepMs, kinds, kernelsMs,
    parts: [part('GPU kernels', kernelsMs), part('submit + completion wait + readback', submit), part('worker RPC (Comlink round trip)', raw.rpcMs)],
    flopsPerToken, bytesPerToken, gflops: flopsPerToken / kernelsMs / 1e6,
    peers: peers.filter((p) => p.tokensPerSecond > 0).map((p) => ({ name: p.name, tokensPerSecond: p.tokensPerSecond, gflops: (flopsPerToken * p.tokensPerSecond) / 1e9 })),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const ms = (x: number) => x.toFixed(x < 1 ? 3 : 2);
const rate = (x: number | null) => (x === null ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(1));

/** The profile as Markdown: the parts of a token, the kernel kinds, and the GFLOP/s comparison. */
export function renderProfile(p: DecodeProfile): string {
  const r = p.raw;
  const lines = [
    `One \`ar\` decode step of ours (T = 1 at KV position ${r.P}, ${r.dispatches} dispatches), profiled after the benchmark's runs: ${ms(p.stepMs)} ms (the engine's own token in the runs: ${ms(p.tokenMs)} ms; scheduler and page JavaScript, and the machine's variation between the two moments, are the difference), split as`,
    '',
    '| part | ms/token | share |',
    '|---|---:|---:|',
    ...p.parts.map((x) => `| ${x.part} | ${ms(x.ms)} | ${pct(x.share)} |`),
    '',
    `GPU kernels by kind (${r.timing === 'timestamp' ? 'timestamp-query around each pass' : 'each pass in its own submit, wall time'}; medians of ${r.reps}):`,
    '',
    '| kernel | dispatches | ms/token | share of step | MFLOP | KiB read | GFLOP/s | GB/s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...p.kinds.map((k) => `| ${k.kind} | ${k.dispatches} | ${ms(k.ms)} | ${pct(k.share)} | ${k.flops ? (k.flops / 1e6).toFixed(2) : '—'} | ${(k.bytes / 1024).toFixed(0)} | ${rate(k.gflops)} | ${rate(k.gbps)} |`),
    `| **sum** | ${r.dispatches} | ${ms(p.kernelsMs)} | ${pct(p.kernelsMs / p.stepMs)} | ${(p.flopsPerToken / 1e6).toFixed(2)} | ${(p.bytesPerToken / 1024).toFixed(0)} | ${rate(p.gflops)} | ${rate(p.bytesPerToken / p.kernelsMs / 1e6)} |`,
    '',
    `Per-pass total: ${ms(p.kernelsMs)} ms as the sum of per-pass medians${r.passTotalMedianMs === undefined ? '' : `, ${ms(r.passTotalMedianMs)} ms as the median of the repetitions' totals`}. Whole forward in one submit: ${r.forwardDeviceMs === null ? 'no device time' : `${ms(r.forwardDeviceMs)} ms device time`}, ${ms(r.forwardWallMs)} ms submit → done, ${ms(r.forwardReadbackMs)} ms with the top-k readback (mapAsync) as the executor does it; every pass in its own submit: ${ms(r.passSubmitsWallMs)} ms (${ms((r.passSubmitsWallMs - p.kernelsMs) / r.dispatches)} ms per submit beyond its kernel).`,
    `Our kernels reach ${rate(p.gflops)} GFLOP/s on this adapter (${(p.flopsPerToken / 1e6).toFixed(2)} MFLOP per token); the same arithmetic at the other runtimes' decode speed: ${p.peers.length ? p.peers.map((x) => `${x.name} ${rate(x.gflops)} GFLOP/s`).join(', ') : 'none measured'}.`,
    '',
  ];
  return lines.join('\n');
}

/**
 * The README's short form: the parts in one sentence, the three slowest kernel kinds, and the GFLOP/s
 * of our kernels against the other runtimes' (those whose name does not start with `ours`), fastest first.
 */
export function renderProfileBrief(p: DecodeProfile): string {
  const top = p.kinds.slice(0, 3).map((k) => `${k.kind} ${ms(k.ms)} ms`).join(', ');
  const others = p.peers.filter((x) => !x.name.startsWith('ours')).sort((a, b) => b.gflops - a.gflops);
  return `Profile of our \`ar\` step (${ms(p.stepMs)} ms profiled after the runs, ${ms(p.tokenMs)} ms/token in them): ${p.parts.map((x) => `${x.part} ${ms(x.ms)} ms (${pct(x.share)})`).join(', ')}. `
    + `Slowest kernels: ${top}. Our kernels reach ${rate(p.gflops)} GFLOP/s on this adapter${others.length ? `; the same arithmetic per token at the other runtimes' speed: ${others.map((x) => `${x.name} ${rate(x.gflops)}`).join(', ')} GFLOP/s` : ''}.`;
}
