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
import { InvalidArgumentError, LimitTooLowError } from '../errors.js';
import { ATTENTION, attentionPipelines, type AttentionConfig } from '../kernels/attention.js';
import { DEFAULT_TILED_ROWS, MATMUL, MATMUL_ROW_CASES, matmulConstants, type MatmulConfig } from '../kernels/matmul.js';
import type { KernelDef } from './kernel.js';
import { WEBGPU_DEFAULT_LIMITS } from '../worker/api.js';
import { checkKernelNeeds, kernelLimits, kernelNeeds, type KernelLimits } from './needs.js';

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

/**
 * Field overrides of the preset's configuration (`LoadOptions.kernelOverrides`), applied on top of
 * it. Changing `matmul.lanes` also rescales the preset's derived column counts (as `matmulLanes`
 * does); the other fields replace the preset's value as given.
 */
export interface KernelOverrides {
  /**
   * lanes: a power of two in [1, 64]; gemvCols, tiledCols: positive integers (the workgroup,
   * lanes × cols × row groups threads, must fit the WebGPU default limits: 256 invocations,
   * 16384 bytes of workgroup memory); tiledCpt: an integer in [1, 4]; tiledRows: three row tiles,
   * each 1..8, 16, 24 or 32.
   */
  matmul?: Partial<MatmulConfig>;
  /** block: 16, 32 or 64 keys; queries: an integer in [1, 16]. */
  attention?: Partial<AttentionConfig>;
}

/** Overrides of single fields (`LoadOptions.matmulLanes`, `LoadOptions.kernelOverrides`). */
export interface KernelConfigOverrides extends KernelOverrides {
  /** Matmul reduction lanes (a power of two in [1, 64]); the same as `matmul.lanes`. */
  matmulLanes?: number;
}

/**
 * The WebGPU default limits a kernel is held to (WebGPU spec, "Limits": the device is always
 * requested with these, src/gpu/context.ts), for validating a configuration before any device exists.
 */
export const WEBGPU_DEFAULT_KERNEL_LIMITS: KernelLimits = kernelLimits(WEBGPU_DEFAULT_LIMITS as unknown as GPUSupportedLimits);

const isLanes = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 64 && (n & (n - 1)) === 0;
const isIntIn = (n: unknown, lo: number, hi: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= lo && n <= hi;
const isRowTile = (n: unknown): n is number => isIntIn(n, 1, 8) || n === 16 || n === 24 || n === 32;

/** `what must be …, got X.` as an InvalidArgumentError. */
function invalid(what: string, rule: string, got: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`${what} must be ${rule}, got ${JSON.stringify(got) ?? String(got)}.`, { field: what, observed: got });
}

/**
 * The preset's configuration.
 * @param lanes matmul reduction lanes (default 1 for `cpu`, 16 for `gpu`); the column counts are
 *   scaled so a workgroup keeps the preset's thread count.
 * @throws InvalidArgumentError when `preset` is not `gpu` or `cpu`, or `lanes` is not a power of two in [1, 64].
 */
export function kernelPreset(preset: 'gpu' | 'cpu', lanes = preset === 'cpu' ? 1 : 16): KernelConfig {
  if (preset !== 'gpu' && preset !== 'cpu') throw invalid('kernel preset', 'gpu or cpu', preset);
  if (!isLanes(lanes)) throw invalid('matmulLanes', 'a power of two in [1, 64]', lanes);
  return preset === 'cpu'
    ? { preset, matmul: { lanes, gemvCols: Math.max(1, 64 / lanes), tiledCols: Math.max(1, 16 / lanes), tiledCpt: 4, tiledRows: [4, 8, 8] }, attention: { block: 64, queries: 8 } }
    : { preset, matmul: { lanes, gemvCols: Math.max(1, 256 / lanes), tiledCols: Math.max(1, 64 / lanes), tiledCpt: 2, tiledRows: [4, 8, 32] }, attention: { block: 64, queries: 16 } };
}

const MATMUL_FIELDS = ['lanes', 'gemvCols', 'tiledCols', 'tiledCpt', 'tiledRows'] as const;
const ATTENTION_FIELDS = ['block', 'queries'] as const;

/** Checks that `o` is an object whose keys are all in `fields`. */
function checkKeys(what: string, o: unknown, fields: readonly string[]): void {
  if (o === undefined) return;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalid(what, `an object with fields among ${fields.join(', ')}`, o);
  for (const k of Object.keys(o)) if (!fields.includes(k)) throw new InvalidArgumentError(`${what} has no field "${k}"; its fields are ${fields.join(', ')}.`, { field: what, observed: k });
}

/**
 * Picks the kernel configuration for `adapter`: the preset, then `overrides` on top, each field
 * validated, and the resulting matmul and attention pipelines checked against the WebGPU default
 * limits ({@link WEBGPU_DEFAULT_KERNEL_LIMITS}, read from their WGSL as at load).
 * @param choice `auto` (default): `cpu` on a fallback adapter, else `gpu`.
 * @throws InvalidArgumentError for an unknown choice, an unknown override field, an override out of
 *   range, `matmulLanes` and `matmul.lanes` that disagree, or a configuration whose workgroups exceed
 *   the WebGPU default limits (the message names the field or the limit).
 */
export function chooseKernelConfig(adapter: { isFallbackAdapter: boolean }, choice: KernelConfigChoice = 'auto', overrides: KernelConfigOverrides = {}): KernelConfig {
  if (!KERNEL_CONFIG_CHOICES.includes(choice)) throw invalid('kernelConfig', KERNEL_CONFIG_CHOICES.join(' | '), choice);
  const preset = choice === 'auto' ? (adapter.isFallbackAdapter ? 'cpu' : 'gpu') : choice;
  checkKeys('kernelOverrides', overrides, ['matmulLanes', 'matmul', 'attention']);
  checkKeys('kernelOverrides.matmul', overrides.matmul, MATMUL_FIELDS);
  checkKeys('kernelOverrides.attention', overrides.attention, ATTENTION_FIELDS);
  const mm = overrides.matmul ?? {};
  const at = overrides.attention ?? {};
  if (overrides.matmulLanes !== undefined && mm.lanes !== undefined && overrides.matmulLanes !== mm.lanes) {
    throw new InvalidArgumentError(`matmulLanes (${overrides.matmulLanes}) and kernelOverrides.matmul.lanes (${mm.lanes}) disagree; give one of them.`, { matmulLanes: overrides.matmulLanes, lanes: mm.lanes });
  }
  const lanes = mm.lanes ?? overrides.matmulLanes;
  if (lanes !== undefined && !isLanes(lanes)) throw invalid(mm.lanes !== undefined ? 'kernelOverrides.matmul.lanes' : 'matmulLanes', 'a power of two in [1, 64]', lanes);
  if (mm.gemvCols !== undefined && !isIntIn(mm.gemvCols, 1, 256)) throw invalid('kernelOverrides.matmul.gemvCols', 'an integer in [1, 256]', mm.gemvCols);
  if (mm.tiledCols !== undefined && !isIntIn(mm.tiledCols, 1, 256)) throw invalid('kernelOverrides.matmul.tiledCols', 'an integer in [1, 256]', mm.tiledCols);
  if (mm.tiledCpt !== undefined && !isIntIn(mm.tiledCpt, 1, 4)) throw invalid('kernelOverrides.matmul.tiledCpt', 'an integer in [1, 4]', mm.tiledCpt);
  if (mm.tiledRows !== undefined && !(Array.isArray(mm.tiledRows) && mm.tiledRows.length === 3 && mm.tiledRows.every(isRowTile))) {
    throw invalid('kernelOverrides.matmul.tiledRows', 'three row tiles (T = 2..4, 5..8, ≥ 9), each 1..8, 16, 24 or 32', mm.tiledRows);
  }
  if (at.block !== undefined && ![16, 32, 64].includes(at.block)) throw invalid('kernelOverrides.attention.block', '16, 32 or 64', at.block);
  if (at.queries !== undefined && !isIntIn(at.queries, 1, 16)) throw invalid('kernelOverrides.attention.queries', 'an integer in [1, 16]', at.queries);
  const base = kernelPreset(preset, lanes);
  const k: KernelConfig = {
    preset,
    matmul: { ...base.matmul, ...defined(mm), ...(mm.tiledRows ? { tiledRows: [mm.tiledRows[0], mm.tiledRows[1], mm.tiledRows[2]] as const } : {}) },
    attention: { ...base.attention, ...defined(at) },
  };
  checkLimits(k);
  return k;
}

/** `o` without its undefined fields. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Throws InvalidArgumentError when a pipeline of `k` needs more than the WebGPU default limits. */
function checkLimits(k: KernelConfig): void {
  type Pipeline = [string, Record<string, number>, KernelDef];
  const pipelines: Pipeline[] = [
    ...MATMUL_ROW_CASES.map((T): Pipeline => [`matmul (T ${T === 9 ? '≥ 9' : `= ${T}`})`, matmulConstants(k.matmul, 'f32', T), MATMUL]),
    // The T > 1 pipeline has the most queries (a T = 1 step runs with at most as many).
    ...attentionPipelines(k.attention, 1).map((c): Pipeline => ['attention', c, ATTENTION]),
  ];
  for (const [what, constants, def] of pipelines) {
    try {
      checkKernelNeeds(what, kernelNeeds(def.name, def.code, constants), WEBGPU_DEFAULT_KERNEL_LIMITS);
    } catch (e) {
      if (!(e instanceof LimitTooLowError)) throw e;
      const { limit, observed, required } = e.detail as { limit: string; observed: number; required: number };
      throw new InvalidArgumentError(`Kernel configuration ${kernelConfigKey(k)}: its ${what} kernel needs ${limit} = ${required}, above the WebGPU default ${observed} that the engine runs under; use fewer lanes, columns, columns per thread or rows.`, { key: kernelConfigKey(k), limit, observed, required });
    }
  }
}

/**
 * A short stable key of a configuration (cost-cache keys, bench labels) that names every field,
 * so two configurations have the same key exactly when they are equal: `<preset>/l<lanes>.g<gemvCols>.t<tiledCols>x<tiledCpt>.r<tiledRows>/b<block>.q<queries>`,
 * e.g. `gpu/l16.g16.t4x2.r4-8-32/b64.q16` for the `gpu` preset.
 */
export function kernelConfigKey(k: KernelConfig): string {
  const m = k.matmul;
  return `${k.preset}/l${m.lanes}.g${m.gemvCols}.t${m.tiledCols}x${m.tiledCpt ?? 1}.r${(m.tiledRows ?? DEFAULT_TILED_ROWS).join('-')}/b${k.attention.block}.q${k.attention.queries}`;
}
