/** Shape-guard helpers shared by the kernel wrappers. Messages name the parameter and the rule. */

export class ShapeError extends Error {
  constructor(kernel: string, message: string) {
    super(`${kernel}: ${message}`);
    this.name = 'ShapeError';
  }
}

/** Asserts `value` is an integer in [min, max]. */
export function checkInt(kernel: string, name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ShapeError(kernel, `${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Asserts `value % m == 0`. */
export function checkMultiple(kernel: string, name: string, value: number, m: number): void {
  if (value % m !== 0) throw new ShapeError(kernel, `${name} must be a multiple of ${m}, got ${value}`);
}
