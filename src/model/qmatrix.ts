/**
 * A weight matrix [N, K] on the GPU in the group format of src/model/quantize.ts (4- or 8-bit codes,
 * 8-bit zero points, f16 or f32 scales per group of G input features). Split by rows into chunks that
 * each fit one binding; each chunk has three buffers bound as (qweight, ·, ·, scales, zeros) by the
 * `weight` override variant src/kernels/qweight.ts makes (`kernel` for the matmul, `embedKernel` for
 * the embedding gather).
 *
 * Filled part by part (fused q/k/v, gate/up) and row block by row block: codes and zero points go to
 * the GPU as they come; the scales (N × groups f32 values, 1/8 of the f32 weights' size for G = 32)
 * wait on the CPU until the last row is in ({@link full}; the model then calls {@link complete}, so
 * only the matrices being filled hold CPU scales), which picks their storage (f16 when every scale of the
 * matrix is exactly an f16 number, `scaleStorage`) and the kernel variant.
 */
import { LimitTooLowError, UnsupportedQuantizationError } from '../errors.js';
import { qgroupChunkBytes, qgroupEmbed, qgroupGidxChunkBytes, qgroupGidxMatmul, qgroupMatmul, qgroupName } from '../kernels/qweight.js';
import { packScales, qgroupRowWords, scaleStorage, type QuantBits, type QuantizedMatrix, type ScaleDtype } from './quantize.js';
import { WeightMatrix, allocBuffer } from './weights.js';

interface QChunkBuffers {
  scales: GPUBuffer | null;
  zeros: GPUBuffer;
}

export class QGroupMatrix extends WeightMatrix {
  readonly #q: number;
  readonly #z: number;
  readonly #groups: number;
  readonly #extra: QChunkBuffers[] = [];
  #scales: Float32Array | null;
  #scaleDtype: ScaleDtype | null = null;
  #device!: GPUDevice;
  /** Per-input-feature group index [Kp] (GPTQ activation order), shared by every part; null: ⌊k / group⌋. */
  #gidx: Uint32Array | null = null;
  /** The part whose group index {@link setGidx} recorded first (null: none yet). */
  #gidxPart: string | null = null;
  #gidxBuffer: GPUBuffer | null = null;
  #rowsWritten = 0;

  private constructor(name: string, N: number, K: number, readonly bits: QuantBits, readonly group: number) {
    super(name, N, K, 'F32');
    const w = qgroupRowWords(K, bits, group, 'f32');
    this.#q = w.q;
    this.#z = w.z;
    this.#groups = w.groups;
    this.#scales = new Float32Array(N * w.groups);
  }

  /** Allocates codes and zero points for [N, K], chunked so each chunk's codes fit `maxBindingBytes`. */
  static async createQ(device: GPUDevice, name: string, N: number, K: number, bits: QuantBits, group: number, maxBindingBytes: number): Promise<QGroupMatrix> {
    const m = new QGroupMatrix(name, N, K, bits, group);
    m.#device = device;
    const rowBytes = 4 * m.#q;
    if (rowBytes > maxBindingBytes) throw new LimitTooLowError('maxStorageBufferBindingSize', maxBindingBytes, rowBytes, `One row of ${name} does not fit one binding.`);
    const rowsPerChunk = Math.max(1, Math.floor(maxBindingBytes / rowBytes));
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    for (let row0 = 0; row0 < N; row0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, N - row0);
      const buffer = await allocBuffer(device, { label: `${name}[${row0}:${row0 + rows}].q`, size: rows * rowBytes, usage });
      const zeros = await allocBuffer(device, { label: `${name}[${row0}:${row0 + rows}].zeros`, size: Math.max(16, Math.ceil((rows * m.#z * 4) / 16) * 16), usage });
      m.chunks.push({ buffer, row0, rows });
      m.#extra.push({ scales: null, zeros });
    }
    return m;
  }

  override get formatName(): string {
    return qgroupName(this.bits, this.group, this.#scaleDtype ?? 'f16');
  }

  override get chunkBytes(): number {
    return this.#gidx ? qgroupGidxChunkBytes() : qgroupChunkBytes(this.bits);
  }

  /**
   * Records the group index of a part written next (null: the trivial ⌊k / group⌋). Every part of a
   * fused matrix must have the same one: AutoGPTQ and GPTQModel quantize the parts of one input (q/k/v,
   * gate/up) from the same Hessian, so their activation orders agree.
   * @throws UnsupportedQuantizationError when a part's group index differs from an earlier part's.
   */
  setGidx(part: string, gidx: Uint32Array | null): void {
    if (gidx && gidx.length !== this.Kp) throw new UnsupportedQuantizationError(`${part}: g_idx of ${gidx.length} features for a matrix of ${this.Kp}`, 'g_idx of K features');
    if (this.#gidxPart !== null) {
      const a = this.#gidx;
      const same = a === null || gidx === null ? a === gidx : a.length === gidx.length && a.every((v, i) => v === gidx[i]);
      if (!same) throw new UnsupportedQuantizationError(`${part}: a g_idx (activation order) that differs from ${this.#gidxPart}'s, another part of the fused ${this.name} matrix`, 'one g_idx per fused input (as AutoGPTQ and GPTQModel write them)');
      return;
    }
    this.#gidx = gidx;
    this.#gidxPart = part;
  }

  /** GPU bytes: codes + zero points + scales (f16 assumed until {@link complete}) + the group index. */
  override get bytes(): number {
    const s = qgroupRowWords(this.K, this.bits, this.group, this.#scaleDtype ?? 'f16').s;
    return 4 * this.N * (this.#q + this.#z + s) + (this.#gidx ? 4 * this.Kp : 0);
  }

  /** Whether the matrix has a per-feature group index (then it cannot be the embedding table). */
  get hasGidx(): boolean {
    return this.#gidx !== null;
  }

  override extraBuffers(j: number): GPUBuffer[] {
    const e = this.#extra[j];
    if (!e.scales) throw new Error(`${this.name}: scales not uploaded (complete() was not called)`);
    return this.#gidxBuffer ? [e.scales, e.zeros, this.#gidxBuffer] : [e.scales, e.zeros];
  }

  /** Whether every row has been written (then {@link complete} can store the scales and free the CPU copy). */
  get full(): boolean {
    return this.#rowsWritten >= this.N;
  }

  /** Scale storage, once {@link complete} has run. */
  get scaleDtype(): ScaleDtype | null {
    return this.#scaleDtype;
  }

  override write(): void {
    throw new Error(`${this.name}: a group-quantized matrix is filled with writeQuantized`);
  }

  /**
   * Writes the rows of `m` (same K, bits and group as this matrix) at rows row0 .. row0 + m.N − 1.
   * @throws Error when the format or the row range does not match.
   */
  writeQuantized(queue: GPUQueue, row0: number, m: QuantizedMatrix): void {
    if (m.K !== this.K || m.bits !== this.bits || m.group !== this.group) throw new Error(`${this.name}: writing a [${m.N}, ${m.K}] q${m.bits}g${m.group} block into a [${this.N}, ${this.K}] q${this.bits}g${this.group} matrix`);
    if (row0 < 0 || row0 + m.N > this.N) throw new Error(`${this.name}: rows [${row0}, ${row0 + m.N}) out of [0, ${this.N})`);
    if (!this.#scales) throw new Error(`${this.name}: already complete`);
    this.#scales.set(m.scales, row0 * this.#groups);
    this.#rowsWritten += m.N;
    this.chunks.forEach((c, j) => {
      const a = Math.max(row0, c.row0);
      const b = Math.min(row0 + m.N, c.row0 + c.rows);
      if (a >= b) return;
      const put = (buf: GPUBuffer, src: Uint32Array, words: number) => {
        const part = src.subarray((a - row0) * words, (b - row0) * words);
        queue.writeBuffer(buf, (a - c.row0) * words * 4, part.buffer, part.byteOffset, part.byteLength);
      };
      put(c.buffer, m.qweight, this.#q);
      put(this.#extra[j].zeros, m.zeros, this.#z);
    });
  }

  /**
   * After every row is written: stores the scales (f16 when all are f16-exact, else f32), and sets
   * {@link kernel} / {@link embedKernel} to the format's variants. Frees the CPU scales.
   * @throws OutOfMemoryError when the scale buffers cannot be allocated.
   */
  async complete(): Promise<void> {
    if (!this.#scales) return;
    const sd = scaleStorage(this.#scales);
    const sw = qgroupRowWords(this.K, this.bits, this.group, sd).s;
    for (const [j, c] of this.chunks.entries()) {
      const part = this.#scales.subarray(c.row0 * this.#groups, (c.row0 + c.rows) * this.#groups);
      const packed = packScales(part, c.rows, this.#groups, sd);
      const buf = await allocBuffer(this.#device, { label: `${this.name}[${c.row0}:${c.row0 + c.rows}].scales`, size: Math.max(16, Math.ceil((c.rows * sw * 4) / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      this.#device.queue.writeBuffer(buf, 0, packed);
      this.#extra[j].scales = buf;
    }
    this.#scaleDtype = sd;
    this.#scales = null;
    if (this.#gidx) {
      const buf = await allocBuffer(this.#device, { label: `${this.name}.g_idx`, size: Math.max(16, Math.ceil((this.#gidx.byteLength) / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      this.#device.queue.writeBuffer(buf, 0, Uint32Array.from(this.#gidx));
      this.#gidxBuffer = buf;
      this.kernel = qgroupGidxMatmul(this.bits, this.group, sd);
    } else {
      this.kernel = qgroupMatmul(this.bits, this.group, sd);
      this.embedKernel = qgroupEmbed(this.bits, this.group, sd);
    }
  }

  override destroy(): void {
    super.destroy();
    for (const e of this.#extra) {
      e.zeros.destroy();
      e.scales?.destroy();
    }
    this.#gidxBuffer?.destroy();
  }
}
