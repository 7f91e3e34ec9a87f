/**
 * Streaming safetensors reader (format: https://github.com/huggingface/safetensors#format).
 * Layout: u64 little-endian header length N, N bytes of JSON `{name: {dtype, shape, data_offsets}}`,
 * then the data. Tensors are yielded in offset order as soon as their bytes have arrived, so a
 * multi-GB file never sits in memory at once (peak = the largest tensor).
 *
 * Hostile files are rejected with a ModelFormatError before any large allocation: header length
 * beyond the file or above 100 MB, non-object JSON, bad dtypes/shapes/offsets, overlapping or
 * out-of-range offsets, shape × dtype size ≠ byte length, truncated data.
 */
import { ModelFormatError } from '../errors.js';
import type { TensorDtype } from './dtype.js';

/** Every dtype the format defines, with its element size in bytes. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};
/** Largest safetensors header accepted (bytes): longer ones are hostile or corrupt. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** One tensor entry; `begin`/`end` are byte offsets into the data section. */
export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Is `d` a float dtype the runtime can load? */
export function isLoadableDtype(d: string): d is TensorDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

/**
 * Validates a parsed header and returns its tensors sorted by offset.
 * @param dataBytes size of the data section when known (file size − 8 − N).
 */
export function parseHeader(json: unknown, file: string, dataBytes: number | null): TensorInfo[] {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new ModelFormatError(`${file}: safetensors header is not a JSON object.`, { file });
  const out: TensorInfo[] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = v as Record<string, unknown>;
    const bad = (why: string) => new ModelFormatError(`${file}: tensor "${name}": ${why}.`, { file, tensor: name });
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw bad('entry is not an object');
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_SIZES)) throw bad(`unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`invalid shape ${JSON.stringify(e.shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) || (off[0] as number) > (off[1] as number)) {
      throw bad(`invalid data_offsets ${JSON.stringify(off)}`);
    }
    const shape = e.shape as number[];
    let n = 1;
    for (const d of shape) {
      n *= d;
      if (n > Number.MAX_SAFE_INTEGER / 8) throw bad(`absurd shape ${JSON.stringify(shape)}`);
    }
    const [begin, end] = off as number[];
    if (n * DTYPE_SIZES[e.dtype] !== end - begin) throw bad(`shape ${JSON.stringify(shape)} × ${e.dtype} is ${n * DTYPE_SIZES[e.dtype]} bytes but data_offsets span ${end - begin}`);
    if (dataBytes !== null && end > dataBytes) throw bad(`data_offsets end ${end} is beyond the data section (${dataBytes} bytes)`);
    out.push({ name, dtype: e.dtype, shape, begin, end });
  }
  // Like the reference implementation: tensors tile the data section exactly (no overlap, no hole).
  out.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of out) {
    if (t.begin < at) throw new ModelFormatError(`${file}: tensor "${t.name}" overlaps the previous tensor (offset ${t.begin} < ${at}).`, { file, tensor: t.name });
    if (t.begin > at) throw new ModelFormatError(`${file}: hole in the data section before tensor "${t.name}" (offset ${t.begin}, expected ${at}).`, { file, tensor: t.name });
    at = t.end;
  }
  if (dataBytes !== null && at !== dataBytes) throw new ModelFormatError(`${file}: tensors cover ${at} bytes but the data section has ${dataBytes}.`, { file });
  return out;
}

/** Pull-based exact reader over a byte stream. */
class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;
  consumed = 0;
  constructor(stream: ReadableStream<Uint8Array>, readonly onBytes: (n: number) => void) {
    this.#reader = stream.getReader();
  }
  async #fill(): Promise<boolean> {
    const { done, value } = await this.#reader.read();
    if (done) return false;
    this.#buf = value;
    this.#pos = 0;
    this.onBytes(value.byteLength);
    return true;
  }
  /** Reads exactly n bytes into a new array, or returns null at end of stream. */
  async read(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (this.#pos >= this.#buf.byteLength && !(await this.#fill())) return null;
      const take = Math.min(n - got, this.#buf.byteLength - this.#pos);
      out.set(this.#buf.subarray(this.#pos, this.#pos + take), got);
      this.#pos += take;
      got += take;
    }
    this.consumed += n;
    return out;
  }
  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.#pos >= this.#buf.byteLength && !(await this.#fill())) return false;
      const take = Math.min(left, this.#buf.byteLength - this.#pos);
      this.#pos += take;
      left -= take;
    }
    this.consumed += n;
    return true;
  }
  /** Reads to the end of the stream; returns the number of bytes found there. */
  async drain(): Promise<number> {
    let extra = this.#buf.byteLength - this.#pos;
    this.#pos = this.#buf.byteLength;
    while (await this.#fill()) {
      extra += this.#buf.byteLength;
      this.#pos = this.#buf.byteLength;
    }
    return extra;
  }
  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/**
 * N, the header's byte length, from a safetensors file's first 8 bytes (u64 little-endian).
 * @throws ModelFormatError when N exceeds {@link MAX_HEADER_BYTES}.
 */
export function headerLength(first8: Uint8Array, file: string): number {
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER_BYTES) throw new ModelFormatError(`${file}: header length ${n} exceeds the 100 MB limit.`, { file });
  return n;
}

/**
 * The tensors of a safetensors header given as its N bytes of UTF-8 JSON (see {@link parseHeader}).
 * @throws ModelFormatError when the bytes are not valid UTF-8 JSON, or the header is malformed.
 */
export function parseHeaderBytes(header: Uint8Array, file: string, dataBytes: number | null): TensorInfo[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(header).trimEnd());
  } catch (e) {
    throw new ModelFormatError(`${file}: header is not valid JSON (${(e as Error).message}).`, { file });
  }
  return parseHeader(json, file, dataBytes);
}

/**
 * Streams the tensors of one safetensors file.
 * @param size file size in bytes when known (enables up-front checks).
 * @param onBytes called with each chunk's byte count (progress).
 * @param want only tensors for which this returns true are materialised; others are skipped.
 */
export async function* readSafetensors(
  stream: ReadableStream<Uint8Array>,
  file: string,
  size: number | null,
  onBytes: (n: number) => void = () => {},
  want: (info: TensorInfo) => boolean = () => true,
): AsyncGenerator<{ info: TensorInfo; bytes: Uint8Array }> {
  for await (const { info, bytes } of readSafetensorBlocks(stream, file, size, { onBytes, want, blockBytes: Infinity })) yield { info, bytes };
}

/** One row block of a tensor: rows [row0, row0 + rows) of its first dimension, `bytes` their data. */
export interface TensorBlock {
  info: TensorInfo;
  bytes: Uint8Array;
  /** First row (index along the first dimension; 0 for a 0-D tensor). */
  row0: number;
  /** Rows in this block (1 for a 0-D tensor); the tensor's last block ends at shape[0]. */
  rows: number;
}

/** Options of {@link readSafetensorBlocks}. */
export interface BlockReadOptions {
  /** Called with each chunk's byte count (progress). */
  onBytes?: (n: number) => void;
  /** Only tensors for which this returns true are read; others are skipped. */
  want?: (info: TensorInfo) => boolean;
  /**
   * Largest block in bytes: a tensor is yielded as consecutive blocks of whole rows (a row: every
   * dimension after the first), each at most this size, or one row when a row is larger.
   * Infinity: whole tensors. Default 64 MiB.
   */
  blockBytes?: number;
}

/** Default row-block size of {@link readSafetensorBlocks}: 64 MiB. */
export const DEFAULT_BLOCK_BYTES = 64 * 1024 * 1024;

/**
 * Streams the tensors of one safetensors file as row blocks, so a tensor larger than memory can be
 * processed (peak: one block). Validated exactly as {@link readSafetensors} (which is this with
 * whole-tensor blocks): every block of a wanted tensor arrives, in order, before the next tensor;
 * a tensor with 0 rows is one empty block.
 * @param size file size in bytes when known (enables up-front checks).
 * @throws ModelFormatError for a malformed or truncated file (possibly after earlier blocks were
 *   yielded: a consumer must not treat data as complete before the generator finishes). A
 *   blockBytes below one row's size gives one row per block.
 */
export async function* readSafetensorBlocks(
  stream: ReadableStream<Uint8Array>,
  file: string,
  size: number | null,
  { onBytes = () => {}, want = () => true, blockBytes = DEFAULT_BLOCK_BYTES }: BlockReadOptions = {},
): AsyncGenerator<TensorBlock> {
  const r = new ByteReader(stream, onBytes);
  try {
    const tensors = await readHeader(r, file, size);
    let at = 0;
    for (const info of tensors) {
      if (!(await r.skip(info.begin - at))) throw new ModelFormatError(`${file}: truncated before tensor "${info.name}".`, { file });
      at = info.begin;
      const truncated = () => new ModelFormatError(`${file}: truncated inside tensor "${info.name}".`, { file });
      if (!want(info)) {
        if (!(await r.skip(info.end - info.begin))) throw truncated();
      } else {
        const nRows = info.shape.length === 0 ? 1 : info.shape[0];
        const rowBytes = nRows === 0 ? 0 : (info.end - info.begin) / nRows;
        const per = rowBytes === 0 ? Math.max(nRows, 1) : Math.max(1, Math.min(nRows, Math.floor(blockBytes / rowBytes)));
        let row0 = 0;
        do {
          const rows = Math.min(per, nRows - row0);
          const bytes = await r.read(rows * rowBytes);
          if (!bytes) throw truncated();
          yield { info, bytes, row0, rows };
          row0 += rows;
        } while (row0 < nRows);
      }
      at = info.end;
    }
    // Read to the end: trailing bytes are malformed, and stream transforms (integrity) see EOF.
    const extra = await r.drain();
    if (extra > 0) throw new ModelFormatError(`${file}: ${extra} unexpected bytes after the last tensor.`, { file });
  } finally {
    r.cancel();
  }
}

/** Reads and validates the 8-byte length and the header; returns the tensors sorted by offset. */
async function readHeader(r: ByteReader, file: string, size: number | null): Promise<TensorInfo[]> {
  const lenBytes = await r.read(8);
  if (!lenBytes) throw new ModelFormatError(`${file}: truncated (shorter than the 8-byte header length).`, { file });
  const n = headerLength(lenBytes, file);
  if (size !== null && n > size - 8) throw new ModelFormatError(`${file}: header length ${n} is beyond the file size ${size}.`, { file });
  const hdr = await r.read(n);
  if (!hdr) throw new ModelFormatError(`${file}: truncated inside the header.`, { file });
  return parseHeaderBytes(hdr, file, size === null ? null : size - 8 - n);
}

/**
 * The tensors of a safetensors file from its header alone (validated as {@link readSafetensors}
 * does, data not read); the stream is cancelled after the header.
 * @throws ModelFormatError for a malformed or truncated header.
 */
export async function readSafetensorsHeader(stream: ReadableStream<Uint8Array>, file: string, size: number | null): Promise<TensorInfo[]> {
  const r = new ByteReader(stream, () => {});
  try {
    return await readHeader(r, file, size);
  } finally {
    r.cancel();
  }
}
