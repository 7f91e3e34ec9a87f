/**
 * The matmul for group-quantized weights (issue 12; format and rule: src/model/quantize.ts): the
 * `weight` override of shaders/matmul.wgsl replaced by shaders/formats/qgroup.weight.wgsl, with two
 * extra bindings (3: scales, 4: zeros). The reduction order is the matmul's, so a row of a T-row
 * forward stays bit-identical to T = 1 (the lossless invariant holds for quantized models too).
 * Bind (qweight chunk, X, Y, scales, zeros); dispatch with `matmulPass(..., def, chunkBytes)`.
 */
import code from '../../shaders/formats/qgroup.weight.wgsl';
import type { KernelDef } from '../gpu/kernel.js';
import type { QuantBits } from '../model/quantize.js';
import { MATMUL } from './matmul.js';
import { overridePoint } from './override.js';

const defs = new Map<string, KernelDef>();

/** The matmul variant for `bits`-bit weights in groups of `group` input features (cached). */
export function qgroupMatmul(bits: QuantBits, group: number): KernelDef {
  const key = `q${bits}g${group}`;
  let d = defs.get(key);
  if (!d) {
    d = overridePoint(MATMUL, 'weight', `const QBITS: u32 = ${bits}u;\nconst QGROUP: u32 = ${group}u;\n${code}`, key, ['read', 'read']);
    defs.set(key, d);
  }
  return d;
}

/** Global bytes one `loadWeight` call fetches: the packed values of 8 features plus the group's scale and zero word (4 + 4). */
export function qgroupChunkBytes(bits: QuantBits): number {
  return bits + 8;
}
