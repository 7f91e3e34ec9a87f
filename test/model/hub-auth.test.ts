// Gated repositories: the Hugging Face token goes to the Hub (and origins trusted with it) only, a
// 401/403 from there is a GatedModelError naming the repository, and the token never reaches another
// origin, not even through a redirect (the Hub redirects weight downloads to its CDN).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { createModelSource, hubRepoOf, readJson, sendsHubToken } from '../../src/model/source.js';
import { describeModel } from '../../src/model/loader.js';
import { nodeHubAuth } from '../../src/model/location-node.js';
import { ERROR_CLASSES, GatedModelError, NetworkError } from '../../src/errors.js';
import { describeError } from '../../src/component/describe-error.js';
import { fixturePath } from '../helpers/fixtures.js';
import { serveModel, truncate, type ModelServer } from '../helpers/http-model.js';

const TOKEN = 'hf_secretTokenValue123';
const HUB = 'https://huggingface.co/google/gemma-3-1b-it/resolve/main/';

async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(() => null, (e: Error) => e);
  expect(r, 'expected a rejection').not.toBeNull();
  return r!;
}

/** A fake fetch answering `status` (200: a tiny JSON) and recording each request's URL and Authorization header. */
function fakeFetch(status: number) {
  const calls: { url: string; auth: string | null }[] = [];
  const f = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), auth: new Headers(init?.headers).get('authorization') });
    return status === 200
      ? new Response('{"a":1}', { status, headers: { 'content-type': 'application/json', 'content-length': '7' } })
      : new Response('Access to model google/gemma-3-1b-it is restricted.', { status });
  });
  vi.stubGlobal('fetch', f);
  return calls;
}

describe('sendsHubToken: which URLs get the Hugging Face token', () => {
  it.each([
    ['https://huggingface.co/o/n/resolve/main/config.json', true],
    ['https://hf.co/o/n/resolve/main/config.json', true],
    ['https://www.huggingface.co/o/n/resolve/main/', true],
    ['http://huggingface.co/o/n/resolve/main/', false], // never in clear text
    ['https://cdn-lfs.huggingface.co/repos/ab/cd/file', false], // the CDN: signed URLs, no token
    ['https://cas-bridge.xethub.hf.co/xet-bridge/x', false],
    ['https://huggingface.co.evil.example/o/n/resolve/main/', false],
    ['https://evil.example/huggingface.co/o/n/', false],
    ['https://huggingface.co:8443/o/n/resolve/main/', false],
    ['not a url', false],
  ])('%s → %s', (url, ok) => {
    expect(sendsHubToken(url)).toBe(ok);
  });

  it('extra origins (an HF_ENDPOINT mirror, the page\'s own origin) are trusted by origin, not by prefix', () => {
    expect(sendsHubToken('http://127.0.0.1:9/m/config.json', ['http://127.0.0.1:9'])).toBe(true);
    expect(sendsHubToken('http://127.0.0.1:10/m/config.json', ['http://127.0.0.1:9'])).toBe(false);
    expect(sendsHubToken('https://mirror.example/x', ['https://mirror.example/some/path'])).toBe(true);
    expect(sendsHubToken('https://mirror.example.evil/x', ['https://mirror.example', 'not a url'])).toBe(false);
  });

  it('hubRepoOf names the repository of a resolve URL', () => {
    expect(hubRepoOf(`${HUB}config.json`)).toBe('google/gemma-3-1b-it');
    expect(hubRepoOf('https://example.com/models/x/')).toBeNull();
  });
});

describe('FetchSource with a fake fetch', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('sends Authorization: Bearer <token> to the Hub, on GET and HEAD', async () => {
    const calls = fakeFetch(200);
    const src = createModelSource(HUB, { hubToken: TOKEN });
    expect(await readJson(src, 'config.json')).toEqual({ a: 1 });
    expect(await src.exists('generation_config.json')).toBe(true);
    expect(calls).toEqual([
      { url: `${HUB}config.json`, auth: `Bearer ${TOKEN}` },
      { url: `${HUB}generation_config.json`, auth: `Bearer ${TOKEN}` },
    ]);
  });

  it('sends no token to another origin', async () => {
    const calls = fakeFetch(200);
    const src = createModelSource('https://models.example.com/gemma/', { hubToken: TOKEN });
    await readJson(src, 'config.json');
    expect(calls).toEqual([{ url: 'https://models.example.com/gemma/config.json', auth: null }]);
  });

  it.each([401, 403])('a %i from the Hub without a token is a GatedModelError naming the repository and what to do', async (status) => {
    fakeFetch(status);
    const e = await failure(describeModel(createModelSource(HUB)));
    expect(e).toBeInstanceOf(GatedModelError);
    expect((e as GatedModelError).code).toBe('gated-model');
    expect((e as GatedModelError).detail).toEqual({ repo: 'google/gemma-3-1b-it', url: expect.stringContaining(HUB) as string, status, tokenSent: false });
    expect(e.message).toContain('google/gemma-3-1b-it is gated or private');
    expect(e.message).toContain(`answered ${status} without a Hugging Face token`);
    expect(e.message).toContain('accept its license');
    expect(e.message).toContain('https://huggingface.co/google/gemma-3-1b-it');
    expect(e.message).toContain('HF_TOKEN');
    expect(e.message).toContain('"Hugging Face token"');
  });

  it.each([401, 403])('a %i with a token says the token has no access, and never shows the token', async (status) => {
    fakeFetch(status);
    const src = createModelSource(HUB, { hubToken: TOKEN });
    for (const p of [readJson(src, 'config.json'), src.size('model.safetensors'), src.exists('tokenizer.json')]) {
      const e = await failure(p);
      expect(e).toBeInstanceOf(GatedModelError);
      expect((e as GatedModelError).detail.tokenSent).toBe(true);
      expect(e.message).toContain('with the Hugging Face token given');
      expect(JSON.stringify({ m: e.message, d: (e as GatedModelError).detail, s: e.stack })).not.toContain(TOKEN);
    }
  });

  it('a 401 from another origin stays a NetworkError (that server is not the Hub)', async () => {
    fakeFetch(401);
    const e = await failure(readJson(createModelSource('https://models.example.com/m/', { hubToken: TOKEN }), 'config.json'));
    expect(e).toBeInstanceOf(NetworkError);
  });

  it('crosses the worker boundary by name, and the app shows the advice', () => {
    expect(ERROR_CLASSES.GatedModelError).toBe(GatedModelError);
    const v = describeError(new GatedModelError('google/gemma-3-1b-it', `${HUB}config.json`, 401, false), 'load', true);
    expect(v.code).toBe('gated-model');
    expect(v.title).toBe('This model\'s repository is gated or private');
    expect(v.action).toContain('https://huggingface.co/google/gemma-3-1b-it');
    expect(v.action).toContain('accept its license');
    expect(v.action).toContain('Hugging Face token');
    expect(v.needsReload).toBe(true);
  });
});

describe('real fetch: the token and redirects', () => {
  let hub: ModelServer;
  let cdn: ModelServer;
  const seen: { where: string; path: string; auth: string | undefined }[] = [];
  const record = (where: string) => (req: IncomingMessage) => seen.push({ where, path: new URL(req.url ?? '/', 'http://x').pathname, auth: req.headers.authorization });
  beforeAll(async () => {
    hub = await serveModel(fixturePath('tiny-gqa-f32'));
    cdn = await serveModel(fixturePath('tiny-gqa-f32'));
  });
  afterEach(() => {
    seen.length = 0;
    hub.faults.clear();
    cdn.faults.clear();
  });
  afterAll(async () => {
    await hub.close();
    await cdn.close();
  });

  it('a cross-origin redirect (Hub → CDN) drops Authorization; a same-origin one keeps it', async () => {
    // The "Hub" (trusted with the token) redirects config.json to another origin, and tokenizer.json
    // to another path of its own.
    hub.faults.set('config.json', (req, res) => {
      record('hub')(req);
      res.writeHead(302, { location: `${cdn.origin}/m/config.json` });
      res.end();
    });
    hub.faults.set('tokenizer.json', (req, res) => {
      record('hub')(req);
      res.writeHead(307, { location: '/m/tokenizer_config.json' });
      res.end();
    });
    hub.faults.set('tokenizer_config.json', (req, res, body) => {
      record('hub')(req);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body!.length) });
      res.end(body);
    });
    cdn.faults.set('config.json', (req, res, body) => {
      record('cdn')(req);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body!.length) });
      res.end(body);
    });
    const src = createModelSource(`${hub.origin}/m/`, { hubToken: TOKEN, hubTokenOrigins: [hub.origin] });
    expect(((await readJson(src, 'config.json')) as { architectures: string[] }).architectures).toBeDefined();
    await readJson(src, 'tokenizer.json');
    expect(seen).toEqual([
      { where: 'hub', path: '/m/config.json', auth: `Bearer ${TOKEN}` },
      { where: 'cdn', path: '/m/config.json', auth: undefined },
      { where: 'hub', path: '/m/tokenizer.json', auth: `Bearer ${TOKEN}` },
      { where: 'hub', path: '/m/tokenizer_config.json', auth: `Bearer ${TOKEN}` },
    ]);
  });

  it('a resumed transfer (Range re-request) carries the token too', async () => {
    let n = 0;
    hub.faults.set('model.safetensors', (req, res, body) => {
      record('hub')(req);
      if (n++ === 0) return (truncate as Exclude<typeof truncate, number>)(req, res, body);
      const m = /bytes=(\d+)-/.exec(req.headers.range ?? '')!;
      const from = Number(m[1]);
      res.writeHead(206, { 'content-range': `bytes ${from}-${body!.length - 1}/${body!.length}`, 'content-length': String(body!.length - from) });
      res.end(body!.subarray(from));
    });
    const src = createModelSource(`${hub.origin}/m/`, { hubToken: TOKEN, hubTokenOrigins: [hub.origin], retries: 2, backoffMs: 1 });
    const f = await src.open('model.safetensors');
    let bytes = 0;
    const r = f.stream.getReader();
    for (let x = await r.read(); !x.done; x = await r.read()) bytes += x.value.byteLength;
    expect(bytes).toBe(f.size);
    expect(seen.map((s) => s.auth)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('a local server answering 401 to a trusted origin is a GatedModelError naming the folder', async () => {
    hub.faults.set('config.json', 401);
    const e = await failure(describeModel(createModelSource(`${hub.origin}/m/`, { hubTokenOrigins: [hub.origin] })));
    expect(e).toBeInstanceOf(GatedModelError);
    expect((e as GatedModelError).detail.repo).toBe(`${hub.origin}/m/`);
  });
});

describe('nodeHubAuth: HF_TOKEN for the CLI and the server', () => {
  it('reads HF_TOKEN (else HUGGING_FACE_HUB_TOKEN), and trusts the HF_ENDPOINT mirror with it', () => {
    expect(nodeHubAuth({})).toEqual({});
    expect(nodeHubAuth({ HF_TOKEN: '  ' })).toEqual({});
    expect(nodeHubAuth({ HF_TOKEN: TOKEN })).toEqual({ hubToken: TOKEN });
    expect(nodeHubAuth({ HUGGING_FACE_HUB_TOKEN: 'old' })).toEqual({ hubToken: 'old' });
    expect(nodeHubAuth({ HF_ENDPOINT: 'https://mirror.example' }), 'a 401 from the mirror is gated too').toEqual({ hubTokenOrigins: ['https://mirror.example'] });
    expect(nodeHubAuth({ HF_TOKEN: TOKEN, HF_ENDPOINT: 'https://mirror.example/hf/' })).toEqual({ hubToken: TOKEN, hubTokenOrigins: ['https://mirror.example'] });
    expect(nodeHubAuth({ HF_TOKEN: TOKEN, HF_ENDPOINT: 'https://a.example', MSN_HF_ENDPOINT: 'http://127.0.0.1:5' })).toEqual({ hubToken: TOKEN, hubTokenOrigins: ['http://127.0.0.1:5'] });
    expect(nodeHubAuth({ HF_TOKEN: TOKEN, HF_ENDPOINT: 'bad' })).toEqual({ hubToken: TOKEN });
  });
});
