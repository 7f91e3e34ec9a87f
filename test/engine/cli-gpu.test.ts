// The CLI under GPU faults (issue 16, item 7): a kernel the device rejects, a kernel over the
// device limits or a rejected forward exit 1 with a typed error and no result; Dawn's native
// messages go to stderr, so with --json stdout is exactly one JSON object on success and empty on failure. Also the self-check's
// report and --no-self-check (item 5).
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fixturePath, golden } from '../helpers/fixtures.js';
import type { GpuFaults } from '../../src/worker/api.js';

const run = promisify(execFile);

/** Runs the built CLI with test faults; resolves {code, stdout, stderr} whatever the exit code. */
async function cli(args: string[], faults?: GpuFaults): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, ...(faults ? { MSN_TEST_FAULTS: JSON.stringify(faults) } : {}) };
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist-node/cli.mjs', ...args], { env, maxBuffer: 1 << 24, timeout: 240_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** stderr lines that report an error (Dawn's own warnings about its limits are left out). */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /^[A-Za-z]*Error: /.test(l));

const g = golden('tiny-gqa-f32');
const base = ['--model', fixturePath('tiny-gqa-f32'), '--prompt', g.prompt_text, '--max-new-tokens', '6', '--decode', 'ar'];

describe('npm run generate under GPU faults', () => {
  it('a kernel the device rejects: exit 1, one typed error line on stderr, nothing on stdout', async () => {
    // Three runs: the failed load must let every other pipeline creation settle before it destroys the
    // device (Dawn aborts the process on a pending createComputePipelineAsync; that lost the output).
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await cli([...base, '--json'], { workgroupSize: { kernel: 'swiglu', size: 4096 }, skipLimitCheck: true }));
    for (const x of runs) expect([x.code, x.stderr.includes('Promise not resolved'), x.stdout, errorLines(x.stderr).length]).toEqual([1, false, '', 1]);
    const r = runs[0];
    // One readable line: Dawn's multi-line message is joined (its limit warnings are not ours).
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning: max'))).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(/^GpuValidationError: The GPU \(mesa .*llvmpipe.*\) rejected kernel swiglu:.*workgroup_size\(4096, 1, 1\)/);
  });

  it('a kernel over the device limits: exit 1, LimitTooLowError naming the limit', async () => {
    const r = await cli([...base, '--json'], { workgroupSize: { kernel: 'topk', size: 1024 } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^LimitTooLowError: GPU limit maxComputeWorkgroupSizeX is 256, but 1024 is required\. Kernel topk:/)]);
  });

  it('a forward the device rejects: exit 1 with GpuValidationError, never tokenIds', async () => {
    const r = await cli([...base, '--json'], { destroyScratch: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^GpuValidationError: .*a forward/)]);
  });

  it('Dawn\'s native log goes to stderr: stdout is exactly the JSON result, with the self-check report', async () => {
    const r = await cli([...base, '--json'], { shaderWarning: 'swiglu' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: code is unreachable/); // printed by the native library
    const out = JSON.parse(r.stdout);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(out.tokenIds).toEqual(g.greedy_ids.slice(0, 6));
    expect(out.selfCheck).toMatchObject({ ok: true, layer: 0, tokens: 17 }); // forwards of 9, 5, 2, 1 rows: every matmul row class
    expect(out.selfCheck.maxAbsErr).toBeLessThanOrEqual(out.selfCheck.tolerance);
    expect(out.selfCheck.ms).toBeGreaterThan(0);
  });

  it('streamed text too: stdout is exactly the generated text', async () => {
    const r = await cli([...base, '--max-new-tokens', '16'], { shaderWarning: 'rmsnorm' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${g.greedy_text}\n`);
    expect(r.stderr).toMatch(/warning: code is unreachable/);
  });

  it('--no-self-check skips the self-check', async () => {
    const r = await cli([...base, '--json', '--no-self-check']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.selfCheck).toBeNull();
    expect(out.tokenIds).toEqual(g.greedy_ids.slice(0, 6));
  });

  it('a bad option with --json: exit 2, one error line and the --help pointer on stderr, nothing on stdout', async () => {
    const r = await cli([...base, '--json', '--max-new-tokens', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^InvalidArgumentError: --max-new-tokens must be a positive integer/)]);
  });

  it('a reader that goes away (`| head`): the CLI stops quietly, no EPIPE stack trace', async () => {
    const args = ['--model', fixturePath('tiny-gqa-f32'), '--prompt', g.prompt_text, '--max-new-tokens', '40', '--decode', 'ar'];
    const child = spawn(process.execPath, ['dist-node/cli.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += String(d); });
    child.stdout.once('data', () => child.stdout.destroy()); // like `head -c 1`
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(stderr).not.toMatch(/EPIPE|Unhandled|at .*\.m?js:\d+/);
    expect(code).toBe(0);
  });

  it('--help goes to stdout', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npm run generate/);
    expect(r.stdout).toContain('--no-self-check');
  });
});
