/**
 * Prints the memory plan (src/model/memory-plan.ts) of a model's config.json without a GPU:
 *
 *   npx tsx scripts/memory-plan.ts <config.json> [--quantize none|q4|q8] [--group-size 32|64|128]
 *     [--kv-dtype f16|f32] [--context-length N] [--gpu-memory 4GB] [--max-binding BYTES]
 *     [--max-buffer BYTES] [--json]
 *
 * Weights: `none` keeps the file dtype (config's torch_dtype); q4/q8 use the group format with f16
 * scales (embeddings quantized too). Limits default to 2 GiB bindings and 4 GiB buffers (a typical
 * discrete GPU's adapter limits after the engine raises them); `--max-binding 134217728` gives
 * WebGPU's defaults. With `--gpu-memory` and no `--context-length`, the context is the largest that
 * fits (as the loader would pick). Used for the README's table of the paper's 8B models.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MsnError } from '../src/errors.js';
import { parseLlamaConfig } from '../src/model/config.js';
import { defaultKvDtype, denseFormat, fileWeightDtype, parameterCount, planMemory, qgroupFormat, type KvDtype } from '../src/model/memory-plan.js';
import { parseByteSize } from '../src/model/byte-size.js';
import { PAPER_TREE_SIZE } from '../src/decode/tree.js';

const USAGE = 'Usage: npx tsx scripts/memory-plan.ts <config.json> [--quantize none|q4|q8] [--group-size 32|64|128] [--kv-dtype f16|f32] [--context-length N] [--gpu-memory 4GB] [--json]\n';
let parsed;
try {
  parsed = parseArgs({
  allowPositionals: true,
  options: {
    quantize: { type: 'string', default: 'none' }, 'group-size': { type: 'string', default: '32' }, 'kv-dtype': { type: 'string' },
    'context-length': { type: 'string' }, 'gpu-memory': { type: 'string' }, 'max-binding': { type: 'string', default: String(2 ** 31 - 4) },
    'max-buffer': { type: 'string', default: String(2 ** 32) }, json: { type: 'boolean', default: false },
  },
  });
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
if (positionals.length !== 1) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const cfg = parseLlamaConfig(JSON.parse(readFileSync(positionals[0], 'utf8')));
const q = values.quantize;
if (!['none', 'q4', 'q8'].includes(q!)) throw new Error(`--quantize must be none, q4 or q8, got ${q}`);
const format = q === 'none' ? denseFormat(fileWeightDtype(cfg, null)) : qgroupFormat(q === 'q4' ? 4 : 8, Number(values['group-size']));
const kvDtype = (values['kv-dtype'] ?? defaultKvDtype(cfg)) as KvDtype;
const plan = runPlan();
function runPlan() {
  try {
    return planMemory({
  config: cfg, format, kvDtype, treeRoom: PAPER_TREE_SIZE,
  contextLength: values['context-length'] === undefined ? undefined : Number(values['context-length']),
  limits: { maxBindingBytes: Number(values['max-binding']), maxBufferBytes: Number(values['max-buffer']) },
  budgetBytes: values['gpu-memory'] === undefined ? undefined : parseByteSize(values['gpu-memory'], '--gpu-memory'), q4: q === 'q4',
    });
  } catch (e) {
    if (!(e instanceof MsnError)) throw e;
    process.stdout.write(values.json ? `${JSON.stringify({ config: positionals[0], error: e.name, message: e.message, detail: e.detail })}\n` : `${positionals[0]}: ${e.name}: ${e.message}\n`);
    process.exit(1);
  }
}
const out = { config: positionals[0], parameters: parameterCount(cfg), quantize: q, ...plan };
if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  process.stdout.write(`${positionals[0]}: ${(out.parameters / 1e9).toFixed(2)}B parameters, weights ${q}, KV ${kvDtype}\n`
    + `  context ${plan.contextLength} tokens (+${PAPER_TREE_SIZE} tree rows)${plan.reason ? `: ${plan.reason}` : ''}\n`
    + `  weights ${gib(plan.weightsBytes)} + KV cache ${gib(plan.kvBytes)} + scratch ${gib(plan.scratchBytes)} = ${gib(plan.totalBytes)} (${plan.totalBytes} bytes)\n`);
}
