// The CLI (the project's main job, headless): one JSON object; node and chromium runtimes agree
// with each other and with the PyTorch golden.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fixturePath, golden } from '../helpers/fixtures.js';

const run = promisify(execFile);

async function cli(args: string[]) {
  return run(process.execPath, ['dist-node/cli.mjs', ...args], { maxBuffer: 1 << 24, timeout: 240_000 });
}

describe('npm run generate', () => {
  it('--runtime node and --runtime chromium print the golden tokenIds as one JSON object', async () => {
    const g = golden('tiny-mha-tied-f16');
    const args = ['--model', fixturePath('tiny-mha-tied-f16'), '--prompt', g.prompt_text, '--max-new-tokens', '16', '--decode', 'ar', '--json'];
    const outs = [];
    for (const runtime of ['node', 'chromium']) {
      const { stdout } = await cli([...args, '--runtime', runtime]);
      const lines = stdout.trim().split('\n');
      expect(lines.length).toBe(1);
      const r = JSON.parse(lines[0]);
      for (const k of ['text', 'tokenIds', 'newTokens', 'steps', 'meanAcceptedTokens', 'tokensPerSecond', 'adapter']) expect(r).toHaveProperty(k);
      expect(r.tokenIds).toEqual(g.greedy_ids);
      expect(r.runtime).toBe(runtime);
      expect(r.newTokens).toBe(16);
      expect(r.steps).toBe(16);
      outs.push(r);
    }
    expect(outs[0].adapter.vendor).toBe('mesa');
    expect(outs[1].adapter.architecture).toBe('swiftshader');
    expect(outs[0].text).toBe(outs[1].text);
  });

  it('streams text without --json and reports the adapter on stderr', async () => {
    const g = golden('tiny-gqa-f32');
    const { stdout, stderr } = await cli(['--model', fixturePath('tiny-gqa-f32'), '--prompt', g.prompt_text, '--max-new-tokens', '16', '--decode', 'ar']);
    expect(stdout).toBe(`${g.greedy_text}\n`);
    expect(stderr).toMatch(/16 tokens, 16 steps, MAT 1\.00, .* tok\/s on mesa/);
  });

  it('falls back to SwiftShader when the default Vulkan driver gives no adapter, and says so', async () => {
    const g = golden('tiny-gqa-f32');
    const { stdout } = await run(process.execPath, ['dist-node/cli.mjs', '--model', fixturePath('tiny-gqa-f32'), '--prompt', g.prompt_text, '--max-new-tokens', '6', '--decode', 'ar', '--json'],
      { env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' }, timeout: 240_000 });
    const r = JSON.parse(stdout.trim());
    expect(r.adapter.architecture).toBe('swiftshader');
    expect(r.tokenIds).toEqual(g.greedy_ids.slice(0, 6));
  });

  it('--kernel-config gpu on the default model: tr-jacobi with the fixed tree gives exactly ar\'s tokens', async () => {
    // Held-out prompt 4 (`ASTTokens.filename`): no EOS within 24 tokens, and retrieval and the tree both find drafts.
    const prompt = JSON.parse(readFileSync('train/data/test_prompts.jsonl', 'utf8').split('\n')[4]).prompt as string;
    const base = ['--prompt', prompt, '--max-new-tokens', '24', '--kernel-config', 'gpu', '--json'];
    const ar = JSON.parse((await cli([...base, '--decode', 'ar'])).stdout);
    const tr = JSON.parse((await cli([...base, '--decode', 'tr-jacobi', '--tree', 'fixed'])).stdout);
    for (const r of [ar, tr]) expect(r.kernelConfig).toEqual({ preset: 'gpu', key: expect.stringMatching(/^gpu\//) });
    expect(ar.steps).toBe(24);
    expect(tr.tokenIds).toEqual(ar.tokenIds);
    expect(tr.tokenIds).toHaveLength(24);
    // The tree did verify drafts in one forward per step, and accepted some.
    expect(tr.steps).toBeLessThan(tr.newTokens);
    // auto on this software adapter is the cpu configuration.
    const auto = JSON.parse((await cli(['--model', fixturePath('tiny-gqa-f32'), '--prompt', 'x', '--max-new-tokens', '1', '--decode', 'ar', '--json', '--no-self-check'])).stdout);
    expect(auto.kernelConfig.preset).toBe('cpu');
  });

  it('sampling (issue 13 "Done when"): tr-jacobi with the fixed tree gives exactly ar\'s sampled tokenIds; two seeds differ', async () => {
    const prompt = JSON.parse(readFileSync('train/data/test_prompts.jsonl', 'utf8').split('\n')[4]).prompt as string;
    const base = ['--prompt', prompt, '--max-new-tokens', '24', '--temperature', '0.8', '--top-p', '0.95', '--json'];
    const ar = JSON.parse((await cli([...base, '--seed', '7', '--decode', 'ar'])).stdout);
    const tr = JSON.parse((await cli([...base, '--seed', '7', '--decode', 'tr-jacobi', '--tree', 'fixed'])).stdout);
    const other = JSON.parse((await cli([...base, '--seed', '8', '--decode', 'tr-jacobi', '--tree', 'fixed'])).stdout);
    expect(ar.seed).toBe(7);
    expect(tr.seed).toBe(7);
    expect(tr.tokenIds).toEqual(ar.tokenIds);
    expect(tr.tokenIds.length).toBeGreaterThan(0);
    expect(other.tokenIds).not.toEqual(ar.tokenIds);
    const greedy = JSON.parse((await cli(['--prompt', prompt, '--max-new-tokens', '24', '--json', '--decode', 'ar'])).stdout);
    expect(greedy.seed).toBeNull();
  });

  it('bad input: one readable line and a non-zero exit, no stack trace', async () => {
    const e1 = await cli(['--model', '/nope', '--prompt', 'x']).catch((e) => e);
    expect(e1.code).toBe(1);
    expect(e1.stderr.trim().split('\n').filter((l: string) => !l.startsWith('Warning')).length).toBe(1);
    expect(e1.stderr).toMatch(/NetworkError: Could not read \/nope\/config.json/);
    const e2 = await cli(['--model', fixturePath('tiny-gqa-f32'), '--max-new-tokens', '0', '--prompt', 'x']).catch((e) => e);
    expect(e2.code).toBe(2);
    expect(e2.stderr).toMatch(/--max-new-tokens must be a positive integer/);
    const e3 = await cli(['--prompt', 'x', '--kernel-config', 'fast']).catch((e) => e);
    expect(e3.code).toBe(2);
    expect(e3.stdout).toBe('');
    expect(e3.stderr).toMatch(/^InvalidArgumentError: --kernel-config must be one of auto, gpu, cpu, got "fast"\.\n/);
  });
});
