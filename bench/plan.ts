/** Benchmark plans (how much to run) and the up-front run-time estimate. */
import type { KernelBenchSize } from './kernels.js';
import type { KernelConfigChoice } from '../src/gpu/kernel-config.js';

export type PlanName = 'quick' | 'standard' | 'full';
export type AdapterClass = 'lavapipe' | 'swiftshader' | 'gpu';

export interface Plan {
  name: PlanName;
  /** Prompts per suite (evenly spaced over the suite file). */
  promptsPerSuite: Record<string, number>;
  maxNewTokens: number;
  runs: number;
  /** Both models (default MSN + SFT twin), the default only, or a random-weight test fixture. */
  models: 'twins' | 'default' | 'fixture';
  kernels: KernelBenchSize | 'auto';
  hostSteps: number;
  /** Kernel configuration of every engine and of the kernel microbenchmarks (`--kernel-config`, default `auto`). */
  kernelConfig: KernelConfigChoice;
}

export const PLANS: Record<PlanName, Plan> = {
  quick: { name: 'quick', promptsPerSuite: { 'code-completion': 1 }, maxNewTokens: 16, runs: 3, models: 'fixture', kernels: 'quick', hostSteps: 50, kernelConfig: 'auto' },
  standard: { name: 'standard', promptsPerSuite: { 'code-completion': 2, 'code-repetition': 2 }, maxNewTokens: 24, runs: 3, models: 'twins', kernels: 'auto', hostSteps: 300, kernelConfig: 'auto' },
  full: { name: 'full', promptsPerSuite: { 'code-completion': 8, 'code-repetition': 8 }, maxNewTokens: 64, runs: 3, models: 'twins', kernels: 'auto', hostSteps: 300, kernelConfig: 'auto' },
};

/**
 * Calibrated decode cost of the tiny default model (3.2M parameters) per adapter class, measured on
 * this project's machines: ms per AR step, per 69-row tree step, and per prefill row, plus fixed
 * costs (engine loads, kernel microbenchmarks). Scaled by the model's parameter count relative to it.
 */
const COST: Record<AdapterClass, { ar: number; chain: number; tree: number; prefillRow: number; fixedS: number; kernelsS: number }> = {
  lavapipe: { ar: 15, chain: 40, tree: 400, prefillRow: 1, fixedS: 5, kernelsS: 90 },
  swiftshader: { ar: 90, chain: 140, tree: 1800, prefillRow: 3, fixedS: 30, kernelsS: 120 },
  gpu: { ar: 0.8, chain: 0.9, tree: 1.2, prefillRow: 0.01, fixedS: 10, kernelsS: 60 },
};

/**
 * How much slower the `gpu` kernel configuration runs a decode than `cpu` on a CPU adapter (16
 * reduction lanes with barriers where one thread per dot product suffices), measured by the lossless
 * suites of the default model: about 3× on lavapipe (Node) and 4.5× on SwiftShader (Chromium).
 */
const GPU_CONFIG_ON_CPU: Record<AdapterClass, number> = { lavapipe: 3, swiftshader: 4.5, gpu: 1 };

/**
 * The Chromium route on SwiftShader is several times slower than lavapipe: its standard plan runs
 * the default model only, one prompt per suite (override with --models / --prompts).
 */
export function chromiumPlan(plan: Plan): Plan {
  if (plan.name !== 'standard') return plan;
  return { ...plan, models: 'default', promptsPerSuite: Object.fromEntries(Object.keys(plan.promptsPerSuite).map((k) => [k, 1])) };
}

/** Expected wall seconds of a plan (rough: MAT assumed 1.3 for chains and trees, 50 % adaptive steps AR). */
export function estimateSeconds(plan: Plan, cls: AdapterClass, models: number, promptTokens = 150, paramScale = 1): number {
  const c = COST[cls];
  const prompts = Object.values(plan.promptsPerSuite).reduce((a, b) => a + b, 0);
  const gens = (plan.runs * prompts + 1) * models;
  const steps = plan.maxNewTokens;
  const perGen = {
    ar: steps * c.ar,
    jacobi: (steps / 1.3) * c.chain,
    retrieval: (steps / 1.2) * c.chain,
    fixed: (steps / 1.4) * c.tree,
    adaptive: (steps / 1.2) * (0.5 * c.ar + 0.5 * c.chain) + (steps / 8) * c.tree,
  };
  const decodeMs = Object.values(perGen).reduce((a, b) => a + b, 0) + 5 * promptTokens * c.prefillRow;
  const config = plan.kernelConfig === 'gpu' ? GPU_CONFIG_ON_CPU[cls] : 1;
  return (gens * decodeMs * paramScale * config) / 1000 + c.fixedS * models + (plan.kernels === 'quick' ? c.kernelsS / 6 : c.kernelsS);
}
