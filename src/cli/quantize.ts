/**
 * `npm run quantize`: converts a Hugging Face F32/F16/BF16 folder into a compressed-tensors
 * `pack-quantized` folder with 4- or 8-bit group-quantized weights (src/model/convert.ts), with a
 * progress bar on stderr. Exit codes: 0 done, 2 a usage error or a bad --model/--out (an
 * InvalidArgumentError), 1 any other failure; one `<ErrorName>: <message>` line on stderr.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError, MsnError } from '../errors.js';
import { convertModel, DEFAULT_SHARD_BYTES, type ConvertProgress } from '../model/convert.js';
import { nodeHubAuth, resolveNodeModelLocation } from '../model/location-node.js';
import { QUANT_GROUPS, type QuantBits } from '../model/quantize.js';

export const QUANTIZE_USAGE = `Usage: npm run quantize -- --model <location> --out <folder> [options]
  --model <location>     source: a local folder, a folder URL, hf:owner/name[@rev] or a huggingface.co link
                         (F32/F16/BF16 safetensors, single file or sharded with an index)
  --out <folder>         output folder (new or empty), written in compressed-tensors pack-quantized format
  --bits 4|8             bits per weight (default 4)
  --group-size 32|64|128 input features per scale (default 32)
  --keep-embeddings      keep embed_tokens and lm_head dense, in their source dtype (default: quantized)
  --force                write into a non-empty --out (its .safetensors files and index are replaced)
  --quiet                no progress bar
  --verbose              print stack traces on errors
Environment:
  HF_TOKEN                   Hugging Face access token for gated or private repositories (Llama, Gemma…): sent
                             only to huggingface.co (and the HF_ENDPOINT mirror, when set)
`;

/** Parsed options of `npm run quantize`. */
export interface QuantizeCliOptions {
  model: string;
  out: string;
  bits: QuantBits;
  group: number;
  keepEmbeddings: boolean;
  force: boolean;
  quiet: boolean;
  verbose: boolean;
  /** Hidden (tests): largest shard in bytes (--max-shard-bytes). */
  shardBytes: number;
  /** Hidden (tests): largest row block read at once, in bytes (--block-bytes). */
  blockBytes: number | undefined;
  help: boolean;
}

/**
 * Parses the arguments of `npm run quantize`.
 * @throws InvalidArgumentError for an unknown option, a missing or bad value, no --model or --out.
 */
export function parseQuantizeCli(argv: string[]): QuantizeCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' }, out: { type: 'string' }, bits: { type: 'string', default: '4' }, 'group-size': { type: 'string', default: '32' },
        'keep-embeddings': { type: 'boolean', default: false }, force: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false }, 'max-shard-bytes': { type: 'string' }, 'block-bytes': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message.trim().replace(/\s*\n\s*/g, ' '), { code: (e as { code?: string }).code });
  }
  const positive = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`--${name} must be a positive integer, got "${v}".`);
    return n;
  };
  const bits = Number(values.bits);
  if (bits !== 4 && bits !== 8) throw new InvalidArgumentError(`--bits must be 4 or 8, got "${values.bits}".`);
  const group = Number(values['group-size']);
  if (!(QUANT_GROUPS as readonly number[]).includes(group)) throw new InvalidArgumentError(`--group-size must be one of ${QUANT_GROUPS.join(', ')}, got "${values['group-size']}".`);
  if (!values.help && values.model === undefined) throw new InvalidArgumentError('--model is required.');
  if (!values.help && values.out === undefined) throw new InvalidArgumentError('--out is required.');
  return {
    model: values.model === undefined || values.help ? (values.model ?? '') : resolveNodeModelLocation(values.model),
    out: values.out ?? '',
    bits,
    group,
    keepEmbeddings: values['keep-embeddings']!,
    force: values.force!,
    quiet: values.quiet!,
    verbose: values.verbose!,
    shardBytes: positive('max-shard-bytes', values['max-shard-bytes']) ?? DEFAULT_SHARD_BYTES,
    blockBytes: positive('block-bytes', values['block-bytes']),
    help: values.help!,
  };
}

const MB = 1024 * 1024;

/** A one-line progress bar on a TTY (redrawn at most every 200 ms), else a line per 10%. */
function progressBar(stream: NodeJS.WriteStream): (p: ConvertProgress) => void {
  let last = 0;
  let lastDecile = -1;
  return (p) => {
    const frac = p.totalBytes ? Math.min(1, p.readBytes / p.totalBytes) : null;
    if (!stream.isTTY) {
      const decile = frac === null ? -1 : Math.floor(frac * 10);
      if (decile > lastDecile) stream.write(`quantize: ${decile * 10}% (${(p.readBytes / MB).toFixed(0)} MB read)\n`);
      lastDecile = decile;
      return;
    }
    const now = Date.now();
    if (now - last < 200 && frac !== 1) return;
    last = now;
    const width = 30;
    const bar = frac === null ? '' : `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${(frac * 100).toFixed(1).padStart(5)}% `;
    const total = p.totalBytes ? `/${(p.totalBytes / MB).toFixed(0)}` : '';
    stream.write(`\r${bar}${(p.readBytes / MB).toFixed(0)}${total} MB  ${p.tensor}`.slice(0, (stream.columns ?? 120) - 1).padEnd((stream.columns ?? 120) - 1));
  };
}

/** Runs the converter on `argv`; returns the exit code (see the file header). */
export async function main(argv: string[]): Promise<number> {
  let o: QuantizeCliOptions | undefined;
  try {
    o = parseQuantizeCli(argv);
    if (o.help) {
      process.stdout.write(QUANTIZE_USAGE);
      return 0;
    }
    const r = await convertModel({
      ...nodeHubAuth(), model: o.model, out: o.out, bits: o.bits, group: o.group, keepEmbeddings: o.keepEmbeddings, force: o.force,
      shardBytes: o.shardBytes, blockBytes: o.blockBytes, onProgress: o.quiet ? undefined : progressBar(process.stderr),
    });
    if (!o.quiet && process.stderr.isTTY) process.stderr.write('\n');
    process.stderr.write(`quantize: wrote ${o.out}: ${r.quantized.length} tensors quantized (q${o.bits}, group ${o.group}), ${r.dense.length} kept dense, ${r.shards.length} shard(s), ${(r.totalSize / MB).toFixed(1)} MB; copied ${r.copied.join(', ') || 'no other files'}\n`);
    if (r.f32Scales.length > 0) process.stderr.write(`quantize: F32 scales (a scale is not an f16 number) for ${r.f32Scales.join(', ')}\n`);
    return 0;
  } catch (e) {
    const err = e as Error;
    const line = err instanceof MsnError ? `${err.name}: ${err.message.trim().replace(/\s*\n\s*/g, ' ')}` : `Error: ${err?.message ?? String(e)}`;
    process.stderr.write(`\n${line}\n`);
    if (o?.verbose) process.stderr.write(`${err?.stack ?? ''}\n`);
    const usage = err instanceof MsnError && err.code === 'invalid-argument';
    if (usage) process.stderr.write('Run with --help for the options.\n');
    return usage ? 2 : 1;
  }
}

const invoked = process.argv[1] && /quantize\.(?:mjs|ts|js)$/.test(process.argv[1]);
if (invoked) void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
