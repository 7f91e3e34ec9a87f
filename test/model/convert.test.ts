// `npm run quantize` (issue 12 item 2): the row-block safetensors reader, and the converter's
// compressed-tensors pack-quantized folder: valid (our reader and the index agree, shards within
// the limit), codes and scales equal to quantizeRows bit for bit, the same values as dequantizeRows
// when PyTorch dequantizes it by compressed-tensors' rule, row blocks equal whole tensors, and
// typed errors for bad input with nothing written.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertModel, type ConvertOptions } from '../../src/model/convert.js';
import { readSafetensorBlocks, readSafetensors, type TensorInfo } from '../../src/model/safetensors.js';
import { decodeToF32, encodeFromF32, f16ToF32, type TensorDtype } from '../../src/model/dtype.js';
import { dequantizeRows, quantizeRows, type QuantBits } from '../../src/model/quantize.js';
import { packedRowWords } from '../../src/model/pack-quantized.js';
import { InvalidArgumentError, ModelFormatError, UnsupportedModelError } from '../../src/errors.js';
import { parseQuantizeCli } from '../../src/cli/quantize.js';
import { fixturePath } from '../helpers/fixtures.js';
import { serveModel } from '../helpers/http-model.js';
import { tempDirs } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const tmp = tempDirs('msn-quantize-');

function fileStream(path: string, chunk = 4096): ReadableStream<Uint8Array> {
  const bytes = readFileSync(path);
  let i = 0;
  return new ReadableStream({ pull(c) { if (i >= bytes.length) c.close(); else { c.enqueue(new Uint8Array(bytes.subarray(i, i + chunk))); i += chunk; } } });
}

/** Every tensor of a folder's safetensors files (through our whole-tensor reader), with its file. */
async function readFolder(dir: string): Promise<Map<string, { info: TensorInfo; bytes: Uint8Array; file: string }>> {
  const out = new Map<string, { info: TensorInfo; bytes: Uint8Array; file: string }>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()) {
    const p = join(dir, file);
    for await (const { info, bytes } of readSafetensors(fileStream(p), file, statSync(p).size)) {
      expect(out.has(info.name), info.name).toBe(false);
      out.set(info.name, { info, bytes, file });
    }
  }
  return out;
}

/** A safetensors file of `tensors` (in order). */
function safetensorsFile(tensors: Array<{ name: string; dtype: string; shape: number[]; data: Uint8Array }>): Uint8Array {
  const h: Record<string, unknown> = {};
  let at = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(8 + json.byteLength + at);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 8);
  let o = 8 + json.byteLength;
  for (const t of tensors) {
    out.set(t.data, o);
    o += t.data.byteLength;
  }
  return out;
}

const u32 = (b: Uint8Array) => new Uint32Array(b.slice().buffer);

/** Checks a converted folder against the source folder, tensor by tensor, bit for bit. */
async function checkFolder(srcDir: string, outDir: string, bits: QuantBits, group: number, keepEmbeddings = false): Promise<void> {
  const src = await readFolder(srcDir);
  const out = await readFolder(outDir);
  const index = JSON.parse(readFileSync(join(outDir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
  // The index names every tensor, in the file that holds it, and nothing else.
  expect(Object.keys(index.weight_map).sort()).toEqual([...out.keys()].sort());
  for (const [name, t] of out) expect(index.weight_map[name], name).toBe(t.file);
  expect(index.metadata.total_size).toBe([...out.values()].reduce((s, t) => s + t.bytes.byteLength, 0));
  let quantized = 0;
  for (const [name, s] of src) {
    const quant = s.info.shape.length === 2 && name.endsWith('.weight') && !(keepEmbeddings && (name === 'lm_head.weight' || name.endsWith('embed_tokens.weight')));
    if (!quant) {
      const d = out.get(name)!;
      expect(d.info.dtype, name).toBe(s.info.dtype);
      expect(d.info.shape, name).toEqual(s.info.shape);
      expect(Buffer.from(d.bytes).equals(Buffer.from(s.bytes)), name).toBe(true);
      continue;
    }
    quantized++;
    const base = name.slice(0, -'.weight'.length);
    const [N, K] = s.info.shape;
    const m = quantizeRows(decodeToF32(s.bytes, s.info.dtype as TensorDtype), N, K, bits, group);
    const packed = out.get(`${base}.weight_packed`)!;
    const scale = out.get(`${base}.weight_scale`)!;
    const shape = out.get(`${base}.weight_shape`)!;
    expect(out.has(name), name).toBe(false);
    expect(packed.info.dtype).toBe('I32');
    expect(packed.info.shape).toEqual([N, Math.ceil((K * bits) / 32)]);
    expect(shape.info.dtype).toBe('I64');
    expect(Array.from(new BigInt64Array(shape.bytes.slice().buffer), Number)).toEqual([N, K]);
    expect(scale.info.shape).toEqual([N, Math.ceil(K / group)]);
    // Unpack every code (low bits first) and compare with quantizeRows'; padding codes are 0.
    const words = u32(packed.bytes);
    const qWords = (m.Kp * bits) / 32;
    const per = 32 / bits;
    const mask = (1 << bits) - 1;
    const W = packedRowWords(K, bits);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < W * per; k++) {
        const got = (words[n * W + Math.floor(k / per)] >>> ((k % per) * bits)) & mask;
        const want = k < K ? (m.qweight[n * qWords + Math.floor(k / per)] >>> ((k % per) * bits)) & mask : 0;
        if (got !== want) expect(`${name}[${n}, ${k}] = ${got}`).toBe(`${name}[${n}, ${k}] = ${want}`);
      }
    }
    // Scales: F16 holding exactly quantizeRows' values (or F32 when one is not an f16 number).
    const scales = scale.info.dtype === 'F16' ? Array.from(new Uint16Array(scale.bytes.slice().buffer), f16ToF32) : Array.from(new Float32Array(scale.bytes.slice().buffer));
    expect(scales, name).toEqual(Array.from(m.scales));
  }
  expect(quantized).toBeGreaterThan(0);
}

const convert = (o: Omit<ConvertOptions, 'model' | 'out'> & { model: string; out: string }) => convertModel(o);

describe('readSafetensorBlocks: a tensor as row blocks of at most B bytes', () => {
  it('the blocks of every tensor, concatenated, are the whole tensor (rows in order), for several block sizes', async () => {
    const p = join(fixturePath('tiny-gqa-f32'), 'model.safetensors');
    const whole = new Map<string, Uint8Array>();
    for await (const { info, bytes } of readSafetensors(fileStream(p), 'model.safetensors', statSync(p).size)) whole.set(info.name, bytes);
    for (const B of [1, 100, 48 * 4 * 3 + 5, 1 << 20]) {
      const parts = new Map<string, Uint8Array[]>();
      for await (const { info, bytes, row0, rows } of readSafetensorBlocks(fileStream(p, 333), 'model.safetensors', statSync(p).size, { blockBytes: B })) {
        const rowBytes = (info.end - info.begin) / info.shape[0];
        const got = parts.get(info.name) ?? [];
        expect(row0, `${info.name} B=${B}`).toBe(got.reduce((s, b) => s + b.byteLength, 0) / rowBytes);
        expect(bytes.byteLength).toBe(rows * rowBytes);
        expect(bytes.byteLength <= B || rows === 1, `${info.name} B=${B}: ${rows} rows of ${rowBytes} bytes`).toBe(true);
        got.push(bytes);
        parts.set(info.name, got);
      }
      expect([...parts.keys()].sort()).toEqual([...whole.keys()].sort());
      for (const [name, bs] of parts) expect(Buffer.concat(bs).equals(Buffer.from(whole.get(name)!)), `${name} B=${B}`).toBe(true);
    }
  });

  it('a truncated file is a ModelFormatError in block mode too', async () => {
    const bytes = readFileSync(join(fixturePath('tiny-gqa-f32'), 'model.safetensors'));
    const cut = bytes.subarray(0, bytes.length - 1000);
    const run = async () => {
      let i = 0;
      const s = new ReadableStream<Uint8Array>({ pull(c) { if (i >= cut.length) c.close(); else { c.enqueue(new Uint8Array(cut.subarray(i, i + 512))); i += 512; } } });
      for await (const b of readSafetensorBlocks(s, 'cut.safetensors', null, { blockBytes: 64 })) void b;
    };
    await expect(run()).rejects.toThrow(ModelFormatError);
    await expect(run()).rejects.toThrow(/truncated inside tensor/);
  });
});

describe('npm run quantize: the compressed-tensors pack-quantized folder', () => {
  it.each([[4, 32], [4, 128], [8, 32], [8, 64]] as const)('q%i g%i of an F32 folder (K = 131: partial words and groups): codes and scales equal quantizeRows, dense tensors copied, files copied', async (bits, group) => {
    const out = join(tmp(), 'q');
    const r = await convert({ model: fixturePath('tiny-gqa-f32'), out, bits, group, shardBytes: 40_000 });
    await checkFolder(fixturePath('tiny-gqa-f32'), out, bits, group);
    // Several shards, each within the limit, named as Hugging Face names them.
    expect(r.shards.length).toBeGreaterThan(1);
    for (const s of r.shards) {
      expect(s).toMatch(new RegExp(`^model-\\d{5}-of-${String(r.shards.length).padStart(5, '0')}\\.safetensors$`));
      const data = [...(await readFolder(out)).values()].filter((t) => t.file === s).reduce((n, t) => n + t.bytes.byteLength, 0);
      expect(data).toBeLessThanOrEqual(40_000);
    }
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const src = JSON.parse(readFileSync(join(fixturePath('tiny-gqa-f32'), 'config.json'), 'utf8'));
    expect({ ...cfg, quantization_config: undefined }).toEqual({ ...src, quantization_config: undefined });
    expect(cfg.quantization_config).toMatchObject({
      quant_method: 'compressed-tensors', format: 'pack-quantized', ignore: [],
      config_groups: { group_0: { targets: ['Linear'], weights: { num_bits: bits, type: 'int', symmetric: true, strategy: 'group', group_size: group } }, group_1: { targets: ['Embedding'] } },
    });
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) expect(readFileSync(join(out, f))).toEqual(readFileSync(join(fixturePath('tiny-gqa-f32'), f)));
    expect(r.f32Scales).toEqual([]);
  });

  it('a sharded BF16 folder with --keep-embeddings: embeddings and lm_head stay dense, lm_head is in `ignore`', async () => {
    const out = join(tmp(), 'q');
    const r = await convert({ model: fixturePath('tiny-llama3-bf16-sharded'), out, bits: 4, group: 64, keepEmbeddings: true });
    await checkFolder(fixturePath('tiny-llama3-bf16-sharded'), out, 4, 64, true);
    expect(r.dense).toEqual(expect.arrayContaining(['model.embed_tokens.weight', 'lm_head.weight']));
    const qc = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config;
    expect(qc.ignore).toEqual(['lm_head']);
    expect(qc.config_groups.group_1).toBeUndefined();
  });

  it('an http(s) source gives the same folder as the local one (the usual files that exist are copied)', async () => {
    const server = await serveModel(fixturePath('tiny-llama3-bf16-sharded'));
    try {
      const local = join(tmp(), 'q');
      const remote = join(tmp(), 'q');
      await convert({ model: fixturePath('tiny-llama3-bf16-sharded'), out: local, bits: 4, group: 32, shardBytes: 30_000 });
      const r = await convert({ model: `${server.origin}/m/`, out: remote, bits: 4, group: 32, shardBytes: 30_000 });
      expect(r.copied).toEqual(['generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
      for (const f of readdirSync(local).filter((n) => !/^golden.*\.json$/.test(n))) expect(readFileSync(join(remote, f)).equals(readFileSync(join(local, f))), f).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('row blocks (one row per block, and a few rows) give the very same files as whole tensors', async () => {
    const dirs: string[] = [];
    for (const blockBytes of [1, 700, 1 << 30]) {
      const out = join(tmp(), 'q');
      await convert({ model: fixturePath('tiny-mha-tied-f16'), out, bits: 4, group: 32, blockBytes, shardBytes: 30_000 });
      dirs.push(out);
    }
    const files = readdirSync(dirs[0]).sort();
    expect(files.filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(1);
    for (const d of dirs.slice(1)) {
      expect(readdirSync(d).sort()).toEqual(files);
      for (const f of files) expect(readFileSync(join(d, f)).equals(readFileSync(join(dirs[0], f))), f).toBe(true);
    }
  });

  it('PyTorch dequantizes the folder by compressed-tensors\' rule to exactly dequantizeRows', async () => {
    for (const [fixture, bits, group] of [['tiny-gqa-f32', 4, 32], ['tiny-llama3-bf16-sharded', 8, 128], ['tiny-gqa-f16-untied', 4, 64]] as const) {
      const out = join(tmp(), 'q');
      await convert({ model: fixturePath(fixture), out, bits, group, shardBytes: 50_000 });
      const py = JSON.parse(execFileSync(PYTHON, [join(ROOT, 'test', 'fixtures', 'ct_dequant.py'), out], { encoding: 'utf8' })) as Record<string, string>;
      const src = await readFolder(fixturePath(fixture));
      const want: Record<string, string> = {};
      for (const [name, s] of src) {
        const f32 = decodeToF32(s.bytes, s.info.dtype as TensorDtype);
        const sha = (a: Float32Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
        if (s.info.shape.length === 2 && name.endsWith('.weight')) want[name] = sha(dequantizeRows(quantizeRows(f32, s.info.shape[0], s.info.shape[1], bits, group)));
        else want[`dense:${name}`] = sha(f32);
      }
      expect(py, `${fixture} q${bits} g${group}`).toEqual(want);
    }
  });

  it('scales that would underflow f16 are written F32, exactly', async () => {
    const dir = tmp();
    const src = join(dir, 'src');
    mkdirSync(src);
    cpSync(join(fixturePath('tiny-gqa-f32'), 'config.json'), join(src, 'config.json'));
    const K = 64;
    const tiny = Float32Array.from({ length: 2 * K }, (_, i) => (i % 7 - 3) * 1e-9); // amax / 7 ≈ 4e-10 < 2^-14
    const normal = Float32Array.from({ length: 2 * K }, (_, i) => Math.sin(i));
    writeFileSync(join(src, 'model.safetensors'), safetensorsFile([
      { name: 'a.weight', dtype: 'F32', shape: [2, K], data: encodeFromF32(tiny, 'F32') },
      { name: 'b.weight', dtype: 'F32', shape: [2, K], data: encodeFromF32(normal, 'F32') },
    ]));
    const out = join(dir, 'q');
    const r = await convert({ model: src, out, bits: 8, group: 32 });
    expect(r.f32Scales).toEqual(['a.weight']);
    const t = await readFolder(out);
    expect(t.get('a.weight_scale')!.info.dtype).toBe('F32');
    expect(t.get('b.weight_scale')!.info.dtype).toBe('F16');
    await checkFolder(src, out, 8, 32);
  });
});

describe('npm run quantize: bad input is a typed error, and nothing is written', () => {
  const folderWith = (tensors: Parameters<typeof safetensorsFile>[0], config: Record<string, unknown> = {}) => {
    const src = join(tmp(), 'src');
    mkdirSync(src);
    const cfg = JSON.parse(readFileSync(join(fixturePath('tiny-gqa-f32'), 'config.json'), 'utf8'));
    writeFileSync(join(src, 'config.json'), JSON.stringify({ ...cfg, ...config }));
    writeFileSync(join(src, 'model.safetensors'), safetensorsFile(tensors));
    return src;
  };

  it('a non-float source tensor: UnsupportedModelError naming it', async () => {
    const src = folderWith([{ name: 'a.weight', dtype: 'F32', shape: [1, 8], data: new Uint8Array(32) }, { name: 'b.weight', dtype: 'I32', shape: [1, 8], data: new Uint8Array(32) }]);
    const out = join(tmp(), 'q');
    await expect(convert({ model: src, out, bits: 4, group: 32 })).rejects.toThrow(UnsupportedModelError);
    await expect(convert({ model: src, out, bits: 4, group: 32 })).rejects.toThrow(/b\.weight.*I32/);
    expect(existsSync(out)).toBe(false);
  });

  it('an already-quantized source (our own output, or any quantization_config): InvalidArgumentError naming the method', async () => {
    const out = join(tmp(), 'q');
    await convert({ model: fixturePath('tiny-gqa-f32'), out, bits: 4, group: 32 });
    const again = join(tmp(), 'q2');
    await expect(convert({ model: out, out: again, bits: 4, group: 32 })).rejects.toThrow(InvalidArgumentError);
    await expect(convert({ model: out, out: again, bits: 4, group: 32 })).rejects.toThrow(/already quantized.*"compressed-tensors"/);
    const gptq = folderWith([{ name: 'a.weight', dtype: 'F32', shape: [1, 8], data: new Uint8Array(32) }], { quantization_config: { quant_method: 'gptq', bits: 4 } });
    await expect(convert({ model: gptq, out: again, bits: 4, group: 32 })).rejects.toThrow(/already quantized.*"gptq"/);
    expect(existsSync(again)).toBe(false);
  });

  it('unsupported bits or group size: InvalidArgumentError (library and CLI)', async () => {
    const out = join(tmp(), 'q');
    await expect(convert({ model: fixturePath('tiny-gqa-f32'), out, bits: 3 as QuantBits, group: 32 })).rejects.toThrow(/bits must be 4 or 8, got 3/);
    await expect(convert({ model: fixturePath('tiny-gqa-f32'), out, bits: 4, group: 16 })).rejects.toThrow(/group size must be 32, 64 or 128, got 16/);
    expect(existsSync(out)).toBe(false);
    expect(() => parseQuantizeCli(['--model', 'x', '--out', 'y', '--bits', '2'])).toThrow(/--bits must be 4 or 8, got "2"/);
    expect(() => parseQuantizeCli(['--model', 'x', '--out', 'y', '--group-size', '48'])).toThrow(/--group-size must be one of 32, 64, 128, got "48"/);
    expect(() => parseQuantizeCli(['--model', 'x'])).toThrow(InvalidArgumentError);
    expect(() => parseQuantizeCli(['--model', 'x', '--out', 'y', '--max-shard-bytes', '0'])).toThrow(/positive integer/);
    expect(() => parseQuantizeCli(['--model', 'x', '--out', 'y', '--nope'])).toThrow(InvalidArgumentError);
    const o = parseQuantizeCli(['--model', fixturePath('tiny-gqa-f32'), '--out', 'y', '--bits', '8', '--group-size', '128', '--keep-embeddings', '--max-shard-bytes', '1000']);
    expect(o).toMatchObject({ model: fixturePath('tiny-gqa-f32'), out: 'y', bits: 8, group: 128, keepEmbeddings: true, force: false, shardBytes: 1000 });
  });

  it('an --out that is not empty needs --force (which replaces its old shards); the source folder is refused', async () => {
    const out = join(tmp(), 'q');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    writeFileSync(join(out, 'model-00001-of-00009.safetensors'), 'stale');
    await expect(convert({ model: fixturePath('tiny-gqa-f32'), out, bits: 4, group: 32 })).rejects.toThrow(/is not empty.*--force/);
    expect(readdirSync(out).sort()).toEqual(['model-00001-of-00009.safetensors', 'notes.txt']);
    await convert({ model: fixturePath('tiny-gqa-f32'), out, bits: 4, group: 32, force: true });
    expect(existsSync(join(out, 'model-00001-of-00009.safetensors'))).toBe(false);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    await checkFolder(fixturePath('tiny-gqa-f32'), out, 4, 32);
    await expect(convert({ model: fixturePath('tiny-gqa-f32'), out: fixturePath('tiny-gqa-f32'), bits: 4, group: 32, force: true })).rejects.toThrow(/is the source folder/);
  });
});
