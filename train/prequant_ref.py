"""
Writes tiny pre-quantized Llama checkpoints in compressed-tensors `pack-quantized` and GPTQ layouts, with
the PyTorch dequantized weights of every quantized linear as the reference (issue 12; the runtime's reader:
src/model/prequant.ts, tested by test/model/prequant.test.ts). torch + safetensors only: the quantizers'
own packages (compressed-tensors, auto-gptq, gptqmodel) are not installed here, so the layouts are
written from their published code (read, not copied):

  compressed-tensors (neuralmagic/compressed-tensors, compressors/quantized_compressors/pack_quantized.py,
  `pack_to_int32` / `unpack_from_int32`; quantization/utils/helpers.py `calculate_qparams`):
    weight_packed     int32 [N, ceil(K / (32/b))]  (signed code + 2^(b-1)), 32/b per word along K, low bits first
    weight_scale      [N, K/G] ("group") or [N, 1] ("channel"), the model dtype (bf16 here)
    weight_zero_point int32 [ceil(N / (32/b)), groups]  asymmetric only: (signed zero + 2^(b-1)) packed along N
    weight_shape      int64 [2] = [N, K]   (compress_weight: torch.tensor(weight.shape))
    value = (code - zero) * scale
  GPTQ (AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda.py `QuantLinear.pack`; GPTQModel gptq_v2):
    qweight int32 [K / (32/b), N]  unsigned codes packed along K, low bits first
    qzeros  int32 [groups, N / (32/b)]  zero - 1 (checkpoint_format "gptq", v1) or zero (gptq_v2), packed along N
    scales  [groups, N] f16;  g_idx int32 [K]: group of each input feature (desc_act: a permutation's image)
    value = (q - zero[g_idx[k]]) * scale[g_idx[k]], with v1 zero = ((qzeros >> shift) & mask) + 1
  Scales and zeros follow the quantizers' min-max rules (compressed-tensors `calculate_qparams`; GPTQ's
  `Quantizer.find_params`) on random weights; GPTQ's error-compensating updates are not run (they change
  which codes are chosen, not the layout). desc_act uses a seeded random permutation in place of
  argsort(diag(H)), shared by the linears that read the same input (q/k/v; gate/up), as a real run gives.

    .venv/bin/python train/prequant_ref.py --out /tmp/prequant

writes /tmp/prequant/<variant>/{config.json, model.safetensors, reference.safetensors} for the variants of
VARIANTS (the *-phi3 ones: a Phi3ForCausalLM with fused qkv_proj and gate_up_proj quantized whole); reference.safetensors holds `<prefix>.weight` float32 [N, K] = the dequantized values above,
computed in float32 from the written tensors (unpacked by the readers' rules).

    .venv/bin/python train/prequant_ref.py --out /tmp/prequant --golden

also writes <variant>/golden.json: transformers `LlamaForCausalLM` (eager attention, float32) built from the
folder's config.json, with the dense tensors of model.safetensors (f16, upcast) and the linears of
reference.safetensors, run on GOLDEN_PROMPT: prompt_ids, prompt_logits [T][V] (one causal forward),
greedy_ids [GOLDEN_STEPS], greedy_logits [GOLDEN_STEPS][V] (row i produced greedy_ids[i], with the KV cache),
min_margin (top1 - top2 over all those rows), reference. Floats as float32 with 9 significant digits.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "hidden_size": 64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "num_hidden_layers": 2, "vocab_size": 301, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
    "bos_token_id": 1, "eos_token_id": 0, "torch_dtype": "float16",
}

# name: (format, bits, group (None: channel / -1), symmetric, desc_act, checkpoint_format)
VARIANTS = {
    "ct-w4g32-sym": ("ct", 4, 32, True, False, None),
    "ct-w4g64-asym": ("ct", 4, 64, False, False, None),
    "ct-w8-channel-asym": ("ct", 8, None, False, False, None),
    "gptq-w4g32-sym": ("gptq", 4, 32, True, False, "gptq"),
    "gptq-w4g32-asym": ("gptq", 4, 32, False, False, "gptq"),
    "gptq-w4g32-sym-desc": ("gptq", 4, 32, True, True, "gptq"),
    "gptq-w4g32-asym-desc": ("gptq", 4, 32, False, True, "gptq"),
    "gptq-w4g64-asym-desc-v2": ("gptq", 4, 64, False, True, "gptq_v2"),
    "gptq-w8g128-sym": ("gptq", 8, 128, True, False, "gptq"),
    "gptq-w4-channel-asym": ("gptq", 4, None, False, False, "gptq"),
}

# Phi-3 (Phi3ForCausalLM, fused qkv_proj [(H + 2 Hkv) D, C] and gate_up_proj [2F, C] quantized whole, as
# a quantizer sees those linears; partial rotary 0.5, a sliding window of 6): variants named *-phi3 use
# the layout of the variant without the suffix.
PHI3_CONFIG = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_act": "silu", "hidden_size": 64,
    "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
    "num_hidden_layers": 2, "vocab_size": 301, "max_position_embeddings": 256, "original_max_position_embeddings": 256,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "partial_rotary_factor": 0.5,
    "sliding_window": 6, "tie_word_embeddings": False, "attention_bias": False,
    "bos_token_id": 1, "eos_token_id": 0, "pad_token_id": 0, "torch_dtype": "float16",
}
VARIANTS["ct-w4g32-sym-phi3"] = VARIANTS["ct-w4g32-sym"]
VARIANTS["gptq-w4g32-asym-desc-phi3"] = VARIANTS["gptq-w4g32-asym-desc"]


# Linears per layer: (name, N, K, input id) — linears with one input id read the same activations.
def linears(c=CONFIG):
    C, F, H, Hkv = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["num_key_value_heads"]
    D = c.get("head_dim") or C // H
    if c["architectures"] == ["Phi3ForCausalLM"]:
        return [("self_attn.qkv_proj", (H + 2 * Hkv) * D, C, "attn_in"), ("self_attn.o_proj", C, H * D, "o_in"),
                ("mlp.gate_up_proj", 2 * F, C, "mlp_in"), ("mlp.down_proj", C, F, "down_in")]
    return [("self_attn.q_proj", H * D, C, "attn_in"), ("self_attn.k_proj", Hkv * D, C, "attn_in"),
            ("self_attn.v_proj", Hkv * D, C, "attn_in"), ("self_attn.o_proj", C, H * D, "o_in"),
            ("mlp.gate_proj", F, C, "mlp_in"), ("mlp.up_proj", F, C, "mlp_in"), ("mlp.down_proj", C, F, "down_in")]


# ------------------------------------------------------------------------------------------- packing

def pack_to_int32(codes: torch.Tensor, bits: int, packed_dim: int = 1) -> torch.Tensor:
    """compressed-tensors' `pack_to_int32`: signed int codes [R, L] -> int32, +2^(bits-1), 32/bits values
    per word along `packed_dim`, value i of a word at bits i*bits, the last word zero-padded."""
    v = codes.to(torch.int64) + (1 << (bits - 1))
    assert int(v.min()) >= 0 and int(v.max()) < (1 << bits)
    if packed_dim == 0:
        v = v.t()
    per = 32 // bits
    rows, cols = v.shape
    v = torch.nn.functional.pad(v, (0, -(-cols // per) * per - cols)).reshape(rows, -1, per)
    words = (v << (torch.arange(per, dtype=torch.int64) * bits)).sum(-1)
    out = torch.from_numpy(words.numpy().astype(np.uint32).view(np.int32))
    return out.t().contiguous() if packed_dim == 0 else out


def unpack_from_int32(words: torch.Tensor, bits: int, length: int, packed_dim: int = 1) -> torch.Tensor:
    """compressed-tensors' `unpack_from_int32` (returns the signed codes, int64)."""
    w = torch.from_numpy(words.numpy().view(np.uint32).astype(np.int64))
    if packed_dim == 0:
        w = w.t()
    per = 32 // bits
    out = ((w.unsqueeze(-1) >> (torch.arange(per, dtype=torch.int64) * bits)) & ((1 << bits) - 1)).reshape(w.shape[0], -1)[:, :length]
    out = out - (1 << (bits - 1))
    return out.t().contiguous() if packed_dim == 0 else out


def gptq_pack_rows(intweight: np.ndarray, bits: int) -> np.ndarray:
    """AutoGPTQ `QuantLinear.pack` for qweight: uint32 codes [K, N] -> [K / (32/bits), N], rows j..j+per-1 of
    `intweight` into one row, row j + i at bits i*bits (numpy uint32 arithmetic, as the original)."""
    per = 32 // bits
    out = np.zeros((intweight.shape[0] // 32 * bits, intweight.shape[1]), dtype=np.uint32)
    for row in range(out.shape[0]):
        for i in range(per):
            out[row] |= intweight[row * per + i] << np.uint32(bits * i)
    return out


def gptq_pack_cols(zeros: np.ndarray, bits: int) -> np.ndarray:
    """AutoGPTQ `QuantLinear.pack` for qzeros: uint32 [groups, N] -> [groups, N / (32/bits)], along N."""
    per = 32 // bits
    out = np.zeros((zeros.shape[0], zeros.shape[1] // 32 * bits), dtype=np.uint32)
    for col in range(out.shape[1]):
        for i in range(per):
            out[:, col] |= zeros[:, col * per + i] << np.uint32(bits * i)
    return out


def gptq_unpack(words: np.ndarray, bits: int, dim: int) -> torch.Tensor:
    """AutoGPTQ's torch forward: (words >> shift) & mask, expanded along `dim` (0: qweight rows, 1: qzeros cols)."""
    per = 32 // bits
    w = torch.from_numpy(words.view(np.uint32).astype(np.int64))
    sh = torch.arange(per, dtype=torch.int64) * bits
    if dim == 0:
        return ((w.unsqueeze(1) >> sh.view(1, per, 1)) & ((1 << bits) - 1)).reshape(-1, w.shape[1])
    return ((w.unsqueeze(2) >> sh.view(1, 1, per)) & ((1 << bits) - 1)).reshape(w.shape[0], -1)


# ------------------------------------------------------------------------------------ quantization

def ct_quantize(w: torch.Tensor, bits: int, group, sym: bool):
    """compressed-tensors min-max qparams (`calculate_qparams`), scale in bf16 (the model dtype), codes
    round(w / scale) (+ zero) clamped to [-2^(b-1), 2^(b-1) - 1]. Returns (codes int8 [N, K], scale bf16
    [N, groups], zero int8 [N, groups] or None)."""
    n, k = w.shape
    g = group or k
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    wg = w.reshape(n, k // g, g)
    mn = torch.clamp(wg.amin(-1), max=0)
    mx = torch.clamp(wg.amax(-1), min=0)
    if sym:
        scale = torch.maximum(mn.abs(), mx) / ((qmax - qmin) / 2)
        zero = torch.zeros_like(scale, dtype=torch.int64)
    else:
        scale = (mx - mn) / (qmax - qmin)
        zero = torch.clamp(torch.round(qmin - mn / scale), qmin, qmax).to(torch.int64)
    scale = scale.to(torch.bfloat16)
    sf = scale.float().unsqueeze(-1)
    codes = torch.clamp(torch.round(wg / sf) + zero.unsqueeze(-1), qmin, qmax).to(torch.int8).reshape(n, k)
    return codes, scale, (None if sym else zero.to(torch.int8))


def gptq_quantize(w: torch.Tensor, bits: int, group, sym: bool, perm):
    """GPTQ `Quantizer.find_params` per group of the (permuted, if desc_act) input order; scales f16.
    Returns (q int64 [N, K] unsigned, scales f16 [groups, N], zeros int64 [groups, N], g_idx int32 [K])."""
    n, k = w.shape
    g = group or k
    maxq = (1 << bits) - 1
    order = perm if perm is not None else torch.arange(k)
    g_idx = torch.empty(k, dtype=torch.int32)
    g_idx[order] = (torch.arange(k) // g).to(torch.int32)
    ngroups = -(-k // g)
    scales = torch.empty(ngroups, n, dtype=torch.float16)
    zeros = torch.empty(ngroups, n, dtype=torch.int64)
    q = torch.empty(n, k, dtype=torch.int64)
    for gi in range(ngroups):
        cols = order[gi * g:(gi + 1) * g]
        x = w[:, cols]
        xmin = torch.clamp(x.amin(1), max=0)
        xmax = torch.clamp(x.amax(1), min=0)
        if sym:
            xmax = torch.maximum(xmin.abs(), xmax)
            xmin = torch.where(xmin < 0, -xmax, xmin)
        same = (xmin == 0) & (xmax == 0)
        xmin, xmax = torch.where(same, -1.0, xmin), torch.where(same, 1.0, xmax)
        s = ((xmax - xmin) / maxq).to(torch.float16)
        z = torch.full_like(xmin, (maxq + 1) / 2) if sym else torch.round(-xmin / s.float())
        scales[gi], zeros[gi] = s, z.to(torch.int64)
        q[:, cols] = torch.clamp(torch.round(x / s.float().unsqueeze(1)) + z.unsqueeze(1), 0, maxq).to(torch.int64)
    return q, scales, zeros, g_idx


# ------------------------------------------------------------------------------------------ writers

def write_variant(out: Path, name: str, seed: int) -> None:
    fmt, bits, group, sym, desc, ckpt = VARIANTS[name]
    gen = torch.Generator().manual_seed(seed)
    c = PHI3_CONFIG if name.endswith("-phi3") else CONFIG
    tensors, ref = {}, {}
    tensors["model.embed_tokens.weight"] = (torch.randn(c["vocab_size"], c["hidden_size"], generator=gen) * 0.05).half()
    tensors["lm_head.weight"] = (torch.randn(c["vocab_size"], c["hidden_size"], generator=gen) * 0.05).half()
    tensors["model.norm.weight"] = (1 + 0.1 * torch.randn(c["hidden_size"], generator=gen)).half()
    for layer in range(c["num_hidden_layers"]):
        pre = f"model.layers.{layer}"
        tensors[f"{pre}.input_layernorm.weight"] = (1 + 0.1 * torch.randn(c["hidden_size"], generator=gen)).half()
        tensors[f"{pre}.post_attention_layernorm.weight"] = (1 + 0.1 * torch.randn(c["hidden_size"], generator=gen)).half()
        perms = {}
        for lin, n, k, inp in linears(c):
            p = f"{pre}.{lin}"
            w = torch.randn(n, k, generator=gen) * 0.05
            if fmt == "ct":
                codes, scale, zero = ct_quantize(w, bits, group, sym)
                tensors[f"{p}.weight_packed"] = pack_to_int32(codes, bits)
                tensors[f"{p}.weight_scale"] = scale
                tensors[f"{p}.weight_shape"] = torch.tensor([n, k], dtype=torch.int64)
                if zero is not None:
                    tensors[f"{p}.weight_zero_point"] = pack_to_int32(zero, bits, packed_dim=0)
                ref[f"{p}.weight"] = ct_dequantize(tensors, p, bits, group, k)
            else:
                if desc and inp not in perms:
                    perms[inp] = torch.randperm(k, generator=gen)
                q, scales, zeros, g_idx = gptq_quantize(w, bits, group, sym, perms.get(inp))
                tensors[f"{p}.qweight"] = torch.from_numpy(gptq_pack_rows(q.t().contiguous().numpy().astype(np.uint32), bits).view(np.int32))
                stored = (zeros - 1) if ckpt == "gptq" else zeros
                tensors[f"{p}.qzeros"] = torch.from_numpy(gptq_pack_cols(stored.numpy().astype(np.uint32), bits).view(np.int32))
                tensors[f"{p}.scales"] = scales
                tensors[f"{p}.g_idx"] = g_idx
                ref[f"{p}.weight"] = gptq_dequantize(tensors, p, bits, ckpt)
                expect = (q - zeros[g_idx.long()].t()).float() * scales[g_idx.long()].t().float()
                assert torch.equal(ref[f"{p}.weight"], expect), f"{p}: packed round trip"
    cfg = dict(c)
    if fmt == "ct":
        weights = {"num_bits": bits, "type": "int", "symmetric": sym, "strategy": "group" if group else "channel",
                   "group_size": group, "dynamic": False, "actorder": None, "observer": "minmax", "block_structure": None}
        cfg["quantization_config"] = {
            "quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights, "input_activations": None,
                                          "output_activations": None}},
            "ignore": ["lm_head"], "kv_cache_scheme": None, "sparsity_config": {}}
    else:
        cfg["quantization_config"] = {"quant_method": "gptq", "bits": bits, "group_size": group or -1, "sym": sym,
                                      "desc_act": desc, "checkpoint_format": ckpt, "damp_percent": 0.01,
                                      "true_sequential": True, "static_groups": False}
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(d / "model.safetensors"), metadata={"format": "pt"})
    save_file(ref, str(d / "reference.safetensors"))


def ct_dequantize(tensors: dict, p: str, bits: int, group, k: int) -> torch.Tensor:
    """value = (code - zero) * scale in float32, from the written tensors (unpack_from_int32's rules)."""
    codes = unpack_from_int32(tensors[f"{p}.weight_packed"], bits, k)
    scale = tensors[f"{p}.weight_scale"].float()
    n = codes.shape[0]
    zp = tensors.get(f"{p}.weight_zero_point")
    zero = torch.zeros(n, scale.shape[1], dtype=torch.int64) if zp is None else unpack_from_int32(zp, bits, n, packed_dim=0)
    g = group or k
    gi = torch.arange(k) // g
    return (codes - zero[:, gi]).float() * scale[:, gi]


def gptq_dequantize(tensors: dict, p: str, bits: int, ckpt: str) -> torch.Tensor:
    """AutoGPTQ's torch forward in float32: q [K, N], zeros = unpacked (+1 for v1), value[n, k] =
    (q[k, n] - zeros[g_idx[k], n]) * scales[g_idx[k], n]; returned as [N, K]."""
    q = gptq_unpack(tensors[f"{p}.qweight"].numpy(), bits, 0)
    z = gptq_unpack(tensors[f"{p}.qzeros"].numpy(), bits, 1) + (1 if ckpt == "gptq" else 0)
    g = tensors[f"{p}.g_idx"].long()
    s = tensors[f"{p}.scales"].float()
    return ((q - z[g]).float() * s[g]).t().contiguous()


GOLDEN_PROMPT = [1, 17, 250, 42, 99, 3, 188, 64, 7]
GOLDEN_STEPS = 8


@torch.no_grad()
def write_golden(d: Path) -> None:
    """golden.json of folder `d` (see the module docstring): what PyTorch computes with the dequantized weights."""
    import transformers
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM, Phi3Config, Phi3ForCausalLM

    cfg = json.loads((d / "config.json").read_text())
    cfg.pop("quantization_config", None)
    config_cls, model_cls = (Phi3Config, Phi3ForCausalLM) if cfg["architectures"] == ["Phi3ForCausalLM"] else (LlamaConfig, LlamaForCausalLM)
    config = config_cls.from_dict(dict(cfg, dtype="float32"))
    config._attn_implementation = "eager"
    model = model_cls(config).eval()
    files = load_file(str(d / "model.safetensors"))
    state = {k: v.float() for k, v in files.items() if k.endswith(".weight") and v.dtype.is_floating_point}
    state.update(load_file(str(d / "reference.safetensors")))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert all("rotary_emb" in m for m in missing), missing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test" / "fixtures"))
    from make_fixtures import run_golden  # the fixtures' golden loop (prompt forward, cached greedy steps, full-forward check)
    prompt_logits, greedy_ids, greedy_logits = run_golden(model, GOLDEN_PROMPT, steps=GOLDEN_STEPS)
    top2 = torch.topk(torch.cat([prompt_logits, greedy_logits]), 2, dim=-1).values
    rows = lambda t: [[float("%.9g" % x) for x in r] for r in t.tolist()]
    golden = {
        "reference": f"transformers {transformers.__version__} {type(model).__name__} (eager, float32), torch {torch.__version__}: "
                     "dense tensors of model.safetensors, linears of reference.safetensors",
        "prompt_ids": GOLDEN_PROMPT, "prompt_logits": rows(prompt_logits),
        "greedy_ids": greedy_ids, "greedy_logits": rows(greedy_logits),
        "min_margin": float(top2[:, 0].sub(top2[:, 1]).min()),
    }
    (d / "golden.json").write_text(json.dumps(golden) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="default: all")
    ap.add_argument("--golden", action="store_true", help="also write <variant>/golden.json (PyTorch logits)")
    a = ap.parse_args(argv)
    for name in a.variant or VARIANTS:
        write_variant(a.out, name, a.seed * 100 + list(VARIANTS).index(name))
        if a.golden:
            write_golden(a.out / name)


if __name__ == "__main__":
    main()
