// Reliability: integrity checks, device loss, allocation failure, abort, busy, bad tokenizer, soak.
import { afterAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodeEngine } from '../../src/engine/node.js';
import type { Engine } from '../../src/engine/engine.js';
import { AbortedError, BusyError, DeviceLostError, IntegrityError, ModelFormatError, OutOfMemoryError } from '../../src/errors.js';
import { allocBuffer } from '../../src/model/weights.js';
import { fixturePath, golden } from '../helpers/fixtures.js';

const engines: Engine[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const e of engines) await e.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function engine(model: string, extra: Record<string, unknown> = {}): Promise<Engine> {
  const e = await createNodeEngine({ model, contextLength: 64, inline: true, ...extra });
  engines.push(e);
  return e;
}

/** A copy of a fixture folder with a manifest.json listing every file's size and SHA-256. */
function withManifest(name: string): string {
  const d = mkdtempSync(join(tmpdir(), 'msn-model-'));
  dirs.push(d);
  cpSync(fixturePath(name), d, { recursive: true });
  const files = readdirSync(d).filter((f) => f !== 'golden.json').map((f) => ({ path: f, size: statSync(join(d, f)).size, sha256: createHash('sha256').update(readFileSync(join(d, f))).digest('hex') }));
  writeFileSync(join(d, 'manifest.json'), JSON.stringify({ files, total_bytes: files.reduce((n, f) => n + f.size, 0) }));
  return d;
}

function flipByte(file: string, at: number): void {
  const b = readFileSync(file);
  b[at] ^= 0x55;
  writeFileSync(file, b);
}

describe('integrity (manifest.json SHA-256)', () => {
  it('a model whose files match its manifest loads and generates', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await engine(withManifest('tiny-gqa-f32'));
    expect((await e.complete(g.prompt_text, { maxNewTokens: 8, decode: 'ar' })).tokenIds).toEqual(g.greedy_ids.slice(0, 8));
  });
  for (const [file, at] of [['model.safetensors', -5], ['config.json', 3], ['tokenizer.json', 10]] as const) {
    it(`a changed byte in ${file} is an IntegrityError naming the file`, async () => {
      const d = withManifest('tiny-gqa-f32');
      const p = join(d, file);
      flipByte(p, at < 0 ? statSync(p).size + at : at);
      const err = await engine(d).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect(err.message).toContain(file);
    });
  }
});

describe('GPU faults', () => {
  it('device loss surfaces as DeviceLostError; a new engine works without a reload', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await engine(fixturePath('tiny-gqa-f32'));
    await e.complete(g.prompt_text, { maxNewTokens: 2, decode: 'ar' });
    let lostSeen: DeviceLostError | null = null;
    void e.lost.then((x) => { lostSeen = x; });
    await e.executor.simulateDeviceLoss();
    await new Promise((r) => setTimeout(r, 20));
    expect(lostSeen).toBeInstanceOf(DeviceLostError);
    await expect(e.complete(g.prompt_text, { maxNewTokens: 4, decode: 'ar' })).rejects.toBeInstanceOf(DeviceLostError);
    await expect(e.complete(g.prompt_text, { maxNewTokens: 4 })).rejects.toBeInstanceOf(DeviceLostError);
    const e2 = await engine(fixturePath('tiny-gqa-f32'));
    expect((await e2.complete(g.prompt_text, { maxNewTokens: 8, decode: 'ar' })).tokenIds).toEqual(g.greedy_ids.slice(0, 8));
  });

  it('a model above the memory budget is refused up front with the numbers', async () => {
    const err = await engine(fixturePath('tiny-gqa-f32'), { gpuMemoryBytes: 100_000 }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err.message).toMatch(/needs \d+ bytes, but 100000 are allowed/);
    const ok = await engine(fixturePath('tiny-gqa-f32'), { gpuMemoryBytes: 64_000_000 });
    expect(ok.info.memory.weightsBytes).toBeGreaterThan(0);
  });

  it('an allocation failure caught by an error scope is an OutOfMemoryError naming the size', async () => {
    let destroyed = false;
    const fake = {
      pushErrorScope() {},
      createBuffer: () => ({ destroy: () => { destroyed = true; } }),
      popErrorScope: async () => ({ message: 'Out of memory' }),
    } as unknown as GPUDevice;
    const err = await allocBuffer(fake, { label: 'kv[0:4]', size: 123456789, usage: 0 }).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err.message).toContain('123456789');
    expect(err.message).toContain('kv[0:4]');
    expect(destroyed).toBe(true);
  });
});

describe('requests', () => {
  it('aborting mid-generation leaves the engine usable and the next generation equal to a fresh engine\'s', async () => {
    const g = golden('tiny-mha-tied-f16');
    const e = await engine(fixturePath('tiny-mha-tied-f16'));
    for (const decode of ['ar', 'tr-jacobi'] as const) {
      const ac = new AbortController();
      const it = e.generate(g.prompt_text, { maxNewTokens: 30, decode, tree: 'fixed', signal: ac.signal });
      await it.next();
      ac.abort();
      await expect((async () => { let r = await it.next(); while (!r.done) r = await it.next(); })()).rejects.toBeInstanceOf(AbortedError);
      const after = await e.complete(g.prompt_text, { maxNewTokens: 16, decode });
      expect(after.tokenIds).toEqual(g.greedy_ids);
    }
  });

  it('concurrent forwards on the executor are refused with BusyError', async () => {
    const e = await engine(fixturePath('tiny-gqa-f32'));
    const req = { tokens: [1, 2, 3], positions: [0, 1, 2], mask: 'causal' as const, topK: 1, commit: false };
    const [a, b] = await Promise.allSettled([e.executor.forward(req), e.executor.forward(req)]);
    expect(a.status).toBe('fulfilled');
    expect(b.status === 'rejected' && b.reason).toBeInstanceOf(BusyError);
  });

  it('a missing or malformed tokenizer is a ModelFormatError', async () => {
    const d = mkdtempSync(join(tmpdir(), 'msn-tok-'));
    dirs.push(d);
    cpSync(fixturePath('tiny-gqa-f32'), d, { recursive: true });
    writeFileSync(join(d, 'tokenizer.json'), '{"version": "1.0"}');
    await expect(engine(d)).rejects.toThrow(ModelFormatError);
    rmSync(join(d, 'tokenizer.json'));
    const err = await engine(d).then(() => null, (x) => x);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toMatch(/tokenizer\.json/);
  });
});

describe('soak', () => {
  it('200 consecutive generations: no error, GPU buffer count and bytes stable', async () => {
    const g = golden('tiny-gqa-f32');
    const e = await engine(fixturePath('tiny-gqa-f32'));
    await e.complete(g.prompt_text, { maxNewTokens: 4, decode: 'tr-jacobi', tree: 'fixed' });
    const before = await e.executor.gpuStats();
    expect(before.liveBuffers).toBeGreaterThan(20);
    const modes = ['ar', 'tr-jacobi', 'jacobi', 'retrieval'] as const;
    for (let i = 0; i < 200; i++) {
      const r = await e.complete(g.prompt_text, { maxNewTokens: 4, decode: modes[i % 4], tree: 'fixed' });
      expect(r.tokenIds).toEqual(g.greedy_ids.slice(0, 4));
    }
    const after = await e.executor.gpuStats();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
  });
});
