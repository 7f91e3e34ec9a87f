// Hugging Face names and links at every Node entry point (the CLI, createNodeEngine, the bench):
// `hf:owner/name[@rev]` is fetched from the Hub endpoint (here a local server, through
// MSN_HF_ENDPOINT), and a Hub that cannot be reached is a NetworkError naming the URL tried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createNodeEngine } from '../../src/engine/node.js';
import { InvalidArgumentError, NetworkError } from '../../src/errors.js';
import { fixturePath, golden } from '../helpers/fixtures.js';
import { closedPort, serveModel, type ModelServer } from '../helpers/http-model.js';

const run = promisify(execFile);
const FIXTURE = 'tiny-gqa-f32';

async function cli(args: string[], env: Record<string, string>) {
  return run(process.execPath, ['dist-node/cli.mjs', ...args], { maxBuffer: 1 << 24, timeout: 240_000, env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** stderr without Dawn's harmless lavapipe warnings. */
const errLines = (stderr: string) => stderr.trim().split('\n').filter((l) => l && !l.startsWith('Warning'));

describe('hf: model names at the Node entry points', () => {
  let hub: ModelServer;
  let endpoint: string;
  let refused: string;
  const g = golden(FIXTURE);
  beforeAll(async () => {
    // The Hub's resolve layout: /owner/name/resolve/<rev>/<file>; here for the revision refs/pr/1.
    hub = await serveModel(fixturePath(FIXTURE), '/owner/name/resolve/refs/pr/1/');
    endpoint = hub.origin;
    refused = `http://127.0.0.1:${await closedPort()}`;
  });
  afterAll(() => hub.close());

  it('CLI: --model hf:owner/name@rev loads from the Hub endpoint and prints the golden tokens', async () => {
    const r = await cli(['--model', 'hf:owner/name@refs/pr/1', '--prompt', g.prompt_text, '--max-new-tokens', '8', '--decode', 'ar', '--json'], { MSN_HF_ENDPOINT: endpoint });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.tokenIds).toEqual(g.greedy_ids.slice(0, 8));
    expect(out.model).toBe(`${endpoint}/owner/name/resolve/refs%2Fpr%2F1/`);
    expect(hub.log).toContain('GET /owner/name/resolve/refs/pr/1/config.json');
  });

  it('CLI: an unreachable Hub is one NetworkError line naming the URL tried, exit 1', async () => {
    const r = await cli(['--model', 'hf:owner/name', '--prompt', 'x'], { MSN_HF_ENDPOINT: refused });
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^NetworkError: Could not read ${refused}/owner/name/resolve/main/manifest\\.json \\(ECONNREFUSED\\)`))]);
  });

  it('CLI: a location that is none is an InvalidArgumentError, exit 2', async () => {
    const r = await cli(['--model', 'hf:owner', '--prompt', 'x'], {});
    expect(r.code).toBe(2);
    expect(errLines(r.stderr)[0]).toMatch(/^InvalidArgumentError: Model location "hf:owner" is not hf:owner\/name/);
  });

  it('createNodeEngine: hf: names use MSN_HF_ENDPOINT; the engine generates the golden tokens', async () => {
    const saved = process.env.MSN_HF_ENDPOINT;
    process.env.MSN_HF_ENDPOINT = endpoint;
    try {
      const engine = await createNodeEngine({ model: 'hf:owner/name@refs%2Fpr%2F1', inline: true, contextLength: 64 });
      try {
        const r = await engine.complete(g.prompt_text, { maxNewTokens: 6, decode: 'ar' });
        expect(r.tokenIds).toEqual(g.greedy_ids.slice(0, 6));
      } finally {
        await engine.dispose();
      }
      process.env.MSN_HF_ENDPOINT = refused;
      const e = await createNodeEngine({ model: 'hf:owner/name', inline: true }).then(() => null, (x: Error) => x);
      expect(e).toBeInstanceOf(NetworkError);
      expect((e as NetworkError).detail).toEqual({ url: `${refused}/owner/name/resolve/main/manifest.json`, status: 'ECONNREFUSED' });
      await expect(createNodeEngine({ model: 'https://huggingface.co/datasets/owner/name', inline: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    } finally {
      if (saved === undefined) delete process.env.MSN_HF_ENDPOINT;
      else process.env.MSN_HF_ENDPOINT = saved;
    }
  });

  it('bench: --model takes the same forms (hf: through MSN_HF_ENDPOINT) and names the model owner/name', async () => {
    const out = mkdtempSync(join(tmpdir(), 'msn-bench-loc-'));
    try {
      execFileSync(process.execPath, ['bench/build.mjs'], { stdio: 'pipe' });
      const bad = (() => {
        try {
          execFileSync(process.execPath, ['dist-node/bench/bench.mjs', '--model', 'hf:owner'], { stdio: 'pipe' });
          return null;
        } catch (e) {
          return e as { status: number; stderr: Buffer };
        }
      })();
      expect(bad?.status).toBe(2);
      expect(String(bad?.stderr)).toMatch(/Model location "hf:owner" is not hf:owner\/name/);
      // Asynchronously: the Hub server runs in this process.
      await run(process.execPath, ['dist-node/bench/bench.mjs', '--quick', '--model', 'hf:owner/name@refs/pr/1', '--modes', 'ar', '--max-new-tokens', '4', '--runs', '1', '--prompts', '1', '--no-kernels', '--no-host', '--out', out],
        { timeout: 240_000, env: { ...process.env, MSN_HF_ENDPOINT: endpoint } });
      const r = JSON.parse(readFileSync(join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'));
      expect(r.models[0].model).toEqual({ id: 'owner/name', path: `${endpoint}/owner/name/resolve/refs%2Fpr%2F1/`, kind: 'custom' });
      expect(r.mismatches).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
