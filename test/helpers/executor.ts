// In-process executors (Dawn in Node) for tests: each load gets a fresh Executor with the test
// defaults (context 64, the features MSN_DISABLE_FEATURES turns off); all are disposed after the file.
import { afterAll } from 'vitest';
import { createNodeGpu } from '../../src/gpu/node.js';
import type { LoadOptions } from '../../src/worker/api.js';
import { Executor } from '../../src/worker/executor.js';
import { disabledFeatures } from './gpu.js';

/** A `load(model, options)` for this test file; registers an afterAll that disposes every executor it made. */
export function executorLoader(): (model: string, options?: LoadOptions) => Promise<{ ex: Executor; info: Awaited<ReturnType<Executor['load']>> }> {
  const executors: Executor[] = [];
  afterAll(async () => { for (const e of executors) await e.dispose(); });
  return async (model, options = {}) => {
    const ex = new Executor(() => createNodeGpu());
    executors.push(ex);
    const info = await ex.load(model, { contextLength: 64, disableFeatures: disabledFeatures(), ...options });
    return { ex, info };
  };
}
