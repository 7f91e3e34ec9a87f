/**
 * Host-side dtype helpers: IEEE half (F16) and bfloat16 (BF16) conversion, and packing rows of a
 * weight matrix into the GPU layout (rows zero-padded to Kp elements; 16-bit formats stay 16-bit,
 * two per u32, element 2i in the low half, which is exactly safetensors' little-endian byte order).
 */

/** Safetensors dtypes the loader accepts. */
export type TensorDtype = 'F32' | 'F16' | 'BF16';

export const DTYPE_BYTES: Record<TensorDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** IEEE 754 binary16 bits → number. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** number → IEEE binary16 bits, round to nearest even. */
export function f32ToF16(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** bfloat16 bits → number (exact). */
export function bf16ToF32(b: number): number {
  u32buf[0] = (b & 0xffff) << 16;
  return f32buf[0];
}

/** number → bfloat16 bits, round to nearest even. */
export function f32ToBf16(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decodes raw little-endian tensor bytes into f32 values. */
export function decodeToF32(bytes: Uint8Array, dtype: TensorDtype): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  if (LITTLE_ENDIAN && dtype !== 'F32') {
    // Fast path (the self-check decodes a whole layer): 16-bit words read natively.
    const h = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.slice().buffer);
    if (dtype === 'BF16') {
      const o = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) o[i] = h[i] << 16;
    } else {
      const table = f16Table();
      for (let i = 0; i < n; i++) out[i] = table[h[i]];
    }
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  else if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
  else for (let i = 0; i < n; i++) out[i] = bf16ToF32(dv.getUint16(2 * i, true));
  return out;
}

/** Typed arrays use the platform's byte order; safetensors is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

let f16Values: Float32Array | null = null;
/** The value of every IEEE half bit pattern (256 KiB, made once). */
function f16Table(): Float32Array {
  f16Values ??= Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h));
  return f16Values;
}

/**
 * Copies `rows` rows of `K` elements (raw bytes of `dtype`) into a GPU-layout byte array with row
 * stride `Kp` elements (zero padding). Returns the input view itself when no padding is needed.
 */
export function padRows(bytes: Uint8Array, rows: number, K: number, Kp: number, dtype: TensorDtype): Uint8Array {
  if (K === Kp) return bytes;
  const eb = DTYPE_BYTES[dtype];
  const out = new Uint8Array(rows * Kp * eb);
  for (let r = 0; r < rows; r++) out.set(bytes.subarray(r * K * eb, (r + 1) * K * eb), r * Kp * eb);
  return out;
}

/** Encodes f32 values as raw little-endian bytes of `dtype` (rounding to nearest even). */
export function encodeFromF32(values: ArrayLike<number>, dtype: TensorDtype): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * DTYPE_BYTES[dtype]);
  const dv = new DataView(out.buffer);
  if (dtype === 'F32') for (let i = 0; i < n; i++) dv.setFloat32(4 * i, values[i], true);
  else if (dtype === 'F16') for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToF16(values[i]), true);
  else for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToBf16(values[i]), true);
  return out;
}
