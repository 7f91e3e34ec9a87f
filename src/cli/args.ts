/** Command-line options of `npm run generate` (node:util parseArgs). */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { resolveNodeModelLocation } from '../model/location-node.js';
import { DECODE_MODES, type DecodeMode } from '../decode/scheduler.js';
import { KERNEL_CONFIG_CHOICES, type KernelConfigChoice } from '../gpu/kernel-config.js';
import type { LoadOptions } from '../worker/api.js';
import { KV_DTYPES, type KvDtype } from '../kernels/kv-format.js';
import { parseByteSize } from '../model/byte-size.js';
import { validateStops } from '../decode/stop.js';
import { resolveSampling } from '../decode/sampling.js';

export interface CliOptions {
  /** --model resolved by the shared location parser: an absolute folder path or an http(s) folder URL. */
  model: string | undefined;
  prompt: string;
  maxNewTokens: number;
  decode: DecodeMode;
  tree: 'fixed' | 'adaptive';
  /** --draft-seed: seed of the random draft initialisation (`GenerateOptions.draftSeed`). */
  draftSeed: number;
  /** --temperature (0 = greedy), --top-k, --top-p, --min-p, --seed: `GenerateOptions` sampling; undefined = default. */
  temperature: number | undefined;
  topK: number | undefined;
  topP: number | undefined;
  minP: number | undefined;
  seed: number | undefined;
  /** --stop (repeatable, at most 4): stop sequences (`GenerateOptions.stop`). */
  stop: string[];
  json: boolean;
  runtime: 'node' | 'chromium';
  chat: boolean;
  allowSpecialInContent: boolean;
  contextLength: number | undefined;
  verbose: boolean;
  swiftshader: boolean;
  /** false with --no-self-check: skip the load-time self-check. */
  selfCheck: boolean;
  /** --kernel-config: the kernel configuration (`LoadOptions.kernelConfig`), default `auto`. */
  kernelConfig: KernelConfigChoice;
  /** --quantize: load-time weight quantization (`LoadOptions.quantize`), default none. */
  quantize: 'q4' | 'q8' | 'none';
  /** --quantize-group-size: `LoadOptions.quantizeGroupSize` (default 32). */
  quantizeGroupSize: 32 | 64 | 128;
  /** false with --keep-embeddings: the embedding and lm_head stay dense (`LoadOptions.quantizeEmbeddings`). */
  quantizeEmbeddings: boolean;
  /** --kv-dtype: the KV cache element type (`LoadOptions.kvDtype`); undefined = the model's default. */
  kvDtype: KvDtype | undefined;
  /** --gpu-memory: the GPU memory budget in bytes (`LoadOptions.gpuMemoryBytes`); undefined = none. */
  gpuMemoryBytes: number | undefined;
  help: boolean;
}

export const USAGE = `Usage: npm run generate -- [options]
  --model <location>         Hugging Face Llama-family model: a local folder, a folder URL, hf:owner/name[@rev]
                             or a huggingface.co link (default: the embedded default model)
  --prompt <text>            raw completion prompt (required)
  --chat                     treat --prompt as a user message and apply the model's chat template
  --allow-special-in-content with --chat: special-token text in --prompt becomes control tokens
                             (Hugging Face's behaviour; trusted input only). Default: plain text
  --max-new-tokens <N>       new tokens at most (default 64)
  --decode ar|jacobi|retrieval|tr-jacobi   decoding strategy (default tr-jacobi); all give the same tokens
  --tree fixed|adaptive      tr-jacobi draft tree: the paper's 69 nodes, or the sub-tree that is fastest here (default adaptive)
  --stop <text>              stop sequence (repeatable, at most 4): the output ends before it, the tokens
                             with the one that completed it
  --temperature <T>          sampling temperature (default 0: greedy). Every --decode gives the same tokens
  --top-k <K>                with --temperature: keep the K most likely tokens (default 0: off)
  --top-p <P>                with --temperature: nucleus sampling, P in (0, 1] (default 1: off)
  --min-p <P>                with --temperature: drop tokens below P × the top probability (default 0: off)
                             (candidates are at most the 64 most likely tokens; order: temperature, top-k, top-p, min-p)
  --seed <N>                 sampling seed, a safe integer, negative ones too (default: random; the JSON reports it)
  --draft-seed <N>           seed of the random draft initialisation (does not change the output)
  --runtime node|chromium    Dawn in Node (default) or headless Chromium through Playwright
  --context-length <N>       KV cache size in tokens (default min(max_position_embeddings, 4096))
  --swiftshader              Node: use Chromium's SwiftShader Vulkan driver instead of lavapipe
  --kernel-config auto|gpu|cpu  kernel configuration: auto (default) picks cpu on a software (fallback)
                             adapter, else gpu; gpu forces what a GPU gets, on any adapter
  --quantize q4|q8|none      quantize the weights at load to 4 or 8 bits (MLC q4f16_1 rule, groups of 32;
                             default none: the file's dtype). Pre-quantized folders load as they are
  --quantize-group-size <G>  input features per quantization group: 32 (default), 64 or 128
  --keep-embeddings          with --quantize: keep the embedding and lm_head dense (16-bit as in the file, f32 as f16)
  --kv-dtype f16|f32         KV cache element type (default f16 for models above 100M parameters, else f32)
  --gpu-memory <bytes>       GPU memory the model may take, e.g. 4GB, 6GiB or 4000000000 (default: no budget).
                             Without --context-length, the context shrinks to fit (a note on stderr);
                             with it, a model that does not fit fails with OutOfMemoryError
  --no-self-check            skip the load-time self-check (layer 0 on the GPU vs float64 on the CPU)
  --json                     print exactly one JSON object (the result) instead of streaming text; nothing on failure
  --verbose                  print stack traces on errors
Environment:
  HF_TOKEN                   Hugging Face access token for gated or private repositories (Llama, Gemma…): sent
                             only to huggingface.co (and the HF_ENDPOINT mirror, when set)
`;

/** The options, for node:util parseArgs. */
const CLI_OPTIONS = {
  model: { type: 'string' },
  prompt: { type: 'string' },
  'max-new-tokens': { type: 'string', default: '64' },
  decode: { type: 'string', default: 'tr-jacobi' },
  tree: { type: 'string', default: 'adaptive' },
  stop: { type: 'string', multiple: true },
  'draft-seed': { type: 'string', default: '24301' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean', default: false },
  runtime: { type: 'string', default: 'node' },
  chat: { type: 'boolean', default: false },
  'allow-special-in-content': { type: 'boolean', default: false },
  'context-length': { type: 'string' },
  verbose: { type: 'boolean', default: false },
  swiftshader: { type: 'boolean', default: false },
  'no-self-check': { type: 'boolean', default: false },
  'kernel-config': { type: 'string', default: 'auto' },
  quantize: { type: 'string', default: 'none' },
  'quantize-group-size': { type: 'string', default: '32' },
  'keep-embeddings': { type: 'boolean', default: false },
  'kv-dtype': { type: 'string' },
  'gpu-memory': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/**
 * parseArgs's own errors (`ERR_PARSE_ARGS_*`, TypeErrors whose wording varies between Node
 * versions) as one-line InvalidArgumentErrors, so every usage error exits 2; other errors unchanged.
 */
function usageError(e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return e;
  const message = (e as Error).message;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const option = quoted.split(' ')[0];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new InvalidArgumentError(`Unknown option ${option}.`, { option });
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new InvalidArgumentError(`Unexpected argument ${JSON.stringify(quoted)}: every value follows its option (e.g. --prompt <text>).`, { argument: quoted });
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(message)) return new InvalidArgumentError(`${option} takes no value.`, { option });
    if (/ambiguous/.test(message)) return new InvalidArgumentError(`${option} needs a value (a value that starts with a dash is written ${option}=-x).`, { option });
    return new InvalidArgumentError(`${option} needs a value.`, { option });
  }
  return new InvalidArgumentError((e as Error).message.trim().replace(/\s*\n\s*/g, ' '), { code });
}

/**
 * Parses the CLI's arguments.
 * @throws InvalidArgumentError for every usage error: an unknown option, a missing value, a value
 *   for a flag, a positional argument, a value out of range, no `--prompt` (the CLI exits 2).
 */
export function parseCli(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: CLI_OPTIONS, strict: true, allowPositionals: false });
  } catch (e) {
    throw usageError(e);
  }
  const { values } = parsed;
  const int = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--${name} must be a positive integer, got "${v}".`);
    return n;
  };
  if (!['node', 'chromium'].includes(values.runtime!)) throw new InvalidArgumentError(`--runtime must be node or chromium, got "${values.runtime}".`);
  if (!(DECODE_MODES as readonly string[]).includes(values.decode!)) throw new InvalidArgumentError(`--decode must be one of ${DECODE_MODES.join(', ')}, got "${values.decode}".`);
  if (values.tree !== 'fixed' && values.tree !== 'adaptive') throw new InvalidArgumentError(`--tree must be fixed or adaptive, got "${values.tree}".`);
  if (!(KERNEL_CONFIG_CHOICES as readonly string[]).includes(values['kernel-config']!)) throw new InvalidArgumentError(`--kernel-config must be one of ${KERNEL_CONFIG_CHOICES.join(', ')}, got "${values['kernel-config']}".`);
  if (!['q4', 'q8', 'none'].includes(values.quantize!)) throw new InvalidArgumentError(`--quantize must be q4, q8 or none, got "${values.quantize}".`);
  if (!['32', '64', '128'].includes(values['quantize-group-size']!)) throw new InvalidArgumentError(`--quantize-group-size must be 32, 64 or 128, got "${values['quantize-group-size']}".`);
  if (values['keep-embeddings'] && values.quantize === 'none') throw new InvalidArgumentError('--keep-embeddings needs --quantize q4 or q8.');
  const kvDtype = values['kv-dtype'];
  if (kvDtype !== undefined && !(KV_DTYPES as readonly string[]).includes(kvDtype)) throw new InvalidArgumentError(`--kv-dtype must be one of ${KV_DTYPES.join(', ')}, got "${kvDtype}".`);
  const gpuMemoryBytes = values['gpu-memory'] === undefined ? undefined : parseByteSize(values['gpu-memory'], '--gpu-memory');
  const draftSeed = Number(values['draft-seed']);
  if (!Number.isInteger(draftSeed) || draftSeed < 0) throw new InvalidArgumentError(`--draft-seed must be a non-negative integer, got "${values['draft-seed']}".`);
  /** A number option (range checks: resolveSampling, with the option's flag name). */
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`--${name} must be a number, got "${v}".`, { option: `--${name}` });
    return n;
  };
  const sampling = { temperature: num('temperature', values.temperature), topK: num('top-k', values['top-k']), topP: num('top-p', values['top-p']), minP: num('min-p', values['min-p']), seed: num('seed', values.seed) };
  try {
    resolveSampling(sampling, () => 0);
  } catch (e) {
    const flag = { temperature: '--temperature', topK: '--top-k', topP: '--top-p', minP: '--min-p', seed: '--seed' } as const;
    const key = (Object.keys(flag) as (keyof typeof flag)[]).find((k) => (e as Error).message.startsWith(k));
    throw key ? new InvalidArgumentError((e as Error).message.replace(key, flag[key]), { option: flag[key] }) : e;
  }
  const stop = validateStops(values.stop);
  if (!values.help && values.prompt === undefined) throw new InvalidArgumentError('--prompt is required.');
  return {
    // Every location form (hf:owner/name, Hugging Face links, URLs, paths) through the shared parser.
    model: values.model === undefined || values.help ? values.model : resolveNodeModelLocation(values.model),
    prompt: values.prompt ?? '',
    maxNewTokens: int('max-new-tokens', values['max-new-tokens'])!,
    decode: values.decode as DecodeMode,
    tree: values.tree as 'fixed' | 'adaptive',
    draftSeed,
    ...sampling,
    stop,
    json: values.json!,
    runtime: values.runtime as 'node' | 'chromium',
    chat: values.chat!,
    allowSpecialInContent: values['allow-special-in-content']!,
    contextLength: int('context-length', values['context-length']),
    verbose: values.verbose!,
    swiftshader: values.swiftshader!,
    selfCheck: !values['no-self-check'],
    kernelConfig: values['kernel-config'] as KernelConfigChoice,
    quantize: values.quantize as 'q4' | 'q8' | 'none',
    quantizeGroupSize: Number(values['quantize-group-size']) as 32 | 64 | 128,
    quantizeEmbeddings: !values['keep-embeddings'],
    kvDtype: kvDtype as KvDtype | undefined,
    gpuMemoryBytes,
    help: values.help!,
  };
}

/** The `LoadOptions` of the quantization flags (only those that differ from the defaults). */
export function quantizeOptions(o: CliOptions): Pick<LoadOptions, 'quantize' | 'quantizeGroupSize' | 'quantizeEmbeddings'> {
  return o.quantize === 'none' ? {} : { quantize: o.quantize, quantizeGroupSize: o.quantizeGroupSize, quantizeEmbeddings: o.quantizeEmbeddings };
}
