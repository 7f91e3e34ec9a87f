/**
 * Model folder loading (Hugging Face layout): `config.json`, optional `generation_config.json`,
 * optional `manifest.json` (file list, sizes, SHA-256), and weights as `model.safetensors` or shards
 * listed by `model.safetensors.index.json`. Weights are streamed file by file, tensor by tensor.
 */
import { ModelFormatError, UnsupportedModelError, UnsupportedQuantizationError } from '../errors.js';
import { parseEosIds, parseLlamaConfig, type LlamaConfig } from './config.js';
import { isLoadableDtype, readSafetensorBlocks, type TensorInfo } from './safetensors.js';
import { readJson, type ModelSource } from './source.js';
import { evictUnparsable, openCheckedSource, type ManifestEntry } from './integrity.js';
import type { TensorDtype } from './dtype.js';
import { parseQuantizationConfig, PrequantAssembler, SUPPORTED_PREQUANT, type PrequantScheme, type QuantizedTensor } from './prequant.js';

/** Progress record reported while weights stream in. */
export interface LoadProgress {
  loadedBytes: number;
  /** Sum of the weight files' sizes, or null when unknown. */
  totalBytes: number | null;
  /** File being read. */
  file: string;
}

export type { ManifestEntry };

/** What the loader learns before streaming weights. */
export interface ModelDescription {
  config: LlamaConfig;
  /** Union of config.json and generation_config.json EOS ids. */
  eosTokenIds: number[];
  weightFiles: string[];
  /** Tensor names from `model.safetensors.index.json` (null for a single `model.safetensors`): what the memory plan knows before any header is read. */
  tensorNames: string[] | null;
  totalBytes: number | null;
  manifest: ManifestEntry[] | null;
  /** The folder, verified against manifest.json when there is one (use it for every later read). */
  source: ModelSource;
  /** The pre-quantized weight scheme of config.json's `quantization_config` (src/model/prequant.ts), or null. */
  quantization: PrequantScheme | null;
}

/**
 * Reads configs and the weight file list. A JSON file that fails to parse is evicted from the
 * Cache API (evictUnparsable), so a reload downloads it again.
 * @throws ModelFormatError, UnsupportedModelError, NetworkError; UnsupportedQuantizationError for a
 *   `quantization_config` this runtime cannot load, or PyTorch pickle weights only (before any weight byte).
 */
export async function describeModel(folder: ModelSource, signal?: AbortSignal): Promise<ModelDescription> {
  try {
    return await describeFolder(folder, signal);
  } catch (e) {
    throw await evictUnparsable(folder, e);
  }
}

async function describeFolder(folder: ModelSource, signal?: AbortSignal): Promise<ModelDescription> {
  const { source: src, manifest } = await openCheckedSource(folder, signal);
  const configJson = await readJson(src, 'config.json', signal);
  const config = parseLlamaConfig(configJson);
  const quantization = parseQuantizationConfig(configJson);
  const eos = new Set(config.eosTokenIds);
  if (await src.exists('generation_config.json')) {
    for (const id of parseEosIds(await readJson(src, 'generation_config.json', signal), 'generation_config.json')) eos.add(id);
  }
  let weightFiles: string[];
  let tensorNames: string[] | null = null;
  if (await src.exists('model.safetensors.index.json')) {
    const idx = (await readJson(src, 'model.safetensors.index.json', signal)) as { weight_map?: Record<string, string> };
    if (!idx || typeof idx.weight_map !== 'object' || idx.weight_map === null) throw new ModelFormatError('model.safetensors.index.json has no "weight_map" object.', { file: 'model.safetensors.index.json' });
    weightFiles = [...new Set(Object.values(idx.weight_map))].sort();
    tensorNames = Object.keys(idx.weight_map);
    if (weightFiles.length === 0 || weightFiles.some((f) => typeof f !== 'string' || f.includes('..'))) throw new ModelFormatError('model.safetensors.index.json: weight_map must name .safetensors files in the folder.', { file: 'model.safetensors.index.json' });
  } else if (await src.exists('model.safetensors')) {
    weightFiles = ['model.safetensors'];
  } else if ((await src.exists('pytorch_model.bin')) || (await src.exists('pytorch_model.bin.index.json'))) {
    throw new UnsupportedQuantizationError('PyTorch pickle weights (pytorch_model.bin)', `safetensors weights (model.safetensors or model.safetensors.index.json); pre-quantized: ${SUPPORTED_PREQUANT}`);
  } else {
    throw new ModelFormatError(`No weights in ${src.location}: expected model.safetensors or model.safetensors.index.json.`, { location: src.location });
  }
  let totalBytes: number | null = 0;
  for (const f of weightFiles) {
    const fromManifest = manifest?.find((e) => e.path === f)?.size;
    const s = fromManifest ?? (await src.size(f));
    totalBytes = s === null || totalBytes === null ? null : totalBytes + s;
  }
  return { config, eosTokenIds: [...eos].sort((a, b) => a - b), weightFiles, tensorNames, totalBytes, manifest, source: src, quantization };
}

/**
 * Called for each wanted tensor as soon as its bytes are in: the whole tensor, or with a `blockBytes`
 * limit ({@link streamWeights}) consecutive row blocks (`block`: rows [row0, row0 + rows) of shape[0];
 * `bytes` holds just those rows). `shape` is always the whole tensor's.
 */
export type TensorSink = (name: string, dtype: TensorDtype, shape: number[], bytes: Uint8Array, block: { row0: number; rows: number }) => Promise<void> | void;

/** Brackets a synchronous step that may block the thread for seconds (the worker tells its watchdog: `announceSyncStep`). */
export interface SyncStepHooks {
  start(label: string): void;
  end(): void;
}

let syncHooks: SyncStepHooks = { start() {}, end() {} };

/** Installs the hooks the loader calls around a long synchronous step (repacking one pre-quantized tensor). */
export function setLoaderSyncHooks(hooks: SyncStepHooks): void {
  syncHooks = hooks;
}

/** Called for each repacked quantized linear (`<prefix>.weight`) as soon as its last part is in. */
export type QuantizedSink = (t: QuantizedTensor) => Promise<void> | void;

/**
 * Streams every weight file, handing wanted tensors to `sink`. Returns the names seen. A file that
 * fails to parse (truncated, malformed header) is evicted from the Cache API (evictUnparsable), so
 * a reload downloads it again.
 * For a pre-quantized checkpoint (`desc.quantization`), the parts of each quantized linear
 * (`<prefix>.qweight`…, `<prefix>.weight_packed`…: any dtype, checked by the assembler) are wanted when
 * `want('<prefix>.weight')` is, go to a {@link PrequantAssembler} instead of `sink`, and each complete
 * linear goes to `quantized` as `<prefix>.weight` (also added to the names returned).
 * @param blockBytes largest piece handed to `sink` (a tensor arrives as row blocks of at most this
 *   many bytes, so a 1 GB embedding never sits in memory whole); default Infinity (whole tensors).
 *   Quantized parts always reach the assembler whole.
 * @throws ModelFormatError on malformed files or quantized parts, or a linear whose parts did not all
 *   arrive; UnsupportedModelError for a wanted non-float tensor; UnsupportedQuantizationError when the
 *   checkpoint is pre-quantized and no `quantized` sink is given.
 */
export async function streamWeights(
  desc: ModelDescription,
  want: (name: string) => boolean,
  sink: TensorSink,
  onProgress?: (p: LoadProgress) => void,
  signal?: AbortSignal,
  quantized?: QuantizedSink,
  blockBytes = Infinity,
): Promise<Set<string>> {
  const q = desc.quantization;
  if (q && !quantized) throw new UnsupportedQuantizationError(`pre-quantized ${q.format} weights (this loader was called without a sink for them)`, 'unquantized F32/F16/BF16 safetensors here');
  const asm = q ? new PrequantAssembler(q) : null;
  const seen = new Set<string>();
  let loaded = 0;
  for (const file of desc.weightFiles) {
    signal?.throwIfAborted();
    const f = await desc.source.open(file, signal);
    onProgress?.({ loadedBytes: loaded, totalBytes: desc.totalBytes, file });
    const wanted = (info: TensorInfo) => {
      const part = asm?.split(info.name);
      return part ? want(`${part[0]}.weight`) : want(info.name);
    };
    let whole: Uint8Array | null = null; // a quantized part being gathered from its blocks
    try {
      for await (const { info, bytes, row0, rows } of readSafetensorBlocks(f.stream, file, f.size, {
        onBytes: (n) => {
          loaded += n;
          onProgress?.({ loadedBytes: loaded, totalBytes: desc.totalBytes, file });
        },
        want: wanted,
        blockBytes,
      })) {
        signal?.throwIfAborted();
        const last = row0 + rows >= (info.shape.length === 0 ? 1 : info.shape[0]);
        if (row0 === 0 && seen.has(info.name)) throw new ModelFormatError(`Tensor ${info.name} appears twice (in ${file}).`, { tensor: info.name, file });
        if (asm?.claims(info.name)) {
          seen.add(info.name);
          let all = bytes;
          if (!(row0 === 0 && last)) {
            if (row0 === 0) whole = new Uint8Array(info.end - info.begin);
            whole!.set(bytes, (row0 * (info.end - info.begin)) / (info.shape[0] || 1));
            if (!last) continue;
            all = whole!;
            whole = null;
          }
          // The last part of a linear repacks it whole, synchronously (an 8B lm_head: about 8 s): announce it.
          syncHooks.start(`repacking ${info.name}`);
          let t;
          try {
            t = asm.add(info.name, info.dtype, info.shape, all);
          } finally {
            syncHooks.end();
          }
          if (t) {
            if (seen.has(t.name)) throw new ModelFormatError(`Tensor ${t.name} is stored both dense and quantized (in ${file}).`, { tensor: t.name, file });
            seen.add(t.name);
            await (quantized as QuantizedSink)(t);
          }
          continue;
        }
        if (!isLoadableDtype(info.dtype)) throw new UnsupportedModelError(`dtype of tensor ${info.name}`, info.dtype, 'F32, F16, BF16');
        seen.add(info.name);
        await sink(info.name, info.dtype, info.shape, bytes, { row0, rows });
      }
    } catch (e) {
      throw await evictUnparsable(desc.source, e);
    }
  }
  asm?.finish();
  return seen;
}
