// Absent versus failed model files: only 404/410 (ENOENT/ENOTDIR on disk) mean "absent"; any other
// failure is a NetworkError naming the file, and a body shorter than announced is one too.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import { createModelSource, readJson } from '../../src/model/source.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { ModelFormatError, NetworkError } from '../../src/errors.js';
import { fixturePath } from '../helpers/fixtures.js';
import { closedPort, serveModel, truncate, type ModelServer } from '../helpers/http-model.js';

/** Resuming a broken transfer (resume.test.ts) gives up at once: these tests are about what comes after. */
const NO_WAIT = { retries: 1, backoffMs: 1 };

/** The rejection of `p` (fails the test when `p` resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(() => null, (e: Error) => e);
  expect(r, 'expected a rejection').not.toBeNull();
  return r!;
}

function expectNetworkError(e: Error, url: string, status: number | string) {
  expect(e).toBeInstanceOf(NetworkError);
  expect(e.message).toContain(`Could not read ${url} (${status}`);
  expect((e as NetworkError).detail).toMatchObject({ url, status });
  // In Node there is no page and no CORS: the advice must not mention it.
  expect(e.message).not.toContain('CORS');
}

describe('HTTP model folder: absent versus failed files', () => {
  let srv: ModelServer;
  let base: string;
  const src = () => createModelSource(base);
  beforeAll(async () => {
    srv = await serveModel(fixturePath('tiny-gqa-f32'));
    base = `${srv.origin}/m/`;
  });
  afterEach(() => srv.faults.clear());
  afterAll(() => srv.close());

  it('loads the fixture over HTTP, EOS ids from config.json and generation_config.json', async () => {
    srv.faults.set('generation_config.json', (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ eos_token_id: [0, 7] }));
    });
    const d = await describeModel(src());
    expect(d.eosTokenIds).toEqual([0, 7]);
    expect(d.weightFiles).toEqual(['model.safetensors']);
  });

  it('generation_config.json answering 503 fails the load with a NetworkError naming it (not a lost EOS id)', async () => {
    srv.faults.set('generation_config.json', 503);
    expectNetworkError(await failure(describeModel(src())), `${base}generation_config.json`, 503);
  });

  it.each([404, 410])('generation_config.json answering %i is absent: the load goes on with config.json EOS ids', async (status) => {
    srv.faults.set('generation_config.json', status);
    expect((await describeModel(src())).eosTokenIds).toEqual([0]);
  });

  it.each([
    ['manifest.json', 500],
    ['manifest.json', 401],
    ['model.safetensors.index.json', 503],
    ['model.safetensors.index.json', 403],
    ['generation_config.json', 429],
    ['generation_config.json', 502],
  ])('every optional file of the loader: %s answering %i is a NetworkError naming it', async (file, status) => {
    srv.faults.set(file, status);
    expectNetworkError(await failure(describeModel(src())), `${base}${file}`, status);
  });

  it.each([
    ['tokenizer_config.json', 503],
    ['chat_template.jinja', 500],
    ['tokenizer.json', 403],
  ])('the tokenizer: %s answering %i is a NetworkError naming it', async (file, status) => {
    srv.faults.set(file, status);
    expectNetworkError(await failure(Tokenizer.load(src())), `${base}${file}`, status);
  });

  it('a server that refuses HEAD (405) is asked with GET instead', async () => {
    const refuseHead = (status: number) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: Buffer | null) => {
      if (req.method === 'HEAD') {
        res.writeHead(status);
        return res.end();
      }
      if (!body) {
        res.writeHead(404);
        return res.end();
      }
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    };
    for (const f of ['manifest.json', 'generation_config.json', 'model.safetensors.index.json', 'model.safetensors']) srv.faults.set(f, refuseHead(405));
    const d = await describeModel(src());
    expect(d.weightFiles).toEqual(['model.safetensors']);
    expect(d.totalBytes).toBeGreaterThan(0);
    expect(srv.log).toContain('GET /m/generation_config.json');
  });

  it('a static host\'s HTML fallback page (200 text/html) counts as absent', async () => {
    srv.faults.set('generation_config.json', (_q, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>app</title>');
    });
    expect((await describeModel(src())).eosTokenIds).toEqual([0]);
  });

  it('a truncated body (connection dropped before content-length bytes, every time: resume.test.ts) is a NetworkError naming the file', async () => {
    const src = () => createModelSource(base, NO_WAIT);
    srv.faults.set('config.json', truncate);
    const e = await failure(describeModel(src()));
    expect(e).toBeInstanceOf(NetworkError);
    expect(e.message).toContain(`Could not read ${base}config.json`);

    srv.faults.clear();
    const desc = await describeModel(src());
    srv.faults.set('model.safetensors', truncate);
    const w = await failure(streamWeights(desc, () => true, () => {}));
    expect(w).toBeInstanceOf(NetworkError);
    expect(w.message).toContain(`Could not read ${base}model.safetensors`);
  });

  it('a body that ends short of (or past) its content-length is a ModelFormatError naming the file (a truncated copy, e.g. cached)', async () => {
    // A Response that ends cleanly but short: what a truncated cached copy with its original headers gives.
    const answer = (bytes: number, length: number) => vi.fn(async () => new Response(new Uint8Array(bytes).fill(32), { headers: { 'content-length': String(length) } }));
    const url = 'https://example.invalid/m/config.json';
    try {
      for (const [bytes, message] of [[50, 'is truncated: 50 of its 100 bytes arrived'], [120, 'is longer than its announced 100 bytes']] as const) {
        vi.stubGlobal('fetch', answer(bytes, 100));
        const e = await failure(readJson(createModelSource('https://example.invalid/m/', NO_WAIT), 'config.json'));
        expect(e).toBeInstanceOf(ModelFormatError);
        expect(e.message).toBe(`config.json (${url}) ${message}.`);
        expect((e as ModelFormatError).detail).toEqual({ file: 'config.json', url, expected: 100, received: bytes });
      }
      // In a load: only config.json is there (every other file answers 404), and it is cut short.
      vi.stubGlobal('fetch', vi.fn(async (u: string) => (u === url ? answer(50, 100)() : new Response(null, { status: 404 }))));
      const w = await failure(describeModel(createModelSource('https://example.invalid/m/', NO_WAIT)));
      expect(w).toBeInstanceOf(ModelFormatError);
      expect((w as ModelFormatError).detail.file).toBe('config.json');
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('a compressed cross-origin model loads: content-length is checked only where it is the body length', async () => {
    // What a page sees from another origin that gzips its files: type "cors", the compressed
    // content-length (a CORS-safelisted header), no content-encoding (not exposed), the decoded body.
    const dir = fixturePath('tiny-gqa-f32');
    const folder = 'https://models.example.invalid/m/';
    const serve = (type: ResponseType, edit: (name: string, body: Buffer) => Buffer = (_n, b) => b) => vi.fn(async (u: string, init?: RequestInit) => {
      const name = u.slice(folder.length);
      if (!readdirSync(dir).includes(name)) return new Response(null, { status: 404 });
      const body = edit(name, readFileSync(join(dir, name)));
      const res = new Response(init?.method === 'HEAD' ? null : new Uint8Array(body), { headers: { 'content-length': String(gzipSync(readFileSync(join(dir, name))).length) } });
      Object.defineProperty(res, 'type', { value: type });
      return res;
    });
    try {
      vi.stubGlobal('fetch', serve('cors'));
      const desc = await describeModel(createModelSource(folder));
      expect(desc.eosTokenIds).toEqual([0]);
      expect(desc.totalBytes, 'the announced length is still the progress total').toBe(gzipSync(readFileSync(join(dir, 'model.safetensors'))).length);
      const seen = await streamWeights(desc, () => true, () => {});
      expect(seen.size).toBeGreaterThan(0);
      expect((await Tokenizer.load(createModelSource(folder))).encode('x = 1').length).toBeGreaterThan(0);
      // Without the length check, a cut file is still caught: the safetensors header, the JSON parser.
      vi.stubGlobal('fetch', serve('cors', (n, b) => (n === 'model.safetensors' || n === 'config.json' ? b.subarray(0, b.length - 40) : b)));
      const cut = await failure(describeModel(createModelSource(folder)));
      expect(cut).toBeInstanceOf(ModelFormatError);
      expect(cut.message).toMatch(/^config\.json in https:\/\/models\.example\.invalid\/m\/ is not valid JSON/);
      expect((cut as ModelFormatError).detail.file).toBe('config.json');
      vi.stubGlobal('fetch', serve('cors', (n, b) => (n === 'model.safetensors' ? b.subarray(0, b.length - 40) : b)));
      const w = await failure(streamWeights(await describeModel(createModelSource(folder)), () => true, () => {}));
      expect(w).toBeInstanceOf(ModelFormatError);
      expect((w as ModelFormatError).detail.file).toBe('model.safetensors');
      // Same origin (type "basic"), the length is the body's: a mismatch is still a truncated copy.
      vi.stubGlobal('fetch', serve('basic'));
      const e = await failure(readJson(createModelSource(folder), 'config.json'));
      expect(e).toBeInstanceOf(ModelFormatError);
      expect(e.message).toMatch(/^config\.json \(https:\/\/models\.example\.invalid\/m\/config\.json\) is longer than its announced \d+ bytes\.$/);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('a refused connection is a NetworkError naming the URL tried', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/m/`;
    expectNetworkError(await failure(describeModel(createModelSource(url))), `${url}manifest.json`, 'ECONNREFUSED');
  });
});

describe('local model folder: absent versus failed files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'msn-source-'));
    cpSync(fixturePath('tiny-gqa-f32'), dir, { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an unreadable generation_config.json (a symlink loop: ELOOP) is a NetworkError naming it, a missing one is absent', async () => {
    const f = join(dir, 'generation_config.json');
    unlinkSync(f);
    expect((await describeModel(createModelSource(dir))).eosTokenIds).toEqual([0]);
    symlinkSync(f, f);
    expectNetworkError(await failure(describeModel(createModelSource(dir))), f, 'ELOOP');
  });

  it('a folder that is a file (ENOTDIR) fails on config.json, naming it', async () => {
    const e = await failure(describeModel(createModelSource(join(dir, 'config.json'))));
    expectNetworkError(e, join(dir, 'config.json', 'config.json'), 'ENOTDIR');
  });
});
