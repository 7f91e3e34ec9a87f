#!/usr/bin/env python3
"""Exports a Llama causal LM folder (HF layout: config.json, model.safetensors, tokenizer.json) to the
formats of the peer runtimes of `npm run bench -- --peers` (issue 14), and checks every export against
PyTorch (HF transformers `LlamaForCausalLM`) logits before use:

- ONNX for transformers.js (`onnx/model.onnx` f32, `onnx/model_fp16.onnx` f16), the layout of a Llama
  causal LM with a KV cache as Optimum exports it: inputs `input_ids` int64[B, T], `attention_mask`
  int64[B, P + T], `position_ids` int64[B, T], `past_key_values.{i}.key|value` [B, Hkv, P, D]; outputs
  `logits` [B, T, V], `present.{i}.key|value` [B, Hkv, P + T, D] (f16 model: f16 cache and logits).
  config.json, generation_config.json, tokenizer.json and tokenizer_config.json are copied beside it.
  Exported with `torch.onnx.export` (the dynamo exporter, onnxscript) from a KV-cache forward written
  here with plain ops (Gather, MatMul, Softmax, ...; no contrib op); f16 by onnxruntime's
  `convert_float_to_float16`. Checked with onnxruntime (CPU): prefill, then one cached decode step.
- GGUF for wllama (llama.cpp): F32, F16 and Q8_0 (`model-f32.gguf`, `model-f16.gguf`,
  `model-q8_0.gguf`), written with the `gguf` package (GGUFWriter, gguf.quants.quantize), with
  llama.cpp's q/k row permutation (convert_hf_to_gguf.py `LlamaModel.permute`) and the tokenizer
  (`tokenizer.ggml.model` gpt2 for a byte-level BPE, pre-tokenizer `gpt-2`). Checked by reading the file
  back (gguf.GGUFReader), dequantizing, un-permuting, and comparing the weights and a numpy forward's
  logits with PyTorch.

Usage: bench/peers/.pyenv/bin/python scripts/export_peers.py [--model public/models/msn-code-tiny]
       [--out bench/peers/models/msn-code-tiny] [--no-check]
Needs torch, transformers, numpy, onnx, onnxscript, onnxruntime, gguf (bench/peers/install.sh --python
makes that environment).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / 'public' / 'models' / 'msn-code-tiny'
DEFAULT_OUT = ROOT / 'bench' / 'peers' / 'models' / 'msn-code-tiny'
SIDE_FILES = ('config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json')

# Tolerances of the checks (max |logit difference| against PyTorch f32 on the checked prompt).
TOL = {'onnx-f32': 1e-3, 'onnx-f16': 0.25, 'gguf-f32': 1e-3, 'gguf-f16': 0.1, 'gguf-q8_0': 0.5}


class ExportError(RuntimeError):
    """An export is unsupported for this model or failed its check against PyTorch."""


def load_config(model_dir: Path) -> dict:
    """config.json of a plain Llama (no biases, default RoPE, SwiGLU). @raises ExportError otherwise."""
    cfg = json.loads((model_dir / 'config.json').read_text())
    if cfg.get('model_type') != 'llama':
        raise ExportError(f"export_peers handles model_type llama, not {cfg.get('model_type')!r}")
    if cfg.get('attention_bias') or cfg.get('mlp_bias'):
        raise ExportError('export_peers handles Llama without biases')
    rope = cfg.get('rope_parameters') or cfg.get('rope_scaling') or {}
    if rope.get('rope_type', 'default') != 'default':
        raise ExportError(f"export_peers handles default RoPE, not {rope.get('rope_type')!r}")
    cfg.setdefault('head_dim', cfg['hidden_size'] // cfg['num_attention_heads'])
    cfg['rope_theta'] = float(rope.get('rope_theta', cfg.get('rope_theta', 10000.0)))
    return cfg


def load_hf(model_dir: Path):
    """The HF model in float32 (eval)."""
    import torch
    from transformers import LlamaForCausalLM
    return LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()


def hf_weights(model) -> dict[str, np.ndarray]:
    """State dict as float32 numpy arrays, HF names (lm_head.weight included when tied)."""
    sd = {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}
    sd.setdefault('lm_head.weight', sd['model.embed_tokens.weight'])
    return sd


# ---------------------------------------------------------------------------------------------- ONNX

def kv_module(model, cfg: dict):
    """A torch Module with the transformers.js I/O: (input_ids, attention_mask, position_ids, *past) ->
    (logits, *present). The same maths as HF LlamaForCausalLM (pre-RMSNorm, rotate-half RoPE,
    grouped-query attention, SwiGLU), with an explicit KV cache."""
    import torch
    from torch import nn

    H, Hkv, D, L = cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim'], cfg['num_hidden_layers']
    eps, theta = cfg['rms_norm_eps'], cfg['rope_theta']

    class KvLlama(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model.model
            self.lm_head = model.lm_head
            self.register_buffer('inv_freq', 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D)), persistent=False)

        @staticmethod
        def rms(x, w):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

        @staticmethod
        def rot(x):
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            return torch.cat((-x2, x1), dim=-1)

        def forward(self, input_ids, attention_mask, position_ids, *past):
            B, T = input_ids.shape
            x = self.m.embed_tokens(input_ids)
            freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [B, 1, T, D]
            total = attention_mask.shape[1]
            # Query row t sits at cache index total - T + t; it sees keys j <= that index whose mask is 1.
            qi = torch.arange(T, device=x.device)[:, None] + (total - T)
            kj = torch.arange(total, device=x.device)[None, :]
            allowed = (kj <= qi)[None, None] & (attention_mask[:, None, None, :] > 0)
            bias = torch.where(allowed, torch.zeros((), dtype=x.dtype), torch.full((), torch.finfo(x.dtype).min, dtype=x.dtype))
            presents = []
            for i, layer in enumerate(self.m.layers):
                a = layer.self_attn
                h = self.rms(x, layer.input_layernorm.weight)
                q = a.q_proj(h).view(B, T, H, D).transpose(1, 2)
                k = a.k_proj(h).view(B, T, Hkv, D).transpose(1, 2)
                v = a.v_proj(h).view(B, T, Hkv, D).transpose(1, 2)
                q = q * cos + self.rot(q) * sin
                k = k * cos + self.rot(k) * sin
                k = torch.cat((past[2 * i], k), dim=2)
                v = torch.cat((past[2 * i + 1], v), dim=2)
                presents += [k, v]
                rep = H // Hkv
                kk = k[:, :, None].expand(B, Hkv, rep, total, D).reshape(B, H, total, D)
                vv = v[:, :, None].expand(B, Hkv, rep, total, D).reshape(B, H, total, D)
                s = torch.matmul(q, kk.transpose(-1, -2)) * (D ** -0.5) + bias
                o = torch.matmul(torch.softmax(s, dim=-1), vv).transpose(1, 2).reshape(B, T, H * D)
                x = x + a.o_proj(o)
                h = self.rms(x, layer.post_attention_layernorm.weight)
                mlp = layer.mlp
                x = x + mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
            x = self.rms(x, self.m.norm.weight)
            return (self.lm_head(x), *presents)

    return KvLlama().eval(), L, Hkv, D


def onnx_names(L: int) -> tuple[list[str], list[str]]:
    ins = ['input_ids', 'attention_mask', 'position_ids'] + [f'past_key_values.{i}.{kv}' for i in range(L) for kv in ('key', 'value')]
    outs = ['logits'] + [f'present.{i}.{kv}' for i in range(L) for kv in ('key', 'value')]
    return ins, outs


def export_onnx(model, cfg: dict, out: Path) -> dict[str, Path]:
    """Writes out/onnx/model.onnx (f32) and out/onnx/model_fp16.onnx (f16) plus the side files."""
    import onnx
    import torch
    from onnxruntime.transformers.float16 import convert_float_to_float16

    mod, L, Hkv, D = kv_module(model, cfg)
    (out / 'onnx').mkdir(parents=True, exist_ok=True)
    B, T, P = 1, 3, 2
    ids = torch.tensor([[5, 6, 7]], dtype=torch.int64)
    mask = torch.ones(B, P + T, dtype=torch.int64)
    pos = torch.arange(P, P + T, dtype=torch.int64)[None]
    past = [torch.zeros(B, Hkv, P, D) for _ in range(2 * L)]
    ins, outs = onnx_names(L)
    batch, seq, pastd, tot = (torch.export.Dim('batch', max=64), torch.export.Dim('seq', max=4096), torch.export.Dim('past', max=4096), torch.export.Dim.AUTO)
    del tot
    dyn = ({0: batch, 1: seq}, {0: batch, 1: torch.export.Dim.AUTO}, {0: batch, 1: seq}, tuple({0: batch, 2: pastd} for _ in range(2 * L)))
    f32 = out / 'onnx' / 'model.onnx'
    with torch.no_grad():
        prog = torch.onnx.export(mod, (ids, mask, pos, *past), dynamo=True, input_names=ins, output_names=outs,
                                 dynamic_shapes=dyn, opset_version=18, external_data=False, optimize=True)
    prog.save(str(f32), external_data=False)
    m = onnx.load(str(f32))
    name_dims(m)
    onnx.save(m, str(f32))
    onnx.checker.check_model(m)
    m16 = convert_float_to_float16(m, keep_io_types=False, disable_shape_infer=True)
    f16 = out / 'onnx' / 'model_fp16.onnx'
    onnx.save(m16, str(f16))
    return {'onnx-f32': f32, 'onnx-f16': f16}


def name_dims(m) -> None:
    """Optimum's names for the symbolic dims of the graph's inputs and outputs: transformers.js sizes
    the empty first cache from them (`resolveCacheShape`: batch_size; any other name becomes 0)."""
    def dims(vi):
        return vi.type.tensor_type.shape.dim
    ids = dims(next(i for i in m.graph.input if i.name == 'input_ids'))
    mask = dims(next(i for i in m.graph.input if i.name == 'attention_mask'))
    past = dims(next(i for i in m.graph.input if i.name.startswith('past_key_values.')))
    rename = {ids[0].dim_param: 'batch_size', ids[1].dim_param: 'sequence_length', mask[1].dim_param: 'total_sequence_length', past[2].dim_param: 'past_sequence_length'}
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        for d in dims(vi):
            if d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
            elif d.dim_param and vi.name.startswith('present.') and d is dims(vi)[2]:
                d.dim_param = 'total_sequence_length'


def check_onnx(path: Path, model, cfg: dict, ids: list[int], fp16: bool) -> float:
    """Max |logit - PyTorch logit| over a prefill of ids[:-1] and one cached decode step of ids[-1]."""
    import onnxruntime as ort
    import torch

    L, Hkv, D = cfg['num_hidden_layers'], cfg['num_key_value_heads'], cfg['head_dim']
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].numpy()
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    fdt = np.float16 if fp16 else np.float32
    n = len(ids) - 1
    feeds = {'input_ids': np.array([ids[:n]], np.int64), 'attention_mask': np.ones((1, n), np.int64), 'position_ids': np.arange(n, dtype=np.int64)[None]}
    for i in range(L):
        for kv in ('key', 'value'):
            feeds[f'past_key_values.{i}.{kv}'] = np.zeros((1, Hkv, 0, D), fdt)
    ins, outs = onnx_names(L)
    r1 = dict(zip(outs, sess.run(outs, feeds)))
    feeds2 = {'input_ids': np.array([[ids[n]]], np.int64), 'attention_mask': np.ones((1, n + 1), np.int64), 'position_ids': np.array([[n]], np.int64)}
    for i in range(L):
        for kv in ('key', 'value'):
            feeds2[f'past_key_values.{i}.{kv}'] = r1[f'present.{i}.{kv}']
    r2 = dict(zip(outs, sess.run(outs, feeds2)))
    got = np.concatenate([r1['logits'][0], r2['logits'][0]]).astype(np.float32)
    if r2['present.0.key'].shape != (1, Hkv, n + 1, D):
        raise ExportError(f'{path}: present shape {r2["present.0.key"].shape}')
    return float(np.abs(got - ref).max())


# ---------------------------------------------------------------------------------------------- GGUF

def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order (convert_hf_to_gguf.py LlamaModel.permute): per head, HF's rotate-half
    halves become interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of {@link permute}."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {
    'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight',
    'input_layernorm.weight': 'attn_norm.weight', 'self_attn.q_proj.weight': 'attn_q.weight', 'self_attn.k_proj.weight': 'attn_k.weight',
    'self_attn.v_proj.weight': 'attn_v.weight', 'self_attn.o_proj.weight': 'attn_output.weight', 'post_attention_layernorm.weight': 'ffn_norm.weight',
    'mlp.gate_proj.weight': 'ffn_gate.weight', 'mlp.up_proj.weight': 'ffn_up.weight', 'mlp.down_proj.weight': 'ffn_down.weight',
}


def gguf_name(hf: str) -> str:
    if hf in GGUF_NAMES:
        return GGUF_NAMES[hf]
    parts = hf.split('.')  # model.layers.{i}.<rest>
    return f'blk.{parts[2]}.{GGUF_NAMES[".".join(parts[3:])]}'


def export_gguf(model, cfg: dict, model_dir: Path, out: Path, ftype: str) -> Path:
    """Writes out/model-<ftype>.gguf (ftype f32 | f16 | q8_0). 1-D tensors (norms) stay F32 as
    llama.cpp's converter keeps them."""
    import gguf
    from gguf import GGMLQuantizationType as Q

    qtype = {'f32': Q.F32, 'f16': Q.F16, 'q8_0': Q.Q8_0}[ftype]
    path = out / f'model-{ftype}.gguf'
    w = gguf.GGUFWriter(str(path), 'llama')
    name = model_dir.name
    w.add_name(name)
    w.add_context_length(cfg['max_position_embeddings'])
    w.add_embedding_length(cfg['hidden_size'])
    w.add_block_count(cfg['num_hidden_layers'])
    w.add_feed_forward_length(cfg['intermediate_size'])
    w.add_head_count(cfg['num_attention_heads'])
    w.add_head_count_kv(cfg['num_key_value_heads'])
    w.add_key_length(cfg['head_dim'])
    w.add_value_length(cfg['head_dim'])
    w.add_rope_dimension_count(cfg['head_dim'])
    w.add_rope_freq_base(cfg['rope_theta'])
    w.add_layer_norm_rms_eps(cfg['rms_norm_eps'])
    w.add_vocab_size(cfg['vocab_size'])
    w.add_file_type({'f32': gguf.LlamaFileType.ALL_F32, 'f16': gguf.LlamaFileType.MOSTLY_F16, 'q8_0': gguf.LlamaFileType.MOSTLY_Q8_0}[ftype])
    add_tokenizer(w, model_dir, cfg)
    sd = hf_weights(model)
    if cfg.get('tie_word_embeddings'):
        sd.pop('lm_head.weight')  # llama.cpp uses token_embd when output.weight is absent
    for k, v in sd.items():
        if k.endswith('rotary_emb.inv_freq'):
            continue
        if k.endswith('q_proj.weight'):
            v = permute(v, cfg['num_attention_heads'])
        elif k.endswith('k_proj.weight'):
            v = permute(v, cfg['num_key_value_heads'])
        t = Q.F32 if v.ndim == 1 else qtype
        data = v.astype(np.float32) if t == Q.F32 else v.astype(np.float16) if t == Q.F16 else gguf.quants.quantize(v.astype(np.float32), t)
        w.add_tensor(gguf_name(k), data, raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def add_tokenizer(w, model_dir: Path, cfg: dict) -> None:
    """Byte-level BPE (tokenizer.json) as llama.cpp's gpt2 vocabulary: tokens by id, types, merges,
    special ids. @raises ExportError for another tokenizer kind."""
    import gguf
    tok = json.loads((model_dir / 'tokenizer.json').read_text())
    m = tok['model']
    if m.get('type') != 'BPE' or (tok.get('pre_tokenizer') or {}).get('type') != 'ByteLevel':
        raise ExportError('export_peers writes byte-level BPE tokenizers only')
    vocab = dict(m['vocab'])
    special = {a['id'] for a in tok.get('added_tokens', []) if a.get('special')}
    for a in tok.get('added_tokens', []):
        vocab[a['content']] = a['id']
    n = cfg['vocab_size']
    tokens = [f'[PAD{i}]' for i in range(n)]
    types = [gguf.TokenType.UNUSED] * n
    for s, i in vocab.items():
        if i < n:
            tokens[i] = s
            types[i] = gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
    merges = [' '.join(x) if isinstance(x, list) else x for x in m.get('merges', [])]
    w.add_tokenizer_model('gpt2')
    w.add_tokenizer_pre('gpt-2')
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg['bos_token_id'])
    w.add_eos_token_id(cfg['eos_token_id'])
    if cfg.get('pad_token_id') is not None:
        w.add_pad_token_id(cfg['pad_token_id'])
    w.add_add_bos_token(False)


def read_gguf(path: Path, cfg: dict) -> dict[str, np.ndarray]:
    """GGUF read back (GGUFReader), dequantized to f32 and un-permuted, as HF-named weights."""
    import gguf
    r = gguf.GGUFReader(str(path))
    inv = {}
    for k in hf_names(cfg):
        inv[gguf_name(k)] = k
    out = {}
    for t in r.tensors:
        hf = inv[t.name]
        shape = tuple(int(x) for x in reversed(t.shape))
        v = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        if hf.endswith('q_proj.weight'):
            v = unpermute(v, cfg['num_attention_heads'])
        elif hf.endswith('k_proj.weight'):
            v = unpermute(v, cfg['num_key_value_heads'])
        out[hf] = v
    out.setdefault('lm_head.weight', out['model.embed_tokens.weight'])
    return out


def hf_names(cfg: dict) -> list[str]:
    names = ['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight']
    for i in range(cfg['num_hidden_layers']):
        names += [f'model.layers.{i}.{k}' for k in GGUF_NAMES if '.' in k and not k.startswith(('model.', 'lm_head'))]
    return names


def numpy_forward(w: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    """Logits [T, V] of a Llama forward in float64 numpy on HF-layout weights (no cache)."""
    H, Hkv, D, eps = cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim'], cfg['rms_norm_eps']
    g = {k: v.astype(np.float64) for k, v in w.items()}
    T = len(ids)
    x = g['model.embed_tokens.weight'][ids]
    inv = 1.0 / (cfg['rope_theta'] ** (np.arange(0, D, 2, dtype=np.float64) / D))
    ang = np.arange(T)[:, None] * inv[None]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rms(v, s):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * s

    def rope(v):  # [heads, T, D]
        rot = np.concatenate([-v[..., D // 2:], v[..., : D // 2]], -1)
        return v * cos + rot * sin

    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        h = rms(x, g[p + 'input_layernorm.weight'])
        q = rope((h @ g[p + 'self_attn.q_proj.weight'].T).reshape(T, H, D).transpose(1, 0, 2))
        k = rope((h @ g[p + 'self_attn.k_proj.weight'].T).reshape(T, Hkv, D).transpose(1, 0, 2))
        v = (h @ g[p + 'self_attn.v_proj.weight'].T).reshape(T, Hkv, D).transpose(1, 0, 2)
        k, v = np.repeat(k, H // Hkv, 0), np.repeat(v, H // Hkv, 0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(D) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        x = x + (s @ v).transpose(1, 0, 2).reshape(T, H * D) @ g[p + 'self_attn.o_proj.weight'].T
        h = rms(x, g[p + 'post_attention_layernorm.weight'])
        a = h @ g[p + 'mlp.gate_proj.weight'].T
        x = x + ((a / (1 + np.exp(-a))) * (h @ g[p + 'mlp.up_proj.weight'].T)) @ g[p + 'mlp.down_proj.weight'].T
    return rms(x, g['model.norm.weight']) @ g['lm_head.weight'].T


def check_gguf(path: Path, model, cfg: dict, ids: list[int], ftype: str) -> dict:
    """Weights read back vs PyTorch (max |diff|) and the numpy forward's logits vs PyTorch's."""
    import torch
    back = read_gguf(path, cfg)
    ref = hf_weights(model)
    wdiff = max(float(np.abs(back[k] - ref[k]).max()) for k in hf_names(cfg))
    if ftype == 'f32' and wdiff != 0.0:
        raise ExportError(f'{path}: F32 weights differ by {wdiff}')
    with torch.no_grad():
        lref = model(torch.tensor([ids])).logits[0].double().numpy()
    return {'weights_max_abs': wdiff, 'logits_max_abs': float(np.abs(numpy_forward(back, cfg, ids) - lref).max())}


def check_ids(model_dir: Path) -> list[int]:
    """A short code prompt's token ids (the model's tokenizer.json)."""
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(model_dir / 'tokenizer.json')).encode('def add(a, b):\n    return a + b\n').ids[:12]


def export_all(model_dir: Path, out: Path, check: bool = True, onnx: bool = True, gguf_types=('f32', 'f16', 'q8_0')) -> dict:
    """Exports every format; with check, compares each with PyTorch and raises ExportError past TOL.
    Returns {name: {'path', 'logits_max_abs', ...}} (also written to out/exports.json)."""
    cfg = load_config(model_dir)
    model = load_hf(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    for f in SIDE_FILES:
        if (model_dir / f).exists():
            shutil.copy(model_dir / f, out / f)
    ids = check_ids(model_dir)
    report: dict = {'model': str(model_dir), 'check_ids': ids}
    if onnx:
        for name, p in export_onnx(model, cfg, out).items():
            report[name] = {'path': str(p.relative_to(out))}
            if check:
                report[name]['logits_max_abs'] = check_onnx(p, model, cfg, ids, fp16=name.endswith('f16'))
    for t in gguf_types:
        p = export_gguf(model, cfg, model_dir, out, t)
        report[f'gguf-{t}'] = {'path': p.name}
        if check:
            report[f'gguf-{t}'].update(check_gguf(p, model, cfg, ids, t))
    if check:
        bad = [f'{k}: {v["logits_max_abs"]:.4g} > {TOL[k]}' for k, v in report.items() if k in TOL and v['logits_max_abs'] > TOL[k]]
        if bad:
            raise ExportError('exports differ from PyTorch: ' + '; '.join(bad))
    (out / 'exports.json').write_text(json.dumps(report, indent=1) + '\n')
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', type=Path, default=DEFAULT_MODEL)
    ap.add_argument('--out', type=Path, default=None)
    ap.add_argument('--no-check', action='store_true')
    a = ap.parse_args(argv)
    out = a.out or (ROOT / 'bench' / 'peers' / 'models' / a.model.name)
    try:
        r = export_all(a.model, out, check=not a.no_check)
    except ExportError as e:
        print(f'export_peers: {e}', file=sys.stderr)
        return 1
    print(json.dumps(r, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
