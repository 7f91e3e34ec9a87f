// A broken HTTP transfer is resumed with `Range: bytes=N-` (or restarted from 0), and the reader
// still gets exactly the file's bytes; a break that cannot be repaired fails as before.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeModel, streamWeights } from '../../src/model/loader.js';
import { createModelSource, readJson, type ResumeOptions } from '../../src/model/source.js';
import { withIntegrity } from '../../src/model/integrity.js';
import { ModelFormatError, NetworkError } from '../../src/errors.js';
import { fixturePath } from '../helpers/fixtures.js';
import { serveModel, type ModelServer } from '../helpers/http-model.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const FILE = 'model.safetensors';
const FAST: ResumeOptions = { retries: 3, backoffMs: 1 };

/** Reads a whole file of `src` through its stream. */
async function readAll(src: ReturnType<typeof createModelSource>, name: string): Promise<Buffer> {
  const f = await src.open(name);
  const parts: Uint8Array[] = [];
  const reader = f.stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  return Buffer.concat(parts);
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(() => null, (e: Error) => e);
  expect(r, 'expected a rejection').not.toBeNull();
  return r!;
}

/** What one request of the server's handler saw. */
interface Seen { range: string | undefined }

/**
 * A file server that breaks its first `breaks` answers after `cut` bytes (connection destroyed),
 * and answers a Range request as `onRange` says (default: a correct 206). `headers` go on every answer.
 */
function breaking(opts: { cut: number; breaks?: number; headers?: (i: number) => Record<string, string>; onRange?: 'honour' | 'ignore' | 'wrong-start'; seen: Seen[] }) {
  let i = 0;
  return (req: IncomingMessage, res: ServerResponse, body: Buffer | null) => {
    const b = body!;
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(b.length) });
      return res.end();
    }
    const k = i++;
    const extra = opts.headers?.(k) ?? {};
    const range = req.headers.range;
    opts.seen.push({ range });
    let start = 0;
    if (range && opts.onRange !== 'ignore') {
      const m = /^bytes=(\d+)-$/.exec(range)!;
      start = Number(m[1]) + (opts.onRange === 'wrong-start' ? 1 : 0);
      res.writeHead(206, { ...extra, 'content-length': String(b.length - start), 'content-range': `bytes ${start}-${b.length - 1}/${b.length}` });
    } else {
      res.writeHead(200, { ...extra, 'content-length': String(b.length), 'content-type': 'application/octet-stream' });
    }
    const rest = b.subarray(start);
    if (k < (opts.breaks ?? 1)) res.write(rest.subarray(0, opts.cut), () => res.socket?.destroy());
    else res.end(rest);
  };
}

describe('resuming a broken model download (HTTP)', () => {
  let srv: ModelServer;
  let base: string;
  const bytes = readFileSync(join(fixturePath('tiny-gqa-f32'), FILE));
  beforeAll(async () => {
    srv = await serveModel(fixturePath('tiny-gqa-f32'));
    base = `${srv.origin}/m/`;
  });
  afterEach(() => srv.faults.clear());
  afterAll(() => srv.close());

  it('a body broken after K bytes continues from byte K (206): the reader gets exactly the file', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 1000, seen, headers: () => ({ etag: '"v1"' }) }));
    const got = await readAll(createModelSource(base, FAST), FILE);
    expect(got.equals(bytes)).toBe(true);
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=1000-']);
  });

  it('several breaks in a row, each after progress, are all repaired; the loader and a SHA-256 check see one stream', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 700, breaks: 5, seen }));
    const digest = createHash('sha256').update(bytes).digest('hex');
    const src = withIntegrity(createModelSource(base, { retries: 1, backoffMs: 1 }), [{ path: FILE, size: bytes.length, sha256: digest }]);
    const desc = await describeModel(src);
    const tensors = new Map<string, string>();
    await streamWeights(desc, () => true, (name, _dtype, _shape, b) => void tensors.set(name, createHash('sha256').update(b).digest('hex')));
    // Every tensor equals what the local file gives.
    const ref = new Map<string, string>();
    await streamWeights(await describeModel(createModelSource(fixturePath('tiny-gqa-f32'))), () => true, (name, _d, _s, b) => void ref.set(name, createHash('sha256').update(b).digest('hex')));
    expect(tensors).toEqual(ref);
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=700-', 'bytes=1400-', 'bytes=2100-', 'bytes=2800-', 'bytes=3500-']);
  });

  it('a server that ignores Range (200) restarts the file from 0: the bytes already read are dropped, not repeated', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 1234, seen, onRange: 'ignore', headers: () => ({ 'last-modified': 'Tue, 01 Dec 2026 00:00:00 GMT' }) }));
    expect((await readAll(createModelSource(base, FAST), FILE)).equals(bytes)).toBe(true);
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=1234-']);
  });

  it('a 206 for other bytes than asked makes the next request one for the whole file (restart from 0)', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 900, seen, onRange: 'wrong-start' }));
    expect((await readAll(createModelSource(base, FAST), FILE)).equals(bytes)).toBe(true);
    expect(seen.map((s) => s.range)).toEqual([undefined, 'bytes=900-', undefined]);
  });

  it.each([
    ['ETag', (i: number) => ({ etag: `"v${i === 0 ? 1 : 2}"` })],
    ['Last-Modified', (i: number) => ({ 'last-modified': i === 0 ? 'Mon, 30 Nov 2026 00:00:00 GMT' : 'Tue, 01 Dec 2026 00:00:00 GMT' })],
  ])('a file whose %s changed between the break and the resume fails with a NetworkError saying so (no mixed bytes)', async (_what, headers) => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 1000, seen, headers }));
    const e = await failure(readAll(createModelSource(base, FAST), FILE));
    expect(e).toBeInstanceOf(NetworkError);
    expect(e.message).toBe(`Could not read ${base}${FILE} (it changed on the server during the download (ETag or Last-Modified differs after 1000 bytes); load the model again). Check the model URL and the network connection.`);
    expect(seen).toHaveLength(2);
  });

  it('a transfer that keeps breaking without progress fails after `retries` re-requests, as a NetworkError naming the file', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 1000, breaks: 100, seen, onRange: 'ignore' }));
    const e = await failure(readAll(createModelSource(base, { retries: 3, backoffMs: 1 }), FILE));
    expect(e).toBeInstanceOf(NetworkError);
    expect(e.message).toContain(`Could not read ${base}${FILE} (transfer failed after 1000 bytes`);
    expect(seen).toHaveLength(4);
  });

  it('backoff doubles between re-requests that bring no new byte', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 1000, breaks: 100, seen, onRange: 'ignore' }));
    const waits: number[] = [];
    const real = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((f: () => void, ms?: number) => {
      waits.push(ms ?? 0);
      return real(f, 0);
    }) as typeof setTimeout);
    try {
      await failure(readAll(createModelSource(base, { retries: 4, backoffMs: 100 }), FILE));
    } finally {
      spy.mockRestore();
    }
    expect(waits.filter((w) => w >= 100)).toEqual([100, 200, 400, 800]);
  });

  it('an abort during the wait before a re-request ends the stream with the abort, at once', async () => {
    const seen: Seen[] = [];
    srv.faults.set(FILE, breaking({ cut: 1000, breaks: 100, seen }));
    const ac = new AbortController();
    const f = await createModelSource(base, { retries: 3, backoffMs: 60_000 }).open(FILE, ac.signal);
    const reader = f.stream.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const rest = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read());
    })();
    setTimeout(() => ac.abort(), 50);
    const e = await failure(rest);
    expect(e.name).toBe('AbortError');
    expect(seen).toHaveLength(1);
  });

  it('a body that ends cleanly short of its content-length is resumed too; unrepairable, it is still the truncated-copy ModelFormatError', async () => {
    const url = 'https://example.invalid/m/config.json';
    const full = new TextEncoder().encode(JSON.stringify({ hello: 'world', pad: 'x'.repeat(80) }));
    const calls: Array<string | null> = [];
    try {
      vi.stubGlobal('fetch', vi.fn(async (_u: string, init?: RequestInit) => {
        const range = (init?.headers as Record<string, string> | undefined)?.range ?? null;
        calls.push(range);
        if (!range) return new Response(full.subarray(0, 40), { headers: { 'content-length': String(full.length) } });
        return new Response(full.subarray(40), { status: 206, headers: { 'content-range': `bytes 40-${full.length - 1}/${full.length}` } });
      }));
      expect(await readJson(createModelSource('https://example.invalid/m/', FAST), 'config.json')).toEqual({ hello: 'world', pad: 'x'.repeat(80) });
      expect(calls).toEqual([null, 'bytes=40-']);
      // A server (or cache) that cannot give the rest: 416 → whole file again → short again → … → the old error.
      calls.length = 0;
      vi.stubGlobal('fetch', vi.fn(async (_u: string, init?: RequestInit) => {
        const range = (init?.headers as Record<string, string> | undefined)?.range ?? null;
        calls.push(range);
        return range ? new Response(null, { status: 416 }) : new Response(full.subarray(0, 40), { headers: { 'content-length': String(full.length) } });
      }));
      const e = await failure(readJson(createModelSource('https://example.invalid/m/', FAST), 'config.json'));
      expect(e).toBeInstanceOf(ModelFormatError);
      expect(e.message).toBe(`config.json (${url}) is truncated: 40 of its ${full.length} bytes arrived.`);
      expect((e as ModelFormatError).detail).toEqual({ file: 'config.json', url, expected: full.length, received: 40 });
      expect(calls).toEqual([null, 'bytes=40-', null, null]);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
