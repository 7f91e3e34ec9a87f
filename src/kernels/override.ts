/**
 * Override points of a WGSL kernel: a region of its source that another format replaces without
 * touching the rest of the kernel (the weight decoding of the matmul and embedding; the KV element
 * type of attention, RoPE/KV-append and compaction). The default implementation sits between two
 * marker lines in the kernel's `.wgsl` file:
 *
 *     // BEGIN override <point>
 *     fn ...                         (the default: f32/f16/bf16 weights, f32 KV rows)
 *     // END override <point>
 *
 * {@link overridePoint} returns a new {@link KernelDef} (named `<kernel>.<variant>`, so the pipeline
 * cache keeps both) whose region is replaced by other WGSL with the same functions, and optionally
 * more group-0 bindings (e.g. the scales and zero points of a quantized format, or a load counter in
 * the traffic tests). Quantized formats (issue 12) plug in here.
 */
import type { BindingKind, KernelDef } from '../gpu/kernel.js';

/** The region of `point` in `code`: [start of its BEGIN line, end of its END line). */
function region(code: string, point: string, kernel: string): [number, number] {
  const begin = `// BEGIN override ${point}\n`;
  const end = `// END override ${point}\n`;
  const a = code.indexOf(begin);
  const b = code.indexOf(end, a + begin.length);
  if (a < 0 || b < 0 || code.indexOf(begin, a + 1) >= 0) throw new Error(`${kernel}: no single override point "${point}"`);
  return [a, b + end.length];
}

/** The default WGSL of override point `point` of `def` (without its marker lines). */
export function overrideDefault(def: KernelDef, point: string): string {
  const [a, b] = region(def.code, point, def.name);
  const lines = def.code.slice(a, b).split('\n').slice(1, -2);
  return `${(lines[0]?.startsWith('// (') ? lines.slice(1) : lines).join('\n')}\n`;
}

/**
 * `code` with the body of its override point `point` replaced by `wgsl` (marker lines kept; no new
 * kernel): how a kernel shares another kernel's default region, e.g. the embedding takes the matmul's
 * weight decoding.
 * @throws Error when `code` has no single override point `point`.
 */
export function fillOverridePoint(code: string, point: string, wgsl: string, kernel: string): string {
  const [a, b] = region(code, point, kernel);
  return `${code.slice(0, a)}// BEGIN override ${point}\n${wgsl.endsWith('\n') ? wgsl : `${wgsl}\n`}// END override ${point}\n${code.slice(b)}`;
}

/**
 * `def` with override point `point` replaced by `wgsl`.
 * @param variant name suffix of the new kernel (pipeline cache key and labels).
 * @param extraBindings group-0 bindings appended after the kernel's own (their `@binding` numbers
 *   follow the kernel's last one; `wgsl` declares them).
 * @throws Error when `def` has no single override point `point`.
 */
export function overridePoint(def: KernelDef, point: string, wgsl: string, variant: string, extraBindings: BindingKind[] = []): KernelDef {
  const [a, b] = region(def.code, point, def.name);
  const code = `${def.code.slice(0, a)}// BEGIN override ${point}\n// (${variant})\n${wgsl.endsWith('\n') ? wgsl : `${wgsl}\n`}// END override ${point}\n${def.code.slice(b)}`;
  return { ...def, name: `${def.name}.${variant}`, code, bindings: [...def.bindings, ...extraBindings] };
}
