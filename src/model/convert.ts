/**
 * The offline converter behind `npm run quantize` (Node only): reads a Hugging Face folder of
 * F32/F16/BF16 safetensors (local or http(s), `createModelSource`) tensor by tensor in row blocks,
 * quantizes every 2-D `.weight` with the one rule of src/model/quantize.ts (`quantizeRows`), and
 * writes a compressed-tensors `pack-quantized` folder (src/model/pack-quantized.ts): shards of at
 * most `shardBytes` (a tensor larger than that gets a shard of its own), model.safetensors.index.json,
 * config.json with `quantization_config`, and every other file of the folder copied.
 *
 * Memory: one row block of input (≤ blockBytes, default 64 MiB) and its f32 copy and codes, plus one
 * tensor's scales ([N, K/G] f32: 64 MB for an 8B embedding at G = 32). Output data goes straight to
 * disk: each shard's header space is reserved first (its size is known from the input headers: the
 * header with every scale F32 is the longest, since F16 and F32 name the same length and only
 * shrink offsets), the data is written in order, and the header (padded with spaces, which the
 * format allows) is written into that space when the shard is done.
 *
 * Every check that can fail on the input runs before anything is written: a source that is already
 * quantized (config.json has `quantization_config`), a non-float tensor, a tensor named twice, an
 * --out that is not empty (without `force`) or is the source folder.
 */
import { mkdir, open as openFile, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, ModelFormatError, UnsupportedModelError } from '../errors.js';
import { decodeToF32, type TensorDtype } from './dtype.js';
import { describeModel } from './loader.js';
import { packedNames, packedRowWords, packRows, quantizationConfig, scaleFileBytes, scaleTensorDtype } from './pack-quantized.js';
import { qgroupRowWords, quantizeRows, scaleStorage, type QuantBits, type ScaleDtype } from './quantize.js';
import { DEFAULT_BLOCK_BYTES, isLoadableDtype, readSafetensorBlocks, readSafetensorsHeader, type TensorInfo } from './safetensors.js';
import { createModelSource, readJson, type ModelSource } from './source.js';

/** Largest output shard by default: 1 GiB of tensor data. */
export const DEFAULT_SHARD_BYTES = 1024 ** 3;

/** Files of the source folder that the converter writes itself (or drops: manifest.json's digests are the source's). */
const NOT_COPIED = new Set(['config.json', 'model.safetensors', 'model.safetensors.index.json', 'manifest.json']);
/** Files copied from a URL source, where the folder cannot be listed (those that exist). */
const URL_FILES = [
  'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json',
  'chat_template.jinja', 'chat_template.json', 'tokenizer.model', 'vocab.json', 'merges.txt', 'README.md', 'LICENSE',
];

/** Options of {@link convertModel}. */
export interface ConvertOptions {
  /** Source folder: a local path, a `file:` URL or an http(s) folder URL. */
  model: string;
  /** Hugging Face token for a gated source repository, and origins trusted with it besides the Hub's (src/model/source.ts). */
  hubToken?: string;
  hubTokenOrigins?: string[];
  /** Output folder (created; must be empty or absent unless `force`). */
  out: string;
  bits: QuantBits;
  /** Group size G: 32, 64 or 128 input features per scale. */
  group: number;
  /** Keep `*embed_tokens.weight` and `lm_head.weight` dense, in their source dtype (default false: quantized). */
  keepEmbeddings?: boolean;
  /** Write into a non-empty --out (its old .safetensors files and index are removed first). */
  force?: boolean;
  /** Largest shard (bytes of tensor data); default {@link DEFAULT_SHARD_BYTES}. */
  shardBytes?: number;
  /** Largest row block read at once (bytes); default 64 MiB. */
  blockBytes?: number;
  /** Called as input bytes arrive. */
  onProgress?: (p: ConvertProgress) => void;
}

export interface ConvertProgress {
  readBytes: number;
  /** Sum of the weight files' sizes, or null when unknown. */
  totalBytes: number | null;
  /** Tensor being converted. */
  tensor: string;
}

/** What {@link convertModel} wrote. */
export interface ConvertResult {
  /** Shard file names, in order. */
  shards: string[];
  /** Source tensors quantized, and kept dense. */
  quantized: string[];
  dense: string[];
  /** Quantized tensors whose scales are written F32 (some scale is not an f16 number). */
  f32Scales: string[];
  /** Other files copied from the source folder. */
  copied: string[];
  /** Bytes of tensor data written (the index's total_size). */
  totalSize: number;
}

/** An embedding or LM head weight (the tensors --keep-embeddings keeps dense). */
export function isEmbeddingOrHead(name: string): boolean {
  return name === 'lm_head.weight' || name.endsWith('embed_tokens.weight');
}

/** A tensor the converter quantizes: a 2-D `.weight` (Linear-like), unless kept dense. */
export function isQuantized(info: Pick<TensorInfo, 'name' | 'shape'>, keepEmbeddings: boolean): boolean {
  return info.shape.length === 2 && info.name.endsWith('.weight') && !(keepEmbeddings && isEmbeddingOrHead(info.name));
}

interface OutTensor { name: string; dtype: string; shape: number[]; bytes: number }
interface Planned { info: TensorInfo; quant: boolean; shard: number; outs: OutTensor[] }

/** The output tensors of one source tensor, with their largest sizes (scales as F32). */
function outputsOf(info: TensorInfo, quant: boolean, bits: QuantBits, group: number): OutTensor[] {
  if (!quant) return [{ name: info.name, dtype: info.dtype, shape: info.shape, bytes: info.end - info.begin }];
  const [N, K] = info.shape;
  const groups = qgroupRowWords(K, bits, group, 'f32').groups;
  const n = packedNames(info.name);
  return [
    { name: n.packed, dtype: 'I32', shape: [N, packedRowWords(K, bits)], bytes: 4 * N * packedRowWords(K, bits) },
    { name: n.scale, dtype: 'F32', shape: [N, groups], bytes: 4 * N * groups },
    { name: n.shape, dtype: 'I64', shape: [2], bytes: 16 },
  ];
}

/** The safetensors header JSON of `tensors` laid out in order. */
function headerJson(tensors: OutTensor[], metadata: Record<string, string>): string {
  const h: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.bytes] };
    at += t.bytes;
  }
  return JSON.stringify(h);
}

const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** One output shard written in order, its header written last into reserved space. */
class ShardWriter {
  readonly #tensors: OutTensor[] = [];
  #at = 0;
  #open: OutTensor | null = null;
  private constructor(readonly fh: FileHandle, readonly reserved: number, readonly metadata: Record<string, string>) {}
  static async create(path: string, upper: OutTensor[], metadata: Record<string, string>): Promise<ShardWriter> {
    const reserved = Math.ceil(new TextEncoder().encode(headerJson(upper, metadata)).byteLength / 8) * 8;
    return new ShardWriter(await openFile(path, 'w'), reserved, metadata);
  }
  begin(name: string, dtype: string, shape: number[]): void {
    this.#open = { name, dtype, shape, bytes: 0 };
  }
  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.byteLength - done, 8 + this.reserved + this.#at);
      done += bytesWritten;
      this.#at += bytesWritten;
    }
    this.#open!.bytes += bytes.byteLength;
  }
  end(): void {
    this.#tensors.push(this.#open!);
    this.#open = null;
  }
  /** Writes the header (padded to the reserved length) and closes the file; returns the data bytes. */
  async finish(): Promise<number> {
    const json = new TextEncoder().encode(headerJson(this.#tensors, this.metadata));
    if (json.byteLength > this.reserved) throw new Error(`shard header (${json.byteLength} bytes) exceeds its reserved ${this.reserved} bytes`);
    const head = new Uint8Array(8 + this.reserved).fill(0x20);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, this.reserved, true); // u64 little-endian header length
    dv.setUint32(4, 0, true);
    head.set(json, 8);
    await this.fh.write(head, 0, head.byteLength, 0);
    await this.fh.close();
    return this.#at;
  }
  async abort(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}

/** The local folder of a path or `file:` location, or null for an http(s) URL. */
function localFolder(location: string): string | null {
  if (/^https?:\/\//i.test(location)) return null;
  return resolve(location.startsWith('file:') ? fileURLToPath(location) : location);
}

/** Checks --out before anything is written; with `force`, removes its old weights. @throws InvalidArgumentError */
async function prepareOut(out: string, source: string | null, force: boolean): Promise<void> {
  const dir = resolve(out);
  if (source !== null && dir === source) throw new InvalidArgumentError(`--out ${out} is the source folder: write the converted model to another folder.`, { out });
  let entries: string[] | null = null;
  try {
    if (!(await stat(dir)).isDirectory()) throw new InvalidArgumentError(`--out ${out} exists and is not a folder.`, { out });
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (entries && entries.length > 0) {
    if (!force) throw new InvalidArgumentError(`--out ${out} is not empty (${entries.length} entries): choose an empty or new folder, or pass --force to write into it (its .safetensors files and index are replaced).`, { out });
    for (const e of entries) if (e.endsWith('.safetensors') || e === 'model.safetensors.index.json') await rm(join(dir, e));
  }
  await mkdir(dir, { recursive: true });
}

/** Copies one file of the source to `dest`, streaming. */
async function copyFile(src: ModelSource, name: string, dest: string): Promise<void> {
  const f = await src.open(name);
  const fh = await openFile(dest, 'w');
  try {
    const reader = f.stream.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) await fh.write(r.value);
  } finally {
    await fh.close();
  }
}

/**
 * Converts a model folder to compressed-tensors `pack-quantized` (see the file header).
 * @throws InvalidArgumentError for unsupported bits/group, an already-quantized source, or a bad --out;
 *   UnsupportedModelError for a non-float tensor or an unsupported config; ModelFormatError for
 *   malformed files; NetworkError when a file cannot be read. All but a file failing mid-transfer
 *   are thrown before anything is written.
 */
export async function convertModel(o: ConvertOptions): Promise<ConvertResult> {
  const { bits, group } = o;
  qgroupRowWords(8, bits, group, 'f32'); // validates bits and group
  const keep = o.keepEmbeddings ?? false;
  const shardBytes = o.shardBytes ?? DEFAULT_SHARD_BYTES;
  const blockBytes = o.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (!(shardBytes > 0) || !(blockBytes > 0)) throw new InvalidArgumentError('shardBytes and blockBytes must be positive.');

  const folder = createModelSource(o.model, { hubToken: o.hubToken, hubTokenOrigins: o.hubTokenOrigins });
  const config = (await readJson(folder, 'config.json')) as Record<string, unknown>;
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new ModelFormatError('config.json is not a JSON object.', { file: 'config.json' });
  const qc = config.quantization_config as { quant_method?: unknown } | undefined;
  if (qc !== undefined && qc !== null) {
    throw new InvalidArgumentError(`${o.model} is already quantized (quantization_config.quant_method = ${JSON.stringify(qc.quant_method ?? null)}): convert its unquantized F32/F16/BF16 original.`, { quantMethod: qc.quant_method ?? null });
  }
  const desc = await describeModel(folder);
  const src = desc.source;

  // Every header first: the plan (and every input check) before anything is written.
  const planned: Planned[] = [];
  const perFile: Array<{ file: string; items: Map<string, Planned> }> = [];
  const seen = new Set<string>();
  let shard = 0;
  let shardUsed = 0;
  for (const file of desc.weightFiles) {
    const f = await src.open(file);
    const infos = await readSafetensorsHeader(f.stream, file, f.size);
    const items = new Map<string, Planned>();
    for (const info of infos) {
      if (!isLoadableDtype(info.dtype)) throw new UnsupportedModelError(`dtype of tensor ${info.name}`, info.dtype, 'F32, F16, BF16 (the converter reads unquantized checkpoints)');
      if (seen.has(info.name)) throw new ModelFormatError(`Tensor ${info.name} appears twice (in ${file}).`, { tensor: info.name, file });
      seen.add(info.name);
      const quant = isQuantized(info, keep);
      const outs = outputsOf(info, quant, bits, group);
      const bytes = outs.reduce((s, t) => s + t.bytes, 0);
      if (shardUsed > 0 && shardUsed + bytes > shardBytes) {
        shard++;
        shardUsed = 0;
      }
      shardUsed += bytes;
      const p = { info, quant, shard, outs };
      planned.push(p);
      items.set(info.name, p);
    }
    perFile.push({ file, items });
  }
  const nShards = shard + 1;
  const shardName = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(nShards).padStart(5, '0')}.safetensors`;
  await prepareOut(o.out, localFolder(o.model), o.force ?? false);
  const out = resolve(o.out);

  const metadata = { format: 'pt', quantizer: `msn-webgpu npm run quantize (src/model/quantize.ts rule, q${bits} g${group})` };
  const result: ConvertResult = { shards: [], quantized: [], dense: [], f32Scales: [], copied: [], totalSize: 0 };
  const weightMap: Record<string, string> = {};
  let writer: ShardWriter | null = null;
  let writerShard = -1;
  let readBytes = 0;
  try {
    for (const { file, items } of perFile) {
      const f = await src.open(file);
      let current = '';
      const onBytes = (n: number) => {
        readBytes += n;
        o.onProgress?.({ readBytes, totalBytes: desc.totalBytes, tensor: current });
      };
      let scales: Float32Array | null = null;
      for await (const { info, bytes, row0, rows } of readSafetensorBlocks(f.stream, file, f.size, { onBytes, blockBytes })) {
        const p = items.get(info.name)!;
        current = info.name;
        if (row0 === 0) {
          if (p.shard !== writerShard) {
            if (writer) result.totalSize += await writer.finish();
            writer = null;
            writerShard = p.shard;
            const name = shardName(p.shard);
            writer = await ShardWriter.create(join(out, name), planned.filter((q) => q.shard === p.shard).flatMap((q) => q.outs), metadata);
            result.shards.push(name);
          }
          writer!.begin(p.outs[0].name, p.outs[0].dtype, p.outs[0].shape);
          if (p.quant) scales = new Float32Array(p.outs[1].shape[0] * p.outs[1].shape[1]);
        }
        const w = writer!;
        if (!p.quant) {
          await w.write(bytes);
        } else {
          const [N, K] = info.shape;
          const m = quantizeRows(decodeToF32(bytes, info.dtype as TensorDtype), rows, K, bits, group);
          await w.write(asBytes(packRows(m)));
          scales!.set(m.scales, row0 * m.groups);
          if (row0 + rows === N) {
            w.end();
            const dtype: ScaleDtype = scaleStorage(scales!);
            if (dtype === 'f32') result.f32Scales.push(info.name);
            const [, sh, shp] = p.outs;
            w.begin(sh.name, scaleTensorDtype(dtype), sh.shape);
            await w.write(scaleFileBytes(scales!, dtype));
            w.end();
            w.begin(shp.name, 'I64', shp.shape);
            await w.write(asBytes(BigInt64Array.of(BigInt(N), BigInt(K))));
            scales = null;
          }
        }
        const nRows = info.shape.length === 0 ? 1 : info.shape[0];
        if (row0 + rows === nRows) {
          w.end();
          for (const t of p.outs) weightMap[t.name] = shardName(p.shard);
          (p.quant ? result.quantized : result.dense).push(info.name);
        }
      }
    }
    if (writer) result.totalSize += await (writer as ShardWriter).finish();
    writer = null;
  } catch (e) {
    await (writer as ShardWriter | null)?.abort();
    throw e;
  }

  const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
  await writeText(join(out, 'model.safetensors.index.json'), { metadata: { total_size: result.totalSize }, weight_map: sortedMap });
  const embedQuant = planned.some((p) => p.quant && p.info.name.endsWith('embed_tokens.weight'));
  const ignore = planned.filter((p) => !p.quant && p.info.name === 'lm_head.weight').map(() => 'lm_head');
  await writeText(join(out, 'config.json'), { ...config, quantization_config: quantizationConfig({ bits, group, embeddingQuantized: embedQuant, ignore }) });

  const local = localFolder(o.model);
  const names = local !== null
    ? (await readdir(local, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name)
    : (await Promise.all(URL_FILES.map(async (n) => ((await src.exists(n)) ? n : null)))).filter((n): n is string => n !== null);
  for (const name of names.sort()) {
    if (NOT_COPIED.has(name) || name.endsWith('.safetensors') || desc.weightFiles.includes(name)) continue;
    await copyFile(src, name, join(out, name));
    result.copied.push(name);
  }
  return result;
}

async function writeText(path: string, json: unknown): Promise<void> {
  const fh = await openFile(path, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(json, null, 2)}\n`);
  } finally {
    await fh.close();
  }
}
