/** Test helper: the tensors of a fixture folder's safetensors files, read whole (tiny fixtures only), and writing a copy. */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headerLength, parseHeaderBytes } from '../../src/model/safetensors.js';
import { decodeToF32, type TensorDtype } from '../../src/model/dtype.js';

export interface FileTensor {
  file: string;
  dtype: TensorDtype;
  shape: number[];
  /** Byte offset of the tensor's data in its file. */
  offset: number;
  values: Float32Array;
}

/** Every tensor of every *.safetensors file in `folder`, decoded to f32 (exact for F32/F16/BF16). */
export function readFolderTensors(folder: string): Map<string, FileTensor> {
  const out = new Map<string, FileTensor>();
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.safetensors')).sort()) {
    const buf = new Uint8Array(readFileSync(join(folder, file)));
    const n = headerLength(buf.subarray(0, 8), file);
    const data = 8 + n;
    for (const t of parseHeaderBytes(buf.subarray(8, data), file, buf.length - data)) {
      const dtype = t.dtype as TensorDtype;
      out.set(t.name, { file, dtype, shape: t.shape, offset: data + t.begin, values: decodeToF32(buf.subarray(data + t.begin, data + t.end), dtype) });
    }
  }
  return out;
}

/**
 * Copies every file of `folder` into `dest` and overwrites element `index` of tensor `name` with
 * `value` (encoded in the tensor's dtype: F32, or the high half of the f32 bits for BF16, or an
 * f16 NaN / ±Inf for F16 when `value` is not finite).
 */
export function copyWithValue(folder: string, dest: string, name: string, index: number, value: number): void {
  for (const f of readdirSync(folder)) copyFileSync(join(folder, f), join(dest, f));
  const t = readFolderTensors(folder).get(name);
  if (!t) throw new Error(`no tensor ${name} in ${folder}`);
  const path = join(dest, t.file);
  const buf = new Uint8Array(readFileSync(path));
  const dv = new DataView(buf.buffer);
  if (t.dtype === 'F32') dv.setFloat32(t.offset + 4 * index, value, true);
  else if (t.dtype === 'BF16') dv.setUint16(t.offset + 2 * index, new Uint32Array(Float32Array.of(value).buffer)[0] >>> 16, true);
  else if (Number.isNaN(value)) dv.setUint16(t.offset + 2 * index, 0x7e00, true);
  else if (!Number.isFinite(value)) dv.setUint16(t.offset + 2 * index, value > 0 ? 0x7c00 : 0xfc00, true);
  else throw new Error('copyWithValue: finite F16 values are not needed by the tests');
  writeFileSync(path, buf);
}
