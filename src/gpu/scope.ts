/**
 * GPU errors as typed errors. WebGPU reports a rejected command (validation), an allocation
 * failure (out-of-memory) or an implementation failure (internal) not by throwing but through
 * error scopes, or else as an `uncapturederror` event on the device (WebGPU spec, "Errors &
 * Debugging"). Without either, an invalid dispatch silently leaves its output buffers unwritten.
 * Every GPU call of the runtime runs inside {@link openErrorScopes}, and the device's uncaptured
 * errors are collected (see `createGpuContext`), so each becomes an error of `src/errors.ts`.
 */
import { GpuInternalError, GpuValidationError, OutOfMemoryError, type MsnError } from '../errors.js';

/** The scope filters, outermost first. */
const FILTERS: GPUErrorFilter[] = ['internal', 'validation', 'out-of-memory'];

/** A GPU error and the filter of the scope (or event) that caught it. */
export interface CaughtGpuError {
  filter: GPUErrorFilter;
  message: string;
}

/** The filter a `GPUError` belongs to, from its class (uncaptured errors carry no filter). */
export function errorFilter(e: GPUError): GPUErrorFilter {
  const name = e.constructor?.name ?? '';
  return name.includes('OutOfMemory') ? 'out-of-memory' : name.includes('Internal') ? 'internal' : 'validation';
}

/** The typed error for a GPU error caught while running `what` on `adapter` (a readable adapter name). */
export function toMsnError(e: CaughtGpuError, what: string, adapter: string): MsnError {
  if (e.filter === 'out-of-memory') return new OutOfMemoryError(what);
  if (e.filter === 'internal') return new GpuInternalError(what, adapter, e.message);
  return new GpuValidationError(what, adapter, e.message);
}

/**
 * Pushes an internal, a validation and an out-of-memory error scope on `device`; `close()` pops
 * all three (call it exactly once, after the last GPU call to cover, before awaiting anything) and
 * resolves to the first error caught, out-of-memory before validation before internal, or null.
 */
export function openErrorScopes(device: GPUDevice): { close(): Promise<CaughtGpuError | null> } {
  for (const f of FILTERS) device.pushErrorScope(f);
  let closed = false;
  return {
    close() {
      if (closed) throw new Error('error scopes closed twice');
      closed = true;
      const popped = [...FILTERS].reverse().map((filter) => device.popErrorScope().then((e) => (e ? { filter, message: e.message } : null), () => null));
      return Promise.all(popped).then((errs) => errs.find((e) => e !== null) ?? null);
    },
  };
}

/**
 * Runs `fn` (synchronous GPU calls) inside {@link openErrorScopes}.
 * @throws OutOfMemoryError, GpuValidationError or GpuInternalError naming `what` when the device
 *   reported an error during `fn`; `fn`'s own exceptions pass through (the scopes are still popped).
 */
export async function withErrorScopes<T>(device: GPUDevice, what: string, adapter: string, fn: () => T): Promise<T> {
  const scopes = openErrorScopes(device);
  let out: T;
  try {
    out = fn();
  } catch (e) {
    await scopes.close();
    throw e;
  }
  const err = await scopes.close();
  if (err) throw toMsnError(err, what, adapter);
  return out;
}
