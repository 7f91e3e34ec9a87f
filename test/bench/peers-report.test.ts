// The peers benchmark's report helpers (bench/peers-report.ts): agreement and first mismatch, medians,
// speed-up relative to transformers.js WebGPU, the table.
import { describe, expect, it } from 'vitest';
import { agreement, BASELINE, firstMismatch, median, README_BEGIN, README_END, renderPeersReadme, renderPeersTable, replacePeersReadme, summarize, type PeerRun, type PeerRuntimeResult, type PeersResults } from '../../bench/peers-report.ts';

const run = (prompt: string, rep: number, ids: number[], tps: number, ttft = 10): PeerRun => ({ prompt, rep, ids, newTokens: ids.length, ttftMs: ttft, decodeMs: 1000 * (ids.length - 1) / tps, decodeTokensPerSecond: tps });

describe('firstMismatch', () => {
  it('is -1 for equal ids, else the first differing index, a shorter output differing at its end', () => {
    expect(firstMismatch([1, 2, 3], [1, 2, 3])).toBe(-1);
    expect(firstMismatch([1, 2, 3], [1, 9, 3])).toBe(1);
    expect(firstMismatch([1, 2], [1, 2, 0])).toBe(2);
    expect(firstMismatch([], [])).toBe(-1);
  });
});

describe('median', () => {
  it('takes the middle value, the mean of the two middle ones for an even count, and refuses nothing', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 10])).toBe(3.5);
    expect(() => median([])).toThrow('median of nothing');
  });
});

describe('agreement', () => {
  it('compares each prompt\'s first run with the reference, naming both tokens at the first difference', () => {
    const ref = new Map([['a', [1, 2, 3]], ['b', [4, 5, 6]]]);
    const ag = agreement([run('a', 1, [1, 2, 3], 5), run('b', 1, [4, 7, 6], 5), run('b', 2, [4, 5, 6], 5)], ref);
    expect(ag).toEqual([
      { prompt: 'a', equal: true, firstMismatch: -1 },
      { prompt: 'b', equal: false, firstMismatch: 1, ours: 5, theirs: 7 },
    ]);
  });
});

describe('summarize', () => {
  const ref = new Map([['a', [1, 2, 3]]]);
  const results: PeerRuntimeResult[] = [
    { name: 'ours ar', ok: true, loadMs: 100, runs: [run('a', 1, [1, 2, 3], 2, 30), run('a', 2, [1, 2, 3], 4, 10), run('a', 3, [1, 2, 3], 3, 20)] },
    { name: 'transformers.js webgpu', ok: true, loadMs: 50, runs: [run('a', 1, [1, 2, 3], 12), run('a', 2, [1, 2, 3], 10), run('a', 3, [1, 2, 3], 11)] },
    { name: 'wllama wasm', ok: true, loadMs: 20, runs: [run('a', 1, [1, 2, 4], 44)] },
    { name: 'wllama webgpu', ok: false, error: 'Error: no WebGPU build\nstack' },
  ];
  const rows = summarize(results, ref, 'transformers.js webgpu');

  it('gives medians, the speed-up over the baseline and the agreement of each runtime', () => {
    expect(rows[0]).toMatchObject({ name: 'ours ar', ok: true, loadMs: 100, ttftMsMedian: 20, decodeTokensPerSecond: 3, agrees: true });
    expect(rows[0].speedupVsBaseline).toBeCloseTo(3 / 11, 12);
    expect(rows[1].speedupVsBaseline).toBe(1);
    expect(rows[2]).toMatchObject({ decodeTokensPerSecond: 44, speedupVsBaseline: 4, agrees: false });
    expect(rows[2].agreement[0]).toMatchObject({ firstMismatch: 2, ours: 3, theirs: 4 });
    expect(rows[3]).toMatchObject({ ok: false, decodeTokensPerSecond: null, speedupVsBaseline: null, agrees: null });
  });

  it('has no speed-ups when the baseline did not run', () => {
    const r = summarize(results.filter((x) => x.name !== 'transformers.js webgpu'), ref, 'transformers.js webgpu');
    expect(r.map((x) => x.speedupVsBaseline)).toEqual([null, null, null]);
  });

  it('renders one table row per runtime with the reason a runtime did not run', () => {
    rows[2].agreement[0].refGap = 0.0123;
    rows[2].agreement[0].refTop1 = 3;
    const t = renderPeersTable(rows, 'transformers.js webgpu').split('\n');
    expect(t[0]).toBe('| runtime | load ms | TTFT ms (median) | decode tok/s (median) | × transformers.js webgpu | greedy ids = ours (ar) |');
    expect(t[2]).toBe('| ours ar | 100 | 20.0 | 3.0 | 0.27 | yes |');
    expect(t[3]).toBe('| transformers.js webgpu | 50 | 10.0 | 11.0 | 1.00 | yes |');
    expect(t[4]).toBe('| wllama wasm | 20 | 10.0 | 44.0 | 4.00 | no: a @2 (3→4, f64 gap 1.2e-2, f64 top-1 ours) |');
    expect(t[5]).toBe('| wllama webgpu | — | — | — | — | did not run: Error: no WebGPU build |');
  });
});

describe('renderPeersReadme / replacePeersReadme', () => {
  const ref = new Map([['a', [1, 2, 3]]]);
  const runtimes: PeerRuntimeResult[] = [
    { name: 'ours ar', ok: true, loadMs: 100, runs: [run('a', 1, [1, 2, 3], 10)] },
    { name: BASELINE, ok: true, loadMs: 50, runs: [run('a', 1, [1, 2, 3], 2)] },
    { name: 'transformers.js wasm', ok: true, loadMs: 5, runs: [run('a', 1, [1, 2, 3], 15)] },
    { name: 'wllama wasm 1 thread', ok: false, error: 'RuntimeError: x' },
  ];
  const r: PeersResults = {
    schema: 1, kind: 'peers', date: '2026-12-02T00:00:00Z', commit: 'abc1234', adapter: { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)', isFallbackAdapter: false },
    cpuAdapter: true, model: 'm', plan: { name: 'quick', prompts: ['a'], maxNewTokens: 16, runs: 3 }, versions: { '@wllama/wllama': '3.13.0' },
    machine: { cpus: 2, cpuModel: 'cpu', chromium: '140' }, prompts: [{ id: 'a', ids: [7] }], runtimes, summary: summarize(runtimes, ref, BASELINE), baseline: BASELINE, notes: [], wallMs: 1,
  };
  const block = renderPeersReadme(r, 'bench/results/x.json');

  it('names the adapter as a CPU adapter and states ours against the baseline and the fastest runtime', () => {
    expect(block.startsWith(README_BEGIN) && block.endsWith(`${README_END}\n`)).toBe(true);
    expect(block).toContain('Adapter: SwiftShader Device (Subzero) (a **CPU adapter**: WebGPU runs on the CPU)');
    expect(block).toContain('Our `ar` decodes at 10.0 tok/s, 5.0x transformers.js WebGPU (2.0 tok/s) on the same adapter.');
    expect(block).toContain('Faster than our `ar` here: transformers.js wasm 1.5x.');
    expect(block).toContain('Did not run here: wllama wasm 1 thread');
    expect(block).toContain('| ours ar | 100 | 10.0 | 10.0 | 5.00 | yes |');
  });

  it('says "slower" with the factor when the baseline is faster, and lists the faster runtimes', () => {
    const slow = { ...r, summary: summarize([runtimes[0], { ...runtimes[1], runs: [run('a', 1, [1, 2, 3], 120)] }], ref, BASELINE) };
    const b = renderPeersReadme(slow, 'f');
    expect(b).toContain('Our `ar` decodes at 10.0 tok/s, 12.0x slower than transformers.js WebGPU (120.0 tok/s) on the same adapter.');
    expect(b).toContain('Faster than our `ar` here: transformers.js webgpu 12.0x.');
    expect(b).toContain('commit `abc1234`;');
  });

  it('replaces only the block between the markers', () => {
    const readme = `intro\n${README_BEGIN}\nold\n${README_END}\noutro\n`;
    expect(replacePeersReadme(readme, block)).toBe(`intro\n${block}outro\n`);
    expect(() => replacePeersReadme('no markers', block)).toThrow('no peers block markers');
  });
});
