"""The pre-quantized fixture writer (train/prequant_ref.py): its packers against hand-worked words, the
unpackers as their inverses, and a written folder read back (safetensors) to the same dequantized values."""
import json

import numpy as np
import torch
from safetensors.torch import load_file

from prequant_ref import (VARIANTS, ct_dequantize, gptq_dequantize, gptq_pack_cols, gptq_pack_rows, gptq_unpack,
                          pack_to_int32, unpack_from_int32, write_variant)


def test_pack_to_int32_hand_worked():
    # 4-bit codes -8..7 of one row: +8 -> 0..15, element i at bits 4*i; 9 values -> 2 words, the second padded.
    codes = torch.tensor([[-8, -7, 0, 7, 1, 2, 3, 4, 5]], dtype=torch.int8)
    words = pack_to_int32(codes, 4).numpy().view(np.uint32)
    assert words.shape == (1, 2)
    assert words[0, 0] == 0xCBA9F810 and words[0, 1] == 0xD
    assert torch.equal(unpack_from_int32(torch.from_numpy(words.view(np.int32)), 4, 9), codes.to(torch.int64))
    # packed_dim 0 (zero points): along the rows.
    z = torch.tensor([[1], [-1], [3], [0], [0], [0], [0], [0], [2]], dtype=torch.int8)
    zw = pack_to_int32(z, 4, packed_dim=0)
    assert zw.shape == (2, 1) and zw.numpy().view(np.uint32)[0, 0] == 0x88888B79 and zw.numpy().view(np.uint32)[1, 0] == 0xA
    assert torch.equal(unpack_from_int32(zw, 4, 9, packed_dim=0), z.to(torch.int64))


def test_gptq_packers_hand_worked():
    k, n = 32, 8  # AutoGPTQ's packer needs K and N multiples of 32 / 8 (K // 32 * bits rows)
    codes = (np.arange(k * n, dtype=np.uint32).reshape(k, n) % 16)
    qw = gptq_pack_rows(codes, 4)
    assert qw.shape == (4, 8)
    assert qw[0, 1] == sum(int(codes[i, 1]) << (4 * i) for i in range(8))
    assert torch.equal(gptq_unpack(qw.view(np.int32), 4, 0), torch.from_numpy(codes.astype(np.int64)))
    zeros = np.array([[7, 7, 7, 7, 7, 7, 7, 15] * 4], dtype=np.uint32)  # N = 32: N // 32 * bits columns
    qz = gptq_pack_cols(zeros, 4)
    assert qz.shape == (1, 4) and all(qz[0] == 0xF7777777)
    assert torch.equal(gptq_unpack(qz.view(np.int32), 4, 1), torch.from_numpy(zeros.astype(np.int64)))


def test_written_folders_round_trip(tmp_path):
    for i, name in enumerate(VARIANTS):
        write_variant(tmp_path, name, i)  # asserts the GPTQ pack/unpack round trip itself
        d = tmp_path / name
        cfg = json.loads((d / "config.json").read_text())
        fmt, bits, group, sym, desc, ckpt = VARIANTS[name]
        qc = cfg["quantization_config"]
        tensors = load_file(str(d / "model.safetensors"))
        ref = load_file(str(d / "reference.safetensors"))
        # Linear weights per layer: q, k, v, o, gate, up, down; Phi-3 fuses qkv_proj and gate_up_proj (4).
        per_layer = 4 if cfg["architectures"] == ["Phi3ForCausalLM"] else 7
        assert len(ref) == per_layer * cfg["num_hidden_layers"]
        for key, want in ref.items():
            p = key[: -len(".weight")]
            if fmt == "ct":
                assert qc["format"] == "pack-quantized"
                assert tensors[f"{p}.weight_packed"].dtype == torch.int32
                assert tensors[f"{p}.weight_scale"].dtype == torch.bfloat16
                assert (f"{p}.weight_zero_point" in tensors) == (not sym)
                n, k = tensors[f"{p}.weight_shape"].tolist()
                got = ct_dequantize(tensors, p, bits, group, k)
            else:
                assert qc["checkpoint_format"] == ckpt and qc["desc_act"] == desc
                g_idx = tensors[f"{p}.g_idx"]
                k = g_idx.numel()
                if desc and group and k > group:
                    assert not torch.equal(g_idx, (torch.arange(k) // group).to(torch.int32))
                got = gptq_dequantize(tensors, p, bits, ckpt)
            assert torch.equal(got, want), key
            assert want.dtype == torch.float32 and want.shape[1] == k
