/**
 * What a WGSL compute kernel needs from the device, read from its source, and the check of those
 * needs against the device limits before the pipeline is made.
 *
 * A device rejects a pipeline whose workgroup is larger than `maxComputeWorkgroupSize{X,Y,Z}` or
 * `maxComputeInvocationsPerWorkgroup`, whose workgroup variables exceed
 * `maxComputeWorkgroupStorageSize`, or that binds more storage/uniform buffers than
 * `max{Storage,Uniform}BuffersPerShaderStage` (WebGPU spec, "Compute pipeline creation" and
 * "GPUSupportedLimits"). Checking first turns such a rejection into a LimitTooLowError that names
 * the limit, instead of a validation error after the fact.
 *
 * The reader understands what our kernels use: `override` and `const` integer declarations,
 * `@workgroup_size(e[, e[, e]])`, and `var<workgroup>` variables of scalar, vector, atomic and
 * (nested) array types, with integer expressions of literals, names, + - * / % and parentheses.
 * Anything else in those places is an Error naming the kernel (a kernel test reads every kernel).
 */
import { LimitTooLowError } from '../errors.js';

/** Resources one compute pipeline needs (bytes for memory, counts otherwise). */
export interface KernelNeeds {
  /** `@workgroup_size` after override constants are applied, [x, y, z]. */
  workgroupSize: [number, number, number];
  /** x · y · z. */
  invocations: number;
  /** Workgroup memory, bytes: Σ roundUp(16, sizeof(var)) over `var<workgroup>` (the spec's rule). */
  workgroupBytes: number;
  /** `var<storage, …>` bindings of the compute stage. */
  storageBuffers: number;
  /** `var<uniform>` bindings of the compute stage. */
  uniformBuffers: number;
}

/** The device limits a kernel's needs are checked against (names as in `GPUSupportedLimits`). */
export interface KernelLimits {
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxUniformBuffersPerShaderStage: number;
}

/** Picks the {@link KernelLimits} fields out of a device's limits. */
export function kernelLimits(l: GPUSupportedLimits): KernelLimits {
  return {
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxUniformBuffersPerShaderStage: l.maxUniformBuffersPerShaderStage,
  };
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** Removes `//` and `/* *\/` comments (WGSL block comments nest). */
function stripComments(code: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < code.length; i++) {
    if (depth === 0 && code.startsWith('//', i)) {
      while (i < code.length && code[i] !== '\n') i++;
      out += '\n';
    } else if (code.startsWith('/*', i)) {
      depth++;
      i++;
    } else if (depth > 0 && code.startsWith('*/', i)) {
      depth--;
      i++;
    } else if (depth === 0) out += code[i];
  }
  return out;
}

/** Evaluates an integer WGSL expression (literals, names in `env`, + - * / %, unary -, parentheses). */
function evalInt(expr: string, env: Map<string, number>, where: string): number {
  const tokens = expr.match(/0[xX][0-9a-fA-F]+[iu]?|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[iuf]?|[A-Za-z_]\w*|[-+*/%()]/g) ?? [];
  if (tokens.join('') !== expr.replace(/\s+/g, '')) throw new Error(`${where}: cannot read "${expr}"`);
  let i = 0;
  const primary = (): number => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`${where}: "${expr}" ends early`);
    if (t === '(') {
      const v = sum();
      if (tokens[i++] !== ')') throw new Error(`${where}: unbalanced parentheses in "${expr}"`);
      return v;
    }
    if (t === '-') return -primary();
    if (/^[A-Za-z_]/.test(t)) {
      const v = env.get(t);
      if (v === undefined) throw new Error(`${where}: unknown name ${t} in "${expr}"`);
      return v;
    }
    const n = t.startsWith('0x') || t.startsWith('0X') ? parseInt(t.replace(/[iu]$/, ''), 16) : Number(t.replace(/[iuf]$/, ''));
    if (!Number.isFinite(n)) throw new Error(`${where}: bad number ${t}`);
    return n;
  };
  const product = (): number => {
    let v = primary();
    while (tokens[i] === '*' || tokens[i] === '/' || tokens[i] === '%') {
      const op = tokens[i++];
      const r = primary();
      v = op === '*' ? v * r : op === '/' ? Math.trunc(v / r) : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[i] === '+' || tokens[i] === '-') v = tokens[i++] === '+' ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (i !== tokens.length) throw new Error(`${where}: cannot read "${expr}"`);
  return v;
}

/** Splits `s` at top-level commas (outside <> and ()). */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '<' || ch === '(') depth++;
    if (ch === '>' || ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

/** Size and alignment in bytes of a host-shareable WGSL type (WGSL spec, "Alignment and Size"). */
function typeLayout(type: string, env: Map<string, number>, where: string): { size: number; align: number } {
  const t = type.replace(/\s+/g, '');
  const scalar: Record<string, number> = { f32: 4, u32: 4, i32: 4, f16: 2 };
  if (t in scalar) return { size: scalar[t], align: scalar[t] };
  const atomic = /^atomic<(u32|i32)>$/.exec(t);
  if (atomic) return { size: 4, align: 4 };
  const vec = /^vec([234])(?:<(\w+)>|([fiuh]))$/.exec(t);
  if (vec) {
    const n = Number(vec[1]);
    const s = vec[2] ? scalar[vec[2]] : { f: 4, i: 4, u: 4, h: 2 }[vec[3] as 'f' | 'i' | 'u' | 'h'];
    if (!s) throw new Error(`${where}: unknown vector element type in ${type}`);
    return { size: n * s, align: (n === 3 ? 4 : n) * s };
  }
  const arr = /^array<(.+)>$/.exec(t);
  if (arr) {
    const [elem, count] = splitTop(arr[1]);
    if (count === undefined) throw new Error(`${where}: workgroup array ${type} needs a fixed size`);
    const e = typeLayout(elem, env, where);
    return { size: evalInt(count, env, where) * roundUp(e.size, e.align), align: e.align };
  }
  throw new Error(`${where}: unsupported workgroup variable type ${type}`);
}

/**
 * Reads a kernel's needs from its WGSL source, with override constants set to `constants`
 * (defaults from the source otherwise).
 * @throws Error when the source uses a form this reader does not understand in those places.
 */
export function kernelNeeds(name: string, code: string, constants: Record<string, number> = {}): KernelNeeds {
  const src = stripComments(code);
  const env = new Map<string, number>();
  for (const m of src.matchAll(/\b(override|const)\s+([A-Za-z_]\w*)\s*(?::\s*[\w<>]+\s*)?(?:=\s*([^;]+))?;/g)) {
    const [, kind, id, init] = m;
    if (kind === 'override' && id in constants) env.set(id, constants[id]);
    else if (init !== undefined) {
      try {
        env.set(id, evalInt(init, env, name));
      } catch {
        // a float or otherwise non-integer constant: never part of a size
      }
    }
  }
  for (const id of Object.keys(constants)) {
    if (!env.has(id)) throw new Error(`${name}: override constant ${id} is not declared`);
  }
  const wg = /@workgroup_size\s*\(/.exec(src);
  if (!wg) throw new Error(`${name}: no @workgroup_size`);
  let depth = 1;
  let j = wg.index + wg[0].length;
  const start = j;
  for (; j < src.length && depth > 0; j++) {
    if (src[j] === '(') depth++;
    if (src[j] === ')') depth--;
  }
  const dims = splitTop(src.slice(start, j - 1)).map((e) => evalInt(e, env, `${name} @workgroup_size`));
  const workgroupSize: [number, number, number] = [dims[0], dims[1] ?? 1, dims[2] ?? 1];
  let workgroupBytes = 0;
  for (const m of src.matchAll(/\bvar\s*<\s*workgroup\s*>\s*[A-Za-z_]\w*\s*:\s*([^;]+);/g)) {
    workgroupBytes += roundUp(typeLayout(m[1], env, `${name} var<workgroup>`).size, 16);
  }
  return {
    workgroupSize,
    invocations: workgroupSize[0] * workgroupSize[1] * workgroupSize[2],
    workgroupBytes,
    storageBuffers: [...src.matchAll(/\bvar\s*<\s*storage\b/g)].length,
    uniformBuffers: [...src.matchAll(/\bvar\s*<\s*uniform\s*>/g)].length,
  };
}

/**
 * Checks `needs` of kernel `key` against the device limits.
 * @throws LimitTooLowError naming the first limit that is too low (observed = the device's limit,
 *   required = the kernel's need).
 */
export function checkKernelNeeds(key: string, needs: KernelNeeds, limits: KernelLimits): void {
  const hint = `Kernel ${key} needs more than this adapter allows; use a GPU or browser with higher WebGPU limits (please report this adapter).`;
  const [x, y, z] = needs.workgroupSize;
  const checks: Array<[keyof KernelLimits, number]> = [
    ['maxComputeWorkgroupSizeX', x], ['maxComputeWorkgroupSizeY', y], ['maxComputeWorkgroupSizeZ', z],
    ['maxComputeInvocationsPerWorkgroup', needs.invocations],
    ['maxComputeWorkgroupStorageSize', needs.workgroupBytes],
    ['maxStorageBuffersPerShaderStage', needs.storageBuffers],
    ['maxUniformBuffersPerShaderStage', needs.uniformBuffers],
  ];
  for (const [limit, need] of checks) {
    if (need > limits[limit]) throw new LimitTooLowError(limit, limits[limit], need, hint);
  }
}
