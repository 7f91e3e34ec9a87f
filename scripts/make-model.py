"""Write a random-weight Hugging Face model folder with the exact published config of a real model.

    .venv/bin/python scripts/make-model.py --shape llama-3.2-1b --layers 2 --out /tmp/m --golden /tmp/m/golden.json
    .venv/bin/python scripts/make-model.py --shape llama-3-8b                  # full size: ~16 GB of bf16
    .venv/bin/python scripts/make-model.py --shape deepseek-coder-6.7b --no-weights --out /tmp/d   # config + tokenizer
    .venv/bin/python scripts/make-model.py --shape llama-3.2-1b --dtype float16 --no-check --out /tmp/m1b   # bench/device.sh
    .venv/bin/python scripts/make-model.py --list
    .venv/bin/python scripts/make-model.py --shape llama-3.2-1b --layers 2 --out /tmp/m --golden /tmp/m/golden-q4.json --quantize q4
                                        # the golden of an existing folder on its weights dequantized (no new weights)
    .venv/bin/python scripts/make-model.py --shape llama-3.2-1b --layers 2 --out /tmp/m --golden /tmp/m/golden-q4-kv-f16.json --quantize q4 --kv-dtype f16
                                        # ... and with K and V rounded to float16 (the runtime's f16 KV cache)

Shapes (config.json, generation_config.json and the shard size are those of the published checkpoint):
    llama-3.2-1b         meta-llama/Llama-3.2-1B            (tied, GQA 32:8, rope_scaling llama3)
    llama-3-8b           meta-llama/Meta-Llama-3-8B         (untied, GQA 32:8, 4 shards of <= 5 GB)
    smollm2-135m         HuggingFaceTB/SmolLM2-135M         (tied, GQA 9:3, vocab 49152)
    deepseek-coder-6.7b  deepseek-ai/deepseek-coder-6.7b-base (untied, MHA, rope_scaling linear 4, 2 shards of <= 10 GB)
More shapes, one per family, live in scripts/configs/<shape>.json (same fields, plus `family`):
    qwen2.5-0.5b         Qwen/Qwen2.5-0.5B-Instruct         (qwen2: q/k/v biases, tied, GQA 14:2)
    qwen3-0.6b           Qwen/Qwen3-0.6B                    (qwen3: q_norm/k_norm, head_dim 128, tied)
    phi-3.5-mini         microsoft/Phi-3.5-mini-instruct    (phi3: fused qkv_proj and gate_up_proj, longrope)
    gemma-2-2b           google/gemma-2-2b-it               (gemma2: pre/post norms, soft-capping, tied)
    gemma-3-1b           google/gemma-3-1b-it               (gemma3_text: q/k norms, two RoPE bases, tied)
    mistral-7b-v0.3      mistralai/Mistral-7B-Instruct-v0.3 (mistral, 3 shards of <= 5 GB)
`--family NAME` picks a family's shape: llama (llama-3.2-1b), mistral, qwen2, qwen3, phi3, gemma2,
gemma3_text. Tensor names and shapes are those transformers' model class of the family saves
(test/fixtures/test_make_model.py checks them against the class built on the meta device). For the
Gemma families, whose RMSNorm scales by (1 + weight), the norm weights are written as (scale - 1).
Gemma's turn tokens sit at ids below TOKENIZER_VOCAB, inside the small BPE, so the tokenizer has only
<pad>/<eos>/<bos>/<unk> as specials there; the config's EOS ids (1, 106/107) still name tokens.
The configs are written from the published files as recorded here (this machine cannot reach the Hub);
`--layers N` changes `num_hidden_layers` only.

The folder: config.json, generation_config.json, bf16 safetensors (`--dtype float16`: f16, and
torch_dtype says so) (model.safetensors, or
model-0000i-of-0000n.safetensors + model.safetensors.index.json when the weights exceed the shape's
shard size, as the real checkpoint is split), tokenizer.json + tokenizer_config.json, and
make_model.json (shape, layers, seed, script: how the folder was made; a reader ignores it).

The tokenizer is a small byte-level BPE (TOKENIZER_VOCAB ids) trained with the `tokenizers` library on
this Python's standard library (no downloads), with the shape's BOS/EOS tokens added at their published
ids (e.g. 128000/128001 for Llama 3), so every id is < vocab_size and the config's ids name real tokens.
Ids in [TOKENIZER_VOCAB, vocab_size) exist in the weights but decode to nothing.

Weights (seeded, tensor by tensor, so a shard never needs the whole model in memory):
    embeddings          N(0, EMBED_STD^2); rows of ids the tokenizer does not produce are multiplied by UNUSED_ROW_GAIN
    q/k projections     N(0, (QK_GAIN / sqrt(fan_in))^2)   (sharp, position-dependent attention)
    v/o/gate/up/down    N(0, 1 / fan_in)
    lm_head (untied)    N(0, (LOGIT_STD / sqrt(hidden))^2), unused-id rows * UNUSED_ROW_GAIN
    layer RMSNorms      1 + NORM_JITTER * N(0, 1)  (a loader that ignores them fails)
    final RMSNorm       LOGIT_STD / (EMBED_STD * sqrt(hidden)) * (1 + NORM_JITTER * N(0, 1)) when tied, else as above
The embeddings are small (EMBED_STD, the usual init range) beside the layers' outputs (about unit RMS
per layer): with tied embeddings a large embedding makes each token its own best successor (the
self dot product e.e ~ hidden * EMBED_STD^2 dwarfs e.e'), and greedy output repeats the last token.
Sharp logits: the final hidden state has unit RMS, so every logit row has a standard deviation of about
LOGIT_STD, and the ids no prompt can produce are damped, so the argmax is taken over the tokenizer's few
hundred ids instead of the whole vocabulary. A top-1 gap is a fraction of the logits' spread (rescaling
every logit changes nothing), so the script then measures it: `--golden` runs transformers (float32
maths on the bf16 weights, eager attention) greedily on GOLDEN_PROMPTS and requires every row's top-1
minus top-2 logit to be at least MIN_MARGIN (about 1e3 times the |f32 kernel - f32 torch| difference
seen on the fixtures) and the greedy text not to be one token repeated. A seed that fails is replaced
by the next one (at most MAX_SEED_TRIES); the seed used is in make_model.json and the golden.

golden (JSON):
    shape, layers, seed, dtype ("bfloat16"), reference (implementation and versions), min_margin,
    prompts: [{text, ids (tokenizer(text) without special tokens), greedy_ids (GREEDY_TOKENS argmax
    tokens, EOS not honoured), min_margin (over the prompt's last row and every greedy row)}]

--quantize q4|q8 (with --golden; --quantize-group-size 32|64|128, default 32): the golden of the folder
already at --out (made by this script; no weights are written and no seed is searched), computed by
transformers on the weights the runtime holds under `LoadOptions.quantize`: every Linear weight
(q/k/v/o, gate/up/down), embed_tokens and lm_head (the tied one once) upcast to float32 and replaced by
train/quantize_ref.py's `dequantize(**quantize(w, bits, group))`, in blocks of rows (the rule is per
row, so this is exact). The golden then also has quantize {bits, group, embeddings: true} and, per
prompt, greedy_margins and decided_tokens (leading greedy tokens whose row margin is >= 1e-3; a
smaller margin may go either way under f32 rounding). The margins are recorded, not enforced.

--kv-dtype f16 (with --golden; alone or with --quantize): likewise the golden of the folder already at
--out, with K (after RoPE) and V rounded to float16 as the runtime's f16 KV cache stores them
(`LoadOptions.kvDtype: 'f16'`): every forward attends through test/fixtures/make_fixtures.py's
F16KVCache (imported, the one PyTorch twin of the f16 KV cache), the new rows included. The golden then
also has kv_dtype "float16", and greedy_margins and decided_tokens as with --quantize.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import sysconfig
import time
from pathlib import Path

TOKENIZER_VOCAB = 512
CORPUS_FILES = ["argparse.py", "dataclasses.py", "functools.py", "heapq.py", "textwrap.py", "string.py",
                "shlex.py", "csv.py"]
EMBED_STD, QK_GAIN, LOGIT_STD, NORM_JITTER, UNUSED_ROW_GAIN = 0.02, 1.5, 8.0, 0.25, 0.25
GOLDEN_PROMPTS = ["def fibonacci(n):\n    if n < 2:", "import os\nclass Path:"]
GREEDY_TOKENS = 8
MIN_MARGIN = 0.05
MIN_DISTINCT_GREEDY = 3
MAX_SEED_TRIES = 20
CHECK_MAX_PARAMS = 3e9  # margins are checked in float32 in this process only up to this size

LLAMA3_SPECIALS = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001}
# The published config.json and generation_config.json of each shape, key for key, and the largest
# shard of its safetensors files (transformers' max_shard_size when it was saved).
SHAPES: dict[str, dict] = {
    "llama-3.2-1b": dict(
        repo="meta-llama/Llama-3.2-1B", shard_bytes=5 * 10**9, specials=LLAMA3_SPECIALS,
        bos="<|begin_of_text|>", eos="<|end_of_text|>", model_max_length=131072,
        config={
            "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
            "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
            "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
            "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
            "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
            "pretraining_tp": 1, "rms_norm_eps": 1e-05,
            "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
            "transformers_version": "4.45.0.dev0", "use_cache": True, "vocab_size": 128256},
        generation={"_from_model_config": True, "bos_token_id": 128000, "do_sample": True,
                    "eos_token_id": 128001, "temperature": 0.6, "top_p": 0.9,
                    "transformers_version": "4.45.0.dev0"}),
    "llama-3-8b": dict(
        repo="meta-llama/Meta-Llama-3-8B", shard_bytes=5 * 10**9, specials=LLAMA3_SPECIALS,
        bos="<|begin_of_text|>", eos="<|end_of_text|>", model_max_length=1000000000000000019884624838656,
        config={
            "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
            "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
            "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
            "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None,
            "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            "transformers_version": "4.40.0.dev0", "use_cache": True, "vocab_size": 128256},
        generation={"bos_token_id": 128000, "eos_token_id": 128001, "do_sample": True, "temperature": 0.6,
                    "max_length": 4096, "top_p": 0.9, "transformers_version": "4.40.0.dev0"}),
    "smollm2-135m": dict(
        repo="HuggingFaceTB/SmolLM2-135M", shard_bytes=5 * 10**9,
        specials={"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2},
        bos="<|endoftext|>", eos="<|endoftext|>", model_max_length=8192,
        config={
            "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
            "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
            "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": True,
            "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 9,
            "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
            "rope_interleaved": False, "rope_scaling": None, "rope_theta": 100000,
            "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.40.1",
            "use_cache": True, "vocab_size": 49152},
        generation={"_from_model_config": True, "bos_token_id": 0, "eos_token_id": 0,
                    "transformers_version": "4.40.1"}),
    "deepseek-coder-6.7b": dict(
        repo="deepseek-ai/deepseek-coder-6.7b-base", shard_bytes=10 * 10**9,
        specials={"<｜begin▁of▁sentence｜>": 32013, "<｜end▁of▁sentence｜>": 32014},
        bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", model_max_length=16384,
        config={
            "_name_or_path": "deepseek-coder-6.7b-base", "architectures": ["LlamaForCausalLM"],
            "bos_token_id": 32013, "eos_token_id": 32014, "hidden_act": "silu", "hidden_size": 4096,
            "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 16384,
            "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-06,
            "rope_scaling": {"factor": 4.0, "type": "linear"}, "rope_theta": 100000,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.33.1",
            "use_cache": True, "vocab_size": 32256},
        generation={"_from_model_config": True, "bos_token_id": 32013, "eos_token_id": 32014,
                    "transformers_version": "4.33.1"}),
}

# The family shapes of scripts/configs/ (one JSON file per shape, the fields above plus `family`).
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
for _p in sorted(CONFIG_DIR.glob("*.json")):
    SHAPES[_p.stem] = json.loads(_p.read_text(encoding="utf-8"))
for _spec in SHAPES.values():
    _spec.setdefault("family", _spec["config"]["model_type"])
# --family NAME: the shape that stands for each family (config.json `model_type`).
FAMILY_SHAPES = {"llama": "llama-3.2-1b", "mistral": "mistral-7b-v0.3", "qwen2": "qwen2.5-0.5b",
                 "qwen3": "qwen3-0.6b", "phi3": "phi-3.5-mini", "gemma2": "gemma-2-2b",
                 "gemma3_text": "gemma-3-1b"}

try:
    import torch
    import transformers
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
except ImportError as e:  # pragma: no cover
    sys.exit(f"missing Python package ({e}); set up the venv with: bash train/setup_env.sh")


# ----------------------------------------------------------------------------- tokenizer
def build_tokenizer(spec: dict) -> dict:
    """tokenizer.json (as a dict): byte-level BPE of TOKENIZER_VOCAB ids, the shape's specials at their ids."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [(stdlib / f).read_text(encoding="utf-8") for f in CORPUS_FILES]
    low = sorted((i, t) for t, i in spec["specials"].items() if i < TOKENIZER_VOCAB)
    assert [i for i, _ in low] == list(range(len(low))), "specials below the BPE ids must come first"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TOKENIZER_VOCAB, special_tokens=[t for _, t in low],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    out = json.loads(tok.to_str())
    assert len(out["model"]["vocab"]) == TOKENIZER_VOCAB, len(out["model"]["vocab"])
    out["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in out["model"]["merges"]]
    # Specials above the BPE ids: added tokens at their published ids, as in the real tokenizer.json.
    for content, i in sorted(spec["specials"].items(), key=lambda kv: kv[1]):
        if i >= TOKENIZER_VOCAB:
            out["added_tokens"].append({"id": i, "content": content, "single_word": False, "lstrip": False,
                                        "rstrip": False, "normalized": False, "special": True})
    return out


def tokenizer_config(spec: dict) -> dict:
    return {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": spec["bos"], "eos_token": spec["eos"],
            "model_max_length": spec["model_max_length"], "clean_up_tokenization_spaces": False}


# ----------------------------------------------------------------------------- weights
def is_tied(cfg: dict) -> bool:
    """tie_word_embeddings, with the family's default when the config leaves it out (Gemma: tied)."""
    return bool(cfg.get("tie_word_embeddings", cfg["model_type"].startswith("gemma")))


def is_gemma(cfg: dict) -> bool:
    return cfg["model_type"] in ("gemma2", "gemma3_text")


def tensor_shapes(cfg: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of the state dict transformers saves for the config's family (model_type): llama and
    mistral; qwen2 (+ q/k/v biases); qwen3 (+ per-head q_norm/k_norm); phi3 (fused qkv_proj [(H + 2 Hkv) D, C]
    and gate_up_proj [2F, C]); gemma2 (+ pre/post feed-forward norms); gemma3_text (gemma2's + q_norm/k_norm)."""
    C, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    kind = cfg["model_type"]
    out = [("model.embed_tokens.weight", (V, C))]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        if kind == "phi3":
            attn = [(p + "self_attn.o_proj.weight", (C, H * D)), (p + "self_attn.qkv_proj.weight", ((H + 2 * Hkv) * D, C))]
            mlp = [(p + "mlp.gate_up_proj.weight", (2 * F, C)), (p + "mlp.down_proj.weight", (C, F))]
        else:
            bias = kind == "qwen2"
            attn = [(p + "self_attn.q_proj.weight", (H * D, C))] + ([(p + "self_attn.q_proj.bias", (H * D,))] if bias else [])
            attn += [(p + "self_attn.k_proj.weight", (Hkv * D, C))] + ([(p + "self_attn.k_proj.bias", (Hkv * D,))] if bias else [])
            attn += [(p + "self_attn.v_proj.weight", (Hkv * D, C))] + ([(p + "self_attn.v_proj.bias", (Hkv * D,))] if bias else [])
            attn.append((p + "self_attn.o_proj.weight", (C, H * D)))
            if kind in ("qwen3", "gemma3_text"):
                attn += [(p + "self_attn.q_norm.weight", (D,)), (p + "self_attn.k_norm.weight", (D,))]
            mlp = [(p + "mlp.gate_proj.weight", (F, C)), (p + "mlp.up_proj.weight", (F, C)), (p + "mlp.down_proj.weight", (C, F))]
        norms = [(p + "input_layernorm.weight", (C,)), (p + "post_attention_layernorm.weight", (C,))]
        if is_gemma(cfg):
            norms += [(p + "pre_feedforward_layernorm.weight", (C,)), (p + "post_feedforward_layernorm.weight", (C,))]
        out += attn + mlp + norms
    out.append(("model.norm.weight", (C,)))
    if not is_tied(cfg):
        out.append(("lm_head.weight", (V, C)))
    return out


def make_tensor(name: str, shape: tuple[int, ...], index: int, seed: int, cfg: dict, used: int,
                dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """One weight (bf16, or f16 with --dtype float16), from its own generator: seed and position in the state dict."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + index)
    x = torch.randn(shape, generator=g)
    C = cfg["hidden_size"]
    # Gemma's RMSNorm multiplies by (1 + weight): the weight written is the scale minus one.
    offset = 1.0 if is_gemma(cfg) else 0.0
    if name == "model.norm.weight":
        x = 1.0 + NORM_JITTER * x
        if is_tied(cfg):
            # Gemma scales the embedding by sqrt(hidden) on input only, so the tied unembedding is as small.
            x *= LOGIT_STD / (EMBED_STD * math.sqrt(C))
        x -= offset
    elif name.endswith("norm.weight"):
        x = 1.0 + NORM_JITTER * x - offset
    elif name in ("model.embed_tokens.weight", "lm_head.weight"):
        x *= LOGIT_STD / math.sqrt(C) if name == "lm_head.weight" else EMBED_STD
        x[used:] *= UNUSED_ROW_GAIN
    elif name.endswith(".bias"):
        x *= EMBED_STD
    else:
        x *= (QK_GAIN if name.endswith(("q_proj.weight", "k_proj.weight", "qkv_proj.weight")) else 1.0) / math.sqrt(shape[1])
    return x.to(dtype)


def write_weights(folder: Path, cfg: dict, seed: int, shard_bytes: int, used: int,
                  dtype: torch.dtype = torch.bfloat16) -> int:
    """bf16 (or f16) safetensors, split like transformers' save_pretrained(max_shard_size); returns total bytes."""
    shapes = tensor_shapes(cfg)
    sizes = [2 * math.prod(s) for _, s in shapes]
    shards: list[list[int]] = [[]]
    acc = 0
    for i, size in enumerate(sizes):
        if shards[-1] and acc + size > shard_bytes:
            shards.append([])
            acc = 0
        shards[-1].append(i)
        acc += size
    names = (["model.safetensors"] if len(shards) == 1 else
             [f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors" for k in range(len(shards))])
    weight_map = {}
    for fname, members in zip(names, shards):
        tensors = {shapes[i][0]: make_tensor(*shapes[i], i, seed, cfg, used, dtype) for i in members}
        save_file(tensors, str(folder / fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in tensors})
        del tensors
    total = sum(sizes)
    if len(shards) > 1:
        write_json(folder / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    return total


# ----------------------------------------------------------------------------- golden
def margins(logits: torch.Tensor) -> torch.Tensor:
    top2 = torch.topk(logits, 2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


QUANT_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QUANT_ROW_BLOCK = 4096
DECIDED_MARGIN = 1e-3


@torch.no_grad()
def dequantize_model(model, bits: int, group: int) -> None:
    """Replaces every Linear weight and the embedding / lm_head (tied: once) by the runtime's load-time
    quantization of it, dequantized (train/quantize_ref.py), in blocks of QUANT_ROW_BLOCK rows."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "train"))
    from quantize_ref import dequantize, quantize
    for name, p in model.named_parameters():  # a tied lm_head is not listed
        if name.endswith(tuple(f"{s}.weight" for s in QUANT_LINEARS)) or name.endswith("embed_tokens.weight") \
                or name == "lm_head.weight":
            for r in range(0, p.shape[0], QUANT_ROW_BLOCK):
                block = p.data[r:r + QUANT_ROW_BLOCK]
                block.copy_(dequantize(**quantize(block.float().contiguous(), bits, group)))


def f16_kv_cache_class():
    """test/fixtures/make_fixtures.py's F16KVCache: a DynamicCache that rounds K (after RoPE) and V to
    float16 as the runtime's f16 KV cache stores them (src/kernels/kv-format.ts)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "test" / "fixtures"))
    from make_fixtures import F16KVCache
    return F16KVCache


@torch.no_grad()
def greedy_golden(folder: Path, spec: dict, quant: tuple[int, int] | None = None,
                  kv_f16: bool = False) -> list[dict]:
    """Greedy decoding with transformers on GOLDEN_PROMPTS: float32 maths on the bf16 weights (with
    `quant` = (bits, group): on those weights quantized and dequantized, see --quantize; with `kv_f16`:
    K and V rounded to float16 in the attention, see --kv-dtype)."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
    # The folder's tokenizer.json as `tokenizers` reads it (what the runtime matches). Not AutoTokenizer:
    # transformers 5 maps model_type qwen2 to Qwen2Tokenizer, which replaces this small BPE's
    # pre-tokenizer with Qwen's split regex (different ids for "\n    if").
    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    if quant:
        dequantize_model(model, *quant)
    cache = f16_kv_cache_class() if kv_f16 else None
    out = []
    for text in GOLDEN_PROMPTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text, (text, ids)
        seq, rows = list(ids), []
        for _ in range(GREEDY_TOKENS):
            # A fresh cache per full forward: every row's K and V pass through its update (rounded) before
            # any attention reads them, as in the runtime's prefill and decode steps.
            kw = dict(past_key_values=cache(config=model.config), use_cache=True) if cache else {}
            row = model(torch.tensor([seq]), **kw).logits[0, -1]
            rows.append(row)
            seq.append(int(torch.argmax(row)))
        m = margins(torch.stack(rows))
        out.append({"text": text, "ids": ids, "greedy_ids": seq[len(ids):], "min_margin": float(m.min())})
        if quant or kv_f16:
            low = [i for i, x in enumerate(m.tolist()) if x < DECIDED_MARGIN]
            out[-1].update(greedy_margins=[float(x) for x in m], decided_tokens=low[0] if low else GREEDY_TOKENS)
    return out


def quantized_golden(args) -> None:
    """--golden with --quantize and/or --kv-dtype f16: the golden of the existing --out folder on its
    dequantized weights and/or with K and V rounded to float16."""
    what = " and ".join(o for o, on in (("--quantize", args.quantize), ("--kv-dtype f16", args.kv_dtype == "f16")) if on)
    info_path = args.out / "make_model.json"
    if not info_path.exists():
        sys.exit(f"{what} needs a folder made by this script at --out ({info_path} is missing)")
    info = json.loads(info_path.read_text())
    bits = {"q4": 4, "q8": 8}[args.quantize] if args.quantize else None
    kv_f16 = args.kv_dtype == "f16"
    t0 = time.time()
    prompts = greedy_golden(args.out, SHAPES[info["shape"]], (bits, args.quantize_group_size) if bits else None, kv_f16)
    for p in prompts:
        print(f"  {p['text']!r}: greedy {p['greedy_ids']}, min top-1 margin {p['min_margin']:.4f}, "
              f"decided {p['decided_tokens']}/{GREEDY_TOKENS}")
    weights = (f"the {info['dtype']} weights quantized {args.quantize} (group {args.quantize_group_size}) and "
               f"dequantized by train/quantize_ref.py" if bits else f"the {info['dtype']} weights")
    kv = ", K (after RoPE) and V rounded to float16 by make_fixtures.F16KVCache" if kv_f16 else ""
    golden = dict(info, reference=f"transformers {transformers.__version__} {SHAPES[info['shape']]['config']['architectures'][0]}, eager attention, "
                                  f"float32 maths on {weights}{kv}, torch {torch.__version__}",
                  **({"quantize": {"bits": bits, "group": args.quantize_group_size, "embeddings": True}} if bits else {}),
                  kv_dtype="float16" if kv_f16 else "float32",
                  min_margin=min(p["min_margin"] for p in prompts), prompts=prompts)
    args.golden.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.golden, golden)
    print(f"  golden: {args.golden} ({time.time() - t0:.1f} s)")


def golden_problem(prompts: list[dict], spec: dict) -> str | None:
    bad = set(spec["specials"].values())
    for p in prompts:
        if p["min_margin"] < MIN_MARGIN:
            return f"margin {p['min_margin']:.3g} < {MIN_MARGIN} on {p['text']!r}"
        if bad & set(p["greedy_ids"]):
            return f"a special token in the greedy output of {p['text']!r}"
        if len(set(p["greedy_ids"])) < MIN_DISTINCT_GREEDY:
            return f"repetitive greedy output on {p['text']!r}: {p['greedy_ids']}"
    return None


# ----------------------------------------------------------------------------- main
def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def make(shape: str, layers: int | None, out: Path, seed: int, weights: bool = True, dtype: str = "bfloat16") -> dict:
    spec = SHAPES[shape]
    cfg = dict(spec["config"])
    if dtype != "bfloat16":
        cfg["torch_dtype"] = dtype  # the published config says bfloat16; this folder holds another dtype
    if layers is not None:
        cfg["num_hidden_layers"] = layers
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tokenizer = build_tokenizer(spec)
    assert max(t["id"] for t in tokenizer["added_tokens"]) < cfg["vocab_size"]
    write_json(out / "tokenizer.json", tokenizer)
    write_json(out / "tokenizer_config.json", tokenizer_config(spec))
    write_json(out / "config.json", cfg)
    write_json(out / "generation_config.json", spec["generation"])
    if not weights:
        return {"shape": shape, "layers": cfg["num_hidden_layers"]}
    total = write_weights(out, cfg, seed, spec["shard_bytes"], TOKENIZER_VOCAB, getattr(torch, dtype))
    info = {"shape": shape, "repo": spec["repo"], "layers": cfg["num_hidden_layers"], "seed": seed,
            "dtype": dtype, "weight_bytes": total, "script": "scripts/make-model.py"}
    write_json(out / "make_model.json", info)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=list(SHAPES))
    ap.add_argument("--family", choices=list(FAMILY_SHAPES), help="the shape of a family (see FAMILY_SHAPES)")
    ap.add_argument("--layers", type=int, help="num_hidden_layers (default: the published value)")
    ap.add_argument("--out", type=Path, help="folder to write (replaced; default models/<shape>[-<N>l])")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--golden", type=Path, help="also write transformers' greedy tokens for GOLDEN_PROMPTS here "
                                                "(the seed moves on until the margins are met)")
    ap.add_argument("--dtype", choices=["bfloat16", "float16"], default="bfloat16",
                    help="weight dtype (default bfloat16, as published; float16 for GPUs whose WGSL reads f16 faster)")
    ap.add_argument("--no-check", action="store_true", help="skip the top-1 margin check (benchmarks: the weights are all that is needed)")
    ap.add_argument("--quantize", choices=["q4", "q8"], help="with --golden: the golden of the existing --out "
                                                             "folder on its weights quantized and dequantized")
    ap.add_argument("--quantize-group-size", type=int, choices=[32, 64, 128], default=32)
    ap.add_argument("--kv-dtype", choices=["f32", "f16"], default="f32",
                    help="with --golden: f16 = the golden of the existing --out folder with K and V rounded to "
                         "float16 as the runtime's f16 KV cache stores them (combinable with --quantize)")
    ap.add_argument("--list", action="store_true", help="print the shapes and exit")
    ap.add_argument("--no-weights", action="store_true", help="write only the config, generation config and tokenizer")
    args = ap.parse_args()
    if args.list:
        for k, v in SHAPES.items():
            print(f"{k:20s} {v['family']:12s} {v['repo']}")
        return
    if args.family:
        if args.shape and args.shape != FAMILY_SHAPES[args.family]:
            ap.error(f"--family {args.family} is --shape {FAMILY_SHAPES[args.family]}, not {args.shape}")
        args.shape = FAMILY_SHAPES[args.family]
    if args.shape is None:
        ap.error("--shape or --family is required")
    if args.layers is not None and args.layers < 1:
        ap.error("--layers must be >= 1")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    transformers.utils.logging.disable_progress_bar()
    out = args.out or Path("models") / (args.shape + (f"-{args.layers}l" if args.layers else ""))
    if args.quantize or args.kv_dtype == "f16":
        if not args.golden:
            ap.error("--quantize and --kv-dtype f16 need --golden")
        args.out = out
        quantized_golden(args)
        return
    t0 = time.time()
    if args.no_weights:
        make(args.shape, args.layers, out, args.seed, weights=False)
        print(f"{args.shape}: wrote {out} without weights")
        return
    for seed in range(args.seed, args.seed + (MAX_SEED_TRIES if args.golden else 1)):
        info = make(args.shape, args.layers, out, seed, dtype=args.dtype)
        params = info["weight_bytes"] / 2
        print(f"{args.shape}: {info['layers']} layers, {params / 1e6:.0f}M params, seed {seed}, "
              f"wrote {out} in {time.time() - t0:.1f} s")
        if not args.golden and args.no_check:
            return
        if not args.golden and params > CHECK_MAX_PARAMS:
            print(f"  margins not checked (over {CHECK_MAX_PARAMS:.0e} params; --golden checks them)")
            return
        prompts = greedy_golden(out, SHAPES[args.shape])
        problem = golden_problem(prompts, SHAPES[args.shape])
        for p in prompts:
            print(f"  {p['text']!r}: greedy {p['greedy_ids']}, min top-1 margin {p['min_margin']:.3f}")
        if not args.golden:
            if problem:
                print(f"  warning: {problem} (--golden would try the next seed)")
            return
        if problem is None:
            golden = dict(info, reference=f"transformers {transformers.__version__} {SHAPES[args.shape]['config']['architectures'][0]}, eager "
                                          f"attention, float32 maths on the bf16 weights, torch {torch.__version__}",
                          min_margin=min(p["min_margin"] for p in prompts), prompts=prompts)
            args.golden.parent.mkdir(parents=True, exist_ok=True)
            write_json(args.golden, golden)
            print(f"  golden: {args.golden} ({time.time() - t0:.1f} s in all)")
            return
        print(f"  seed {seed}: {problem}; trying the next seed")
    sys.exit(f"no seed in {MAX_SEED_TRIES} tries meets the golden criteria")


if __name__ == "__main__":
    main()
