/**
 * Node-only: a `GPU` object from Dawn's `webgpu` package. Picks a Vulkan driver before Dawn starts:
 * `VK_ICD_FILENAMES` when set, else Mesa lavapipe (`lvp_icd.json`, Mesa ≥ 25), else Chromium's
 * bundled SwiftShader. Which one ran is visible in the adapter info.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Which Vulkan ICD `createNodeGpu` will use, or '' for the system default. */
export function chooseIcd(preferSwiftShader = false): string {
  if (process.env.VK_ICD_FILENAMES && !preferSwiftShader) return process.env.VK_ICD_FILENAMES;
  if (!preferSwiftShader && existsSync(LAVAPIPE_ICD)) return LAVAPIPE_ICD;
  if (existsSync(SWIFTSHADER_ICD)) return SWIFTSHADER_ICD;
  return '';
}

/**
 * Points the Vulkan loader at the chosen driver for this process (call on the main thread: a
 * worker thread's `process.env` is a copy the native loader never sees).
 */
export function prepareNodeGpuEnv(preferSwiftShader = false): string {
  const icd = chooseIcd(preferSwiftShader);
  prepareEnv(icd, preferSwiftShader);
  return icd;
}

function prepareEnv(icd: string, force = false): void {
  if (icd && !process.env.VK_DRIVER_FILES && (force || !process.env.VK_ICD_FILENAMES)) process.env.VK_ICD_FILENAMES = icd;
  process.env.LP_NUM_THREADS ??= '2';
  if (!process.env.XDG_RUNTIME_DIR) {
    const d = join(tmpdir(), `xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = d;
  }
}

/**
 * Returns a `GPU` (navigator.gpu equivalent) for Node. Installs the WebGPU globals
 * (`GPUBufferUsage`, ...) on `globalThis`.
 */
export async function createNodeGpu(options: { preferSwiftShader?: boolean } = {}): Promise<GPU> {
  prepareEnv(chooseIcd(options.preferSwiftShader), options.preferSwiftShader);
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  return create([]) as GPU;
}
