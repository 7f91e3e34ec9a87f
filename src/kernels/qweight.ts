/**
 * The matmul and embedding for group-quantized weights (issue 12; format and rule:
 * src/model/quantize.ts): the `weight` override of shaders/matmul.wgsl and shaders/embed.wgsl replaced
 * by shaders/formats/qgroup.weight.wgsl, with two extra bindings (3: scales, 4: zeros). The reduction
 * order is the matmul's, so a row of a T-row forward stays bit-identical to T = 1 (the lossless
 * invariant holds for quantized models too).
 * Bind (qweight chunk, X, Y, scales, zeros); dispatch with `matmulPass(..., def, chunkBytes)`.
 */
import code from '../../shaders/formats/qgroup.weight.wgsl';
import gidxCode from '../../shaders/formats/qgroup-gidx.weight.wgsl';
import type { KernelDef } from '../gpu/kernel.js';
import type { QuantBits, ScaleDtype } from '../model/quantize.js';
import { EMBED } from './embed.js';
import { MATMUL } from './matmul.js';
import { overridePoint } from './override.js';

const defs = new Map<string, KernelDef>();

/** Short name of a group format, e.g. `q4g32` (f16 scales) or `q4g32s32` (f32 scales): kernel variant names and `ModelInfo.weightFormats`. */
export function qgroupName(bits: QuantBits, group: number, scale: ScaleDtype = 'f16'): string {
  return `q${bits}g${group}${scale === 'f32' ? 's32' : ''}`;
}

function variant(base: KernelDef, bits: QuantBits, group: number, scale: ScaleDtype): KernelDef {
  const key = `${base.name}|${qgroupName(bits, group, scale)}`;
  let d = defs.get(key);
  if (!d) {
    const lead = `const QBITS: u32 = ${bits}u;\nconst QGROUP: u32 = ${group}u;\nconst QSCALE_F16: bool = ${scale === 'f16'};\n`;
    d = overridePoint(base, 'weight', lead + code, qgroupName(bits, group, scale), ['read', 'read']);
    defs.set(key, d);
  }
  return d;
}

/** The matmul variant for `bits`-bit weights in groups of `group` input features with `scale` scales (cached). */
export function qgroupMatmul(bits: QuantBits, group: number, scale: ScaleDtype = 'f16'): KernelDef {
  return variant(MATMUL, bits, group, scale);
}

/** The embedding-gather variant of the same format (cached). */
export function qgroupEmbed(bits: QuantBits, group: number, scale: ScaleDtype = 'f16'): KernelDef {
  return variant(EMBED, bits, group, scale);
}

/**
 * Global bytes one `loadWeight` call fetches: the packed codes of 8 features (bits bytes), the
 * group's scale word and zero word (4 + 4; neighbouring chunks of a group hit the same words).
 */
export function qgroupChunkBytes(bits: QuantBits): number {
  return bits + 8;
}

/**
 * The matmul variant for the same format with a per-input-feature group index (cached): override
 * shaders/formats/qgroup-gidx.weight.wgsl, a third extra binding (5: group index [Kp] u32, shared by every
 * row). For GPTQ checkpoints quantized in activation order (`desc_act`, a non-trivial `g_idx`;
 * src/model/prequant.ts). `group` only sets the groups per row, ceil(Kp / group). The reduction order is
 * the matmul's, so T-row rows stay bit-identical to T = 1.
 * Bind (qweight chunk, X, Y, scales, zeros, gidx); dispatch with `matmulPass(..., def, qgroupGidxChunkBytes())`.
 */
export function qgroupGidxMatmul(bits: QuantBits, group: number, scale: ScaleDtype = 'f16'): KernelDef {
  const name = `${qgroupName(bits, group, scale)}x`;
  const key = `${MATMUL.name}|${name}`;
  let d = defs.get(key);
  if (!d) {
    const lead = `const QBITS: u32 = ${bits}u;\nconst QGROUP: u32 = ${group}u;\nconst QSCALE_F16: bool = ${scale === 'f16'};\n`;
    d = overridePoint(MATMUL, 'weight', lead + gidxCode, name, ['read', 'read', 'read']);
    defs.set(key, d);
  }
  return d;
}

/**
 * Global bytes one `loadWeight` call of the group-index variant fetches: per feature (8 per chunk) one
 * group-index word, one scale word, one zero word and one qweight word (4 + 4 + 4 + 4 bytes), for any bits.
 */
export function qgroupGidxChunkBytes(): number {
  return 8 * 16;
}
