import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Temporary folders for one test file: returns a maker of fresh folders under the OS temp folder,
 * named `<prefix>XXXXXX`, all removed (recursively) after the file's or the enclosing describe's
 * tests. Call it at module or describe level (it registers an `afterAll`), not inside a test.
 */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
