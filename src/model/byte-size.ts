/** Byte sizes as people write them (`--gpu-memory 4GB`, the app's GPU memory setting). */
import { InvalidArgumentError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/**
 * Parses a byte count: a plain integer (`4000000000`) or a number with a unit, SI (`4GB`, `512 MB`:
 * powers of 1000) or binary (`4GiB`: powers of 1024), case-insensitive. Returns whole bytes (floored).
 * @param what the option's name for the message.
 * @throws InvalidArgumentError for anything else, or a size below 1 byte.
 */
export function parseByteSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(text);
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new InvalidArgumentError(`${what} must be a byte count such as 4000000000, 4GB or 6GiB, got "${text}".`, { option: what });
  return bytes;
}
