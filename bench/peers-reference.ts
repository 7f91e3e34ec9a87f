/**
 * The float64 reference forward of a plain Llama folder (one model.safetensors) in Node, for the
 * peers benchmark's mismatches: at the first position where a runtime's greedy ids leave ours, the
 * reference's top-1 minus top-2 logit says how close the call was (a gap near f32 rounding: either
 * runtime's rounding decided it). Layers are src/model/float64.ts's `llamaLayer64` (HF
 * modeling_llama.py's maths); embedding, final RMSNorm and the LM head around them here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseLlamaConfig, type LlamaConfig } from '../src/model/config.js';
import { decodeToF32, type TensorDtype } from '../src/model/dtype.js';
import { llamaLayer64, matmul64, rmsnorm64, type KvCache64, type LayerWeights64 } from '../src/model/float64.js';
import { ropeInvFreq } from '../src/model/rope.js';
import { parseHeaderBytes } from '../src/model/safetensors.js';

export interface Reference64 {
  cfg: LlamaConfig;
  /** Logits [V] of the last of `ids` (float64 throughout, weights as stored). */
  lastLogits(ids: readonly number[]): Float64Array;
}

/**
 * Loads `dir`/config.json and `dir`/model.safetensors. @throws Error for another family (biases,
 * q/k norms, sliding windows, Gemma) or a sharded folder: the peers' exports handle plain Llama only.
 */
export function loadReference64(dir: string): Reference64 {
  const cfg = parseLlamaConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const f = cfg.family;
  if (cfg.architecture !== 'LlamaForCausalLM' || f.qkvBias || f.qkNorm || f.postNorms || f.normWeightOffset) throw new Error(`float64 reference: plain Llama only, not ${cfg.architecture}`);
  const buf = readFileSync(join(dir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const infos = parseHeaderBytes(new Uint8Array(buf.buffer, buf.byteOffset + 8, n), 'model.safetensors', buf.length - 8 - n);
  const data = 8 + n;
  const t = new Map<string, Float32Array>();
  for (const i of infos) t.set(i.name, decodeToF32(new Uint8Array(buf.buffer, buf.byteOffset + data + i.begin, i.end - i.begin), i.dtype as TensorDtype));
  const get = (name: string) => {
    const x = t.get(name);
    if (!x) throw new Error(`float64 reference: no tensor ${name}`);
    return x;
  };
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V, rmsNormEps: eps } = cfg;
  const invFreq = ropeInvFreq(cfg);
  const layers: LayerWeights64[] = Array.from({ length: cfg.numLayers }, (_, l) => {
    const p = `model.layers.${l}.`;
    return {
      inNorm: get(`${p}input_layernorm.weight`), postNorm: get(`${p}post_attention_layernorm.weight`),
      q: get(`${p}self_attn.q_proj.weight`), k: get(`${p}self_attn.k_proj.weight`), v: get(`${p}self_attn.v_proj.weight`), o: get(`${p}self_attn.o_proj.weight`),
      gate: get(`${p}mlp.gate_proj.weight`), up: get(`${p}mlp.up_proj.weight`), down: get(`${p}mlp.down_proj.weight`),
    };
  });
  const embed = get('model.embed_tokens.weight');
  const head = cfg.tieWordEmbeddings ? embed : get('lm_head.weight');
  const norm = get('model.norm.weight');
  return {
    cfg,
    lastLogits(ids) {
      const T = ids.length;
      let x: Float64Array = new Float64Array(T * C);
      ids.forEach((id, r) => { for (let c = 0; c < C; c++) x[r * C + c] = embed[id * C + c]; });
      const positions = ids.map((_, i) => i);
      for (const w of layers) {
        const cache: KvCache64 = { k: [], v: [], rows: 0 };
        x = llamaLayer64(x, positions, { C, H, Hkv, D, F, eps, invFreq }, w, cache);
      }
      const last = rmsnorm64(x.subarray((T - 1) * C), norm, 1, C, eps);
      return matmul64(last, head, 1, V, C);
    },
  };
}

/** Top-1 id and top-1 minus top-2 value of `logits`. */
export function top2(logits: ArrayLike<number>): { top1: number; top2: number; gap: number } {
  let a = -1, b = -1;
  for (let i = 0; i < logits.length; i++) {
    if (a < 0 || logits[i] > logits[a]) { b = a; a = i; } else if (b < 0 || logits[i] > logits[b]) b = i;
  }
  return { top1: a, top2: b, gap: logits[a] - logits[b] };
}
