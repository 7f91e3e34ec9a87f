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
      // `auto` on this software adapter is the cpu configuration, recorded in the JSON and the Markdown.
      expect(r.kernelConfig).toEqual({ choice: 'auto', preset: 'cpu', key: r.models[0].decode.info.kernelConfig.key });
      expect(r.kernelConfig.key).toMatch(/^cpu\//);
      expect(readFileSync(join(out, files.find((f) => f.endsWith('.md'))!), 'utf8')).toContain(`--kernel-config auto\` → \`${r.kernelConfig.key}\``);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);

  it('--kernel-config gpu runs the gpu configuration (decode and kernels), recorded in the JSON, in a file of its own', () => {
    const out = mkdtempSync(join(tmpdir(), 'msn-bench-'));
    try {
      execFileSync(process.execPath, ['bench/build.mjs'], { stdio: 'pipe' });
      execFileSync(process.execPath, ['dist-node/bench/bench.mjs', '--quick', '--out', out, '--kernel-config', 'gpu', '--modes', 'tr-jacobi-fixed', '--no-host'], { stdio: 'pipe', timeout: 240_000 });
      const json = readdirSync(out).filter((f) => f.endsWith('.json'));
      expect(json).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\d-lavapipe-kernels-gpu\.json$/)]);
      const r = JSON.parse(readFileSync(join(out, json[0]), 'utf8'));
      expect(r.mismatches).toBe(0);
      expect(r.plan.kernelConfig).toBe('gpu');
      expect(r.kernelConfig.choice).toBe('gpu');
      expect(r.kernelConfig.preset).toBe('gpu');
      expect(r.models[0].decode.info.kernelConfig.key).toBe(r.kernelConfig.key);
      expect(r.kernels.kernelConfig).toEqual({ preset: 'gpu', key: r.kernelConfig.key });
      expect(r.kernels.matmul.lanes).toBe(16);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);

  it('an unknown --kernel-config exits 2 naming the choices', () => {
    let err: { status: number; stderr: Buffer } | undefined;
    try {
      execFileSync(process.execPath, ['dist-node/bench/bench.mjs', '--quick', '--kernel-config', 'fast'], { stdio: 'pipe' });
    } catch (e) {
      err = e as { status: number; stderr: Buffer };
    }
    expect(err?.status).toBe(2);
    expect(err?.stderr.toString()).toContain('--kernel-config is auto, gpu, cpu');
  });
});
