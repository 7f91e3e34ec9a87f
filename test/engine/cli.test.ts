// The CLI (the project's main job, headless): one JSON object; node and chromium runtimes agree
// with each other and with the PyTorch golden.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
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

  it('bad input: one readable line and a non-zero exit, no stack trace', async () => {
    const e1 = await cli(['--model', '/nope', '--prompt', 'x']).catch((e) => e);
    expect(e1.code).toBe(1);
    expect(e1.stderr.trim().split('\n').filter((l: string) => !l.startsWith('Warning')).length).toBe(1);
    expect(e1.stderr).toMatch(/NetworkError: Could not read \/nope\/config.json/);
    const e2 = await cli(['--model', fixturePath('tiny-gqa-f32'), '--max-new-tokens', '0', '--prompt', 'x']).catch((e) => e);
    expect(e2.code).toBe(2);
    expect(e2.stderr).toMatch(/--max-new-tokens must be a positive integer/);
  });
});
