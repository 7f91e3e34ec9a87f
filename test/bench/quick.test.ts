// The benchmark's smoke run inside the test suite, so `npm run bench` cannot rot: the real entry
// (bench/run.ts bundled by bench/build.mjs) with --quick — one prompt, 16 tokens, every decode mode
// on a fixture model, a small kernel microbenchmark, the scheduler host cost. It exits non-zero when
// any mode's tokens differ from ar's. Timings are not asserted (targets are measured, not tested).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run bench -- --quick', () => {
  it('runs every mode losslessly and writes JSON + Markdown results', () => {
    const out = mkdtempSync(join(tmpdir(), 'msn-bench-'));
    try {
      execFileSync(process.execPath, ['bench/build.mjs'], { stdio: 'pipe' });
      execFileSync(process.execPath, ['dist-node/bench/bench.mjs', '--quick', '--out', out], { stdio: 'pipe', timeout: 240_000 });
      const files = readdirSync(out).sort();
      expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(1);
      expect(files.filter((f) => f.endsWith('.md'))).toHaveLength(1);
      const r = JSON.parse(readFileSync(join(out, files.find((f) => f.endsWith('.json'))!), 'utf8'));
      expect(r.mismatches).toBe(0);
      expect(r.partial).toBeUndefined();
      const modes = r.models[0].decode.suites['code-completion'];
      expect(modes.map((m: { mode: string }) => m.mode)).toEqual(['ar', 'jacobi', 'retrieval', 'tr-jacobi-fixed', 'tr-jacobi-adaptive']);
      for (const m of modes) {
        expect(m.tokensPerSecond).toBeGreaterThan(0);
        expect(m.mismatches).toBe(0);
        expect(m.newTokens).toBe(3 * 16);
      }
      expect(r.models[0].decode.info.memory.weightsBytes).toBeGreaterThan(0);
      expect(r.kernels.gemv.length).toBeGreaterThan(0);
      expect(r.kernels.ceilings.bandwidthGBps).toBeGreaterThan(0);
      expect(r.kernels.dispatchesPerForward.ar).toBeGreaterThan(0);
      expect(r.host.find((h: { mode: string }) => h.mode === 'tr-jacobi-fixed')).toBeTruthy();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
