// The decode-step profile of the peers benchmark (bench/peers-profile.ts): the split of the engine's
// per-token time, the kinds' rates, the Markdown, and the README sentence, on a synthetic measurement.
import { describe, expect, it } from 'vitest';
import { renderProfile, renderProfileBrief, summarizeProfile, type DecodeProfileRaw } from '../../bench/peers-profile.ts';
import { BASELINE, renderPeersReadme, summarize, type PeerRun, type PeerRuntimeResult, type PeersResults } from '../../bench/peers-report.ts';

const raw: DecodeProfileRaw = {
  P: 40, dispatches: 26, timing: 'timestamp', reps: 5,
  kinds: [
    { kind: 'rmsnorm', dispatches: 13, ms: 1, flops: 0, bytes: 102400 },
    { kind: 'attention', dispatches: 6, ms: 2, flops: 1e6, bytes: 2e6 },
    { kind: 'matmul gu', dispatches: 6, ms: 4, flops: 8e6, bytes: 4e6 },
    { kind: 'topk', dispatches: 1, ms: 3, flops: 0, bytes: 4e5 },
  ],
  forwardDeviceMs: 11, forwardWallMs: 20, forwardReadbackMs: 25, passSubmitsWallMs: 36, passTotalMedianMs: 12.5, rpcMs: 5,
};

describe('summarizeProfile', () => {
  const p = summarizeProfile(raw, 50, [{ name: 'wllama wasm 1 thread', tokensPerSecond: 200 }, { name: 'broken', tokensPerSecond: 0 }]);
  const withOurs = summarizeProfile(raw, 50, [{ name: 'ours ar', tokensPerSecond: 20 }, { name: 'a', tokensPerSecond: 100 }, { name: 'b', tokensPerSecond: 300 }]);

  it('splits the profiled step into kernels, submit/wait/readback and RPC, which add up to the step', () => {
    expect(p.kernelsMs).toBe(10);
    expect(p.stepMs).toBe(30);
    expect(p.tokenMs).toBe(50);
    expect(p.parts.map((x) => [x.part, x.ms, x.share])).toEqual([
      ['GPU kernels', 10, 10 / 30],
      ['submit + completion wait + readback', 15, 0.5],
      ['worker RPC (Comlink round trip)', 5, 5 / 30],
    ]);
    expect(p.parts.reduce((s, x) => s + x.ms, 0)).toBe(30);
  });

  it('never gives a negative submit part when the separately timed passes overshoot the forward', () => {
    const q = summarizeProfile({ ...raw, forwardReadbackMs: 8 }, 50);
    expect(q.parts[1]).toEqual({ part: 'submit + completion wait + readback', ms: 0, share: 0 });
    expect(q.stepMs).toBe(13);
  });

  it('sorts the kinds slowest first with their share of the token and achieved rates', () => {
    expect(p.kinds.map((k) => k.kind)).toEqual(['matmul gu', 'topk', 'attention', 'rmsnorm']);
    expect(p.kinds[0]).toMatchObject({ share: 4 / 30, gflops: 2, gbps: 1 });
    expect(p.kinds[1].gflops).toBeNull();
    expect(p.kinds[2]).toMatchObject({ gflops: 0.5, gbps: 1 });
    expect(p.flopsPerToken).toBe(9e6);
    expect(p.bytesPerToken).toBe(6502400);
    expect(p.gflops).toBeCloseTo(0.9, 12);
  });

  it('gives the same per-token arithmetic at the peers\' speed, leaving out runtimes without a speed', () => {
    expect(p.peers).toEqual([{ name: 'wllama wasm 1 thread', tokensPerSecond: 200, gflops: 1.8 }]);
  });

  it('refuses a token time that is not positive and a profile without kernels', () => {
    expect(() => summarizeProfile(raw, 0)).toThrow('tokenMs must be positive');
    expect(() => summarizeProfile({ ...raw, kinds: [] }, 50)).toThrow('no kernel kinds');
  });

  it('renders the parts, the kinds and the sums as Markdown', () => {
    const md = renderProfile(p).split('\n');
    expect(md[0]).toBe('One `ar` decode step of ours (T = 1 at KV position 40, 26 dispatches), profiled after the benchmark\'s runs: 30.00 ms (the engine\'s own token in the runs: 50.00 ms; scheduler and page JavaScript, and the machine\'s variation between the two moments, are the difference), split as');
    expect(md).toContain('| submit + completion wait + readback | 15.00 | 50.0% |');
    expect(md).toContain('| matmul gu | 6 | 4.00 | 13.3% | 8.00 | 3906 | 2.00 | 1.00 |');
    expect(md).toContain('| topk | 1 | 3.00 | 10.0% | — | 391 | — | 0.13 |');
    expect(md).toContain('| **sum** | 26 | 10.00 | 33.3% | 9.00 | 6350 | 0.90 | 0.65 |');
    expect(md.join('\n')).toContain('Per-pass total: 10.00 ms as the sum of per-pass medians, 12.50 ms as the median of the repetitions\' totals. Whole forward in one submit: 11.00 ms device time, 20.00 ms submit → done, 25.00 ms with the top-k readback');
    expect(renderProfile(summarizeProfile({ ...raw, passTotalMedianMs: undefined }, 50))).toContain('Per-pass total: 10.00 ms as the sum of per-pass medians. Whole');
    expect(md.join('\n')).toContain('every pass in its own submit: 36.00 ms (1.00 ms per submit beyond its kernel)');
    expect(md.join('\n')).toContain('Our kernels reach 0.90 GFLOP/s on this adapter (9.00 MFLOP per token); the same arithmetic at the other runtimes\' decode speed: wllama wasm 1 thread 1.80 GFLOP/s.');
  });

  it('says so when the per-pass times are wall times', () => {
    expect(renderProfile(summarizeProfile({ ...raw, timing: 'wall', forwardDeviceMs: null }, 50))).toContain('each pass in its own submit, wall time; medians of 5');
  });

  it('renders the README sentence', () => {
    expect(renderProfileBrief(p)).toBe('Profile of our `ar` step (30.00 ms profiled after the runs, 50.00 ms/token in them): GPU kernels 10.00 ms (33.3%), submit + completion wait + readback 15.00 ms (50.0%), '
      + 'worker RPC (Comlink round trip) 5.00 ms (16.7%). '
      + 'Slowest kernels: matmul gu 4.00 ms, topk 3.00 ms, attention 2.00 ms. Our kernels reach 0.90 GFLOP/s on this adapter; the same arithmetic per token at the other runtimes\' speed: wllama wasm 1 thread 1.80 GFLOP/s.');
    expect(renderProfileBrief(withOurs)).toContain('the same arithmetic per token at the other runtimes\' speed: b 2.70, a 0.90 GFLOP/s.');
    expect(renderProfileBrief(summarizeProfile(raw, 50))).toContain('Our kernels reach 0.90 GFLOP/s on this adapter.');
  });
});

describe('the profile in the README block', () => {
  const run = (ids: number[], tps: number): PeerRun => ({ prompt: 'a', rep: 1, ids, newTokens: ids.length, ttftMs: 1, decodeMs: 1, decodeTokensPerSecond: tps });
  const runtimes: PeerRuntimeResult[] = [{ name: 'ours ar', ok: true, loadMs: 1, runs: [run([1, 2], 20)] }, { name: BASELINE, ok: true, loadMs: 1, runs: [run([1, 2], 2)] }];
  const summary = summarize(runtimes, new Map([['a', [1, 2]]]), BASELINE);
  const r: PeersResults = {
    schema: 1, kind: 'peers', date: '2026-12-02T00:00:00Z', commit: 'abc1234', adapter: { vendor: 'v', architecture: 'a', device: '', description: 'D', isFallbackAdapter: false },
    cpuAdapter: false, model: 'm', plan: { name: 'quick', prompts: ['a'], maxNewTokens: 2, runs: 1 }, versions: {},
    machine: { cpus: 2, cpuModel: 'cpu', chromium: '1' }, prompts: [{ id: 'a', ids: [7] }], runtimes, summary, baseline: BASELINE, notes: [], wallMs: 1,
  };

  it('appears only when our ar row carries one', () => {
    expect(renderPeersReadme(r, 'f')).not.toContain('Profile of our');
    summary[0].profile = summarizeProfile(raw, 50);
    expect(renderPeersReadme(r, 'f')).toContain('Profile of our `ar` step (30.00 ms profiled after the runs, 50.00 ms/token in them): GPU kernels 10.00 ms (33.3%)');
  });
});
