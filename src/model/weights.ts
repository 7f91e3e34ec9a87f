/**
 * GPU weight storage. A weight matrix [N, K] (nn.Linear layout) is stored row-major with rows
 * zero-padded to Kp = roundUp(K, 8) elements, in its file dtype (f32, or f16/bf16 packed two per
 * u32), and split by rows into chunks of at most `maxBindingBytes` so each chunk can be bound.
 * Fused matrices (QKV, gate|up) are filled part by part at row offsets.
 */
import { LimitTooLowError, OutOfMemoryError } from '../errors.js';
import { roundUp, type KernelDef } from '../gpu/kernel.js';
import { openErrorScopes, toMsnError } from '../gpu/scope.js';
import { EMBED } from '../kernels/embed.js';
import { MATMUL, WEIGHT_CHUNK_BYTES, type WeightFormat } from '../kernels/matmul.js';
import { DTYPE_BYTES, decodeToF32, padRows, type TensorDtype } from './dtype.js';

export const FORMAT_OF: Record<TensorDtype, WeightFormat> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** One bindable piece of a matrix: rows [row0, row0 + rows). */
export interface WeightChunk {
  buffer: GPUBuffer;
  row0: number;
  rows: number;
}

/**
 * Allocates a GPU buffer inside error scopes.
 * @throws OutOfMemoryError naming the buffer and its size when the allocation fails;
 *   GpuValidationError when the device rejects the descriptor (e.g. larger than maxBufferSize).
 */
export async function allocBuffer(device: GPUDevice, desc: GPUBufferDescriptor): Promise<GPUBuffer> {
  const scopes = openErrorScopes(device);
  const buf = device.createBuffer(desc);
  const err = await scopes.close();
  if (err) {
    buf.destroy();
    const label = desc.label ?? 'buffer';
    throw err.filter === 'out-of-memory' ? new OutOfMemoryError(label, desc.size) : toMsnError(err, `allocating ${label} (${desc.size} bytes)`, '');
  }
  return buf;
}

export class WeightMatrix {
  readonly Kp: number;
  readonly chunks: WeightChunk[] = [];
  readonly bytesPerRow: number;

  protected constructor(
    readonly name: string,
    readonly N: number,
    readonly K: number,
    readonly dtype: TensorDtype,
  ) {
    this.Kp = roundUp(K, 8);
    this.bytesPerRow = this.Kp * DTYPE_BYTES[dtype];
  }

  /** The default `weight` decoding's format constant (WFMT); a variant with its own decoding ignores it. */
  get fmt(): WeightFormat {
    return FORMAT_OF[this.dtype];
  }

  /** The format as reported in `ModelInfo.weightFormats`: `f32`, `f16`, `bf16`, or a group format such as `q4g32`. */
  get formatName(): string {
    return this.fmt;
  }

  /**
   * The matmul kernel this matrix runs with: {@link MATMUL} for f32/f16/bf16; a weight format with
   * its own decoding (the 4/8-bit groups of QGroupMatrix, src/model/qmatrix.ts) sets a variant made with `overridePoint(MATMUL,
   * 'weight', ...)`, which the model compiles, binds and dispatches for this matrix.
   */
  kernel: KernelDef = MATMUL;

  /** The embedding-gather kernel for this matrix when it is the embedding table ({@link EMBED} or a variant of its `weight` override, with the same extra bindings as {@link kernel}). */
  embedKernel: KernelDef = EMBED;

  /** Global bytes of one 8-element weight chunk (the traffic model's `reads.weights`). */
  get chunkBytes(): number {
    return WEIGHT_CHUNK_BYTES[this.fmt];
  }

  /**
   * Buffers bound after (W chunk, X, Y) for buffer chunk `j` (e.g. that chunk's scales and zero
   * points), in the order of the kernel's extra bindings; none for f32/f16/bf16.
   */
  extraBuffers(j: number): GPUBuffer[] {
    void j;
    return [];
  }

  get bytes(): number {
    return this.N * this.bytesPerRow;
  }

  /** Allocates an [N, K] matrix in `dtype`, chunked under `maxBindingBytes`. */
  static async create(device: GPUDevice, name: string, N: number, K: number, dtype: TensorDtype, maxBindingBytes: number): Promise<WeightMatrix> {
    const m = new WeightMatrix(name, N, K, dtype);
    if (m.bytesPerRow > maxBindingBytes) throw new LimitTooLowError('maxStorageBufferBindingSize', maxBindingBytes, m.bytesPerRow, `One row of ${name} does not fit one binding.`);
    const rowsPerChunk = Math.max(1, Math.floor(maxBindingBytes / m.bytesPerRow));
    for (let row0 = 0; row0 < N; row0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, N - row0);
      const buffer = await allocBuffer(device, { label: `${name}[${row0}:${row0 + rows}]`, size: rows * m.bytesPerRow, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      m.chunks.push({ buffer, row0, rows });
    }
    return m;
  }

  /** Writes `rows` rows (raw bytes of this matrix's dtype, K elements each) starting at `row0`. */
  write(queue: GPUQueue, row0: number, rows: number, bytes: Uint8Array): void {
    const data = padRows(bytes, rows, this.K, this.Kp, this.dtype);
    for (const c of this.chunks) {
      const a = Math.max(row0, c.row0);
      const b = Math.min(row0 + rows, c.row0 + c.rows);
      if (a >= b) continue;
      const src = data.subarray((a - row0) * this.bytesPerRow, (b - row0) * this.bytesPerRow);
      queue.writeBuffer(c.buffer, (a - c.row0) * this.bytesPerRow, src.buffer, src.byteOffset, src.byteLength);
    }
  }

  destroy(): void {
    for (const c of this.chunks) c.buffer.destroy();
  }
}

/** Uploads a 1-D tensor (e.g. a norm weight) as f32, zero-padded to `padTo` elements. */
export async function uploadVectorF32(device: GPUDevice, name: string, bytes: Uint8Array, dtype: TensorDtype, padTo: number): Promise<GPUBuffer> {
  const v = decodeToF32(bytes, dtype);
  const data = new Float32Array(padTo);
  data.set(v);
  const buf = await allocBuffer(device, { label: name, size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buf, 0, data);
  return buf;
}
