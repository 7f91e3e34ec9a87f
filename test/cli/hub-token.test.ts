// `npm run generate` on a gated repository: HF_TOKEN is sent to the Hub endpoint (here a local fake
// Hub named by MSN_HF_ENDPOINT, the mirror setting that trusts it with the token), and without it the
// 401 is one GatedModelError line saying what to do.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fixturePath } from '../helpers/fixtures.js';
import { runGenerateMain } from '../helpers/cli.js';

const TOKEN = 'hf_cliTestToken987';
const PREFIX = '/acme/gated-tiny/resolve/main/';

describe('CLI: HF_TOKEN and gated repositories', () => {
  it('every command\'s --help names HF_TOKEN', async () => {
    const { USAGE } = await import('../../src/cli/args.js');
    const { SERVE_USAGE } = await import('../../src/cli/serve.js');
    const { QUANTIZE_USAGE } = await import('../../src/cli/quantize.js');
    for (const u of [USAGE, SERVE_USAGE, QUANTIZE_USAGE]) expect(u).toMatch(/HF_TOKEN +Hugging Face access token for gated or private repositories/);
  });

  let server: Server;
  let origin: string;
  const auths: (string | undefined)[] = [];
  beforeAll(async () => {
    const dir = fixturePath('tiny-gqa-f32');
    server = createServer((req, res) => {
      auths.push(req.headers.authorization);
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'text/plain' });
        return res.end('Access to model acme/gated-tiny is restricted. You must have access to it and be authenticated to access it. Please log in.');
      }
      const file = path.startsWith(PREFIX) ? join(dir, path.slice(PREFIX.length)) : null;
      if (!file || path.includes('..') || !existsSync(file)) {
        res.writeHead(404);
        return res.end();
      }
      const body = readFileSync(file);
      res.writeHead(200, { 'content-length': String(body.length), 'content-type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    vi.unstubAllEnvs();
    auths.length = 0;
  });
  afterAll(() => new Promise<void>((ok) => {
    server.closeAllConnections();
    server.close(() => ok());
  }));

  const runMain = runGenerateMain;

  it('without HF_TOKEN: exit 1, one GatedModelError line naming the repository and the advice', async () => {
    vi.stubEnv('MSN_HF_ENDPOINT', origin);
    vi.stubEnv('HF_TOKEN', '');
    vi.stubEnv('HUGGING_FACE_HUB_TOKEN', '');
    const r = await runMain(['--model', 'hf:acme/gated-tiny', '--prompt', 'Hi', '--max-new-tokens', '2', '--json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^GatedModelError: The Hugging Face repository acme\/gated-tiny is gated or private \(or does not exist\): .* answered 401 without a Hugging Face token\. .*accept its license.*HF_TOKEN.*\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(auths.every((a) => a === undefined)).toBe(true);
  }, 60_000);

  it('with HF_TOKEN: every request to the Hub carries it, and the model generates', async () => {
    vi.stubEnv('MSN_HF_ENDPOINT', origin);
    vi.stubEnv('HF_TOKEN', TOKEN);
    const r = await runMain(['--model', 'hf:acme/gated-tiny', '--prompt', 'Hi', '--max-new-tokens', '2', '--json']);
    expect(r.stderr).not.toContain('Error');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { newTokens: number; model: string };
    expect(out.newTokens).toBe(2);
    expect(out.model).toBe(`${origin}${PREFIX}`);
    expect(auths.length).toBeGreaterThan(3);
    expect(auths.every((a) => a === `Bearer ${TOKEN}`)).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  }, 120_000);
});
