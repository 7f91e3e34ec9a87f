/**
 * The one place that picks the kernel configuration of an engine (ARCHITECTURE.md, "Kernel
 * configuration"): matmul reduction lanes, columns per thread and tile shapes, the attention softmax
 * block and queries per workgroup. Every forward of an engine (prefill, AR decode, tree
 * verification) runs in the same configuration, which is what keeps a tree row's logits
 * bit-identical to the same token decoded alone; two configurations may round differently.
 *
 * Presets:
 *   - `gpu`: what a discrete/integrated GPU gets (16 reduction lanes split K for GEMV bandwidth).
 *   - `cpu`: what a CPU adapter (SwiftShader, lavapipe: `isFallbackAdapter`) gets (1 lane, so each
 *     thread owns whole dot products: no workgroup memory, no barrier in the matmul).
 * `auto` picks `cpu` on a fallback adapter and `gpu` otherwise; `gpu` may be forced on any adapter
 * (the CI runs the whole-model suites in both).
 */
import { UnsupportedModelError } from '../errors.js';
import type { AttentionConfig } from '../kernels/attention.js';
import type { MatmulConfig } from '../kernels/matmul.js';

/** Which preset: `auto` follows the adapter. */
export type KernelConfigChoice = 'auto' | 'gpu' | 'cpu';
export const KERNEL_CONFIG_CHOICES: readonly KernelConfigChoice[] = ['auto', 'gpu', 'cpu'];

/** The kernel configuration of one engine. */
export interface KernelConfig {
  /** The preset it came from (after `auto` was resolved). */
  preset: 'gpu' | 'cpu';
  matmul: MatmulConfig;
  attention: AttentionConfig;
}

/** Overrides of single fields (`LoadOptions`). */
export interface KernelConfigOverrides {
  /** Matmul reduction lanes (a power of two in [1, 64]). */
  matmulLanes?: number;
}

/** The preset's configuration. */
export function kernelPreset(preset: 'gpu' | 'cpu', lanes = preset === 'cpu' ? 1 : 16): KernelConfig {
  if (!(Number.isInteger(lanes) && lanes >= 1 && lanes <= 64 && (lanes & (lanes - 1)) === 0)) throw new UnsupportedModelError('matmulLanes', lanes, 'a power of two in [1, 64]');
  return preset === 'cpu'
    ? { preset, matmul: { lanes, gemvCols: Math.max(1, 64 / lanes), tiledCols: Math.max(1, 16 / lanes), tiledCpt: 4, tiledRows: [4, 8, 8] }, attention: { block: 64, queries: 8 } }
    : { preset, matmul: { lanes, gemvCols: Math.max(1, 256 / lanes), tiledCols: Math.max(1, 64 / lanes), tiledCpt: 2, tiledRows: [4, 8, 32] }, attention: { block: 64, queries: 16 } };
}

/**
 * Picks the kernel configuration for `adapter`.
 * @param choice `auto` (default): `cpu` on a fallback adapter, else `gpu`.
 * @throws UnsupportedModelError for an override out of range or an unknown choice.
 */
export function chooseKernelConfig(adapter: { isFallbackAdapter: boolean }, choice: KernelConfigChoice = 'auto', overrides: KernelConfigOverrides = {}): KernelConfig {
  if (!KERNEL_CONFIG_CHOICES.includes(choice)) throw new UnsupportedModelError('kernelConfig', String(choice), KERNEL_CONFIG_CHOICES.join(' | '));
  const preset = choice === 'auto' ? (adapter.isFallbackAdapter ? 'cpu' : 'gpu') : choice;
  return kernelPreset(preset, overrides.matmulLanes);
}

/** A short stable key of a configuration (cost-cache keys, bench labels), e.g. `gpu/l16`. */
export function kernelConfigKey(k: KernelConfig): string {
  return `${k.preset}/${JSON.stringify(k.matmul)}/${JSON.stringify(k.attention)}`;
}
