"""The load-time quantization reference (train/quantize_ref.py), group format v2: hand-worked layouts
(codes c + 2^(b-1), 8-bit zero points four per word), ties, all-zero, tiny and partial groups, the f16
scale rule, round-trip error, an independent scalar re-implementation, and the CLI's JSON."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from quantize_ref import (F16_MIN_NORMAL, case_json, dequantize, n_groups, pack, padded_k, qmax, quantize,
                          quantize_codes, scale_storage, unpack, zero_point)

F32 = np.float32


def scalar_scale(amax, m: int):
    """The scale rule with numpy scalars: f16(f32(amax / M)) when that is a normal f16, else f32(amax / M)."""
    s32 = F32(F32(amax) / F32(m))
    s16 = F32(np.float16(s32))             # numpy's f32 -> f16 conversion rounds to nearest even
    return s16 if s16 >= F32(2.0 ** -14) else s32


def scalar_reference(w: np.ndarray, bits: int, group: int):
    """The rule element by element with numpy f32/f16 scalars (no torch): (q [N][Kp] ints, scales [N][groups])."""
    m = qmax(bits)
    z = 1 << (bits - 1)
    n, k = w.shape
    kp = padded_k(k)
    q, scales = [], []
    for row in w:
        padded = [F32(x) for x in row] + [F32(0.0)] * (kp - k)
        qrow, srow = [], []
        for g0 in range(0, kp, group):
            vals = padded[g0:g0 + group]
            s = scalar_scale(max(abs(v) for v in vals), m)
            srow.append(s)
            for v in vals:
                if s > 0:
                    r = float(F32(v / s))
                    fl = np.floor(r)
                    t = fl + 1 if r - fl > 0.5 or (r - fl == 0.5 and fl % 2 != 0) else fl
                    qrow.append(min(max(int(t), -m), m) + z)
                else:
                    qrow.append(z)
        q.append(qrow)
        scales.append(srow)
    return q, scales


def test_hand_worked_q4_layout():
    # K = 10 -> Kp = 16, one (partial) group of 16; amax = 7 -> scale = 1 (an f16 number); w / scale = w.
    w = torch.tensor([[7.0, -7.0, 2.5, -2.5, 3.5, 0.0, 1.0, -1.0, 0.4, 6.6]])
    out = quantize(w, 4, 32)
    # c = round_half_even(w) = [7, -7, 2, -2, 4, 0, 1, -1 | 0, 7]; q = c + 8 = [15, 1, 10, 6, 12, 8, 9, 7 | 8, 15],
    # then six padding elements q = 8. Word 0 (element 0 in bits 0..3), nibbles high to low: 7 9 8 C 6 A 1 F;
    # word 1: elements 8..15 = 8 F 8 8 8 8 8 8 -> high to low 8 8 8 8 8 8 F 8.
    assert out["qweight"].dtype == np.uint32
    assert out["qweight"].tolist() == [[0x798C6A1F, 0x888888F8]]
    assert out["scales"].dtype == np.float32 and out["scales"].tolist() == [[1.0]]
    # one group: zero 8 in byte 0 of the one zeros word
    assert out["zeros"].tolist() == [[0x00000008]]
    deq = dequantize(**out)
    assert deq.dtype == torch.float32
    assert deq.tolist() == [[7.0, -7.0, 2.0, -2.0, 4.0, 0.0, 1.0, -1.0, 0.0, 7.0]]
    assert scale_storage(torch.from_numpy(out["scales"])) == "f16"


def test_hand_worked_q8_layout_and_all_zero_row():
    # K = 5 -> Kp = 8, one group; row 0: amax = 63.5 -> scale = 0.5 (f16); row 1 all zero -> scale 0, q = 128.
    w = torch.tensor([[63.5, -63.5, 1.25, -0.25, 0.75], [0.0, 0.0, 0.0, 0.0, 0.0]])
    out = quantize(w, 8, 32)
    # row 0: w / scale = [127, -127, 2.5, -0.5, 1.5] -> c = [127, -127, 2, 0, 2] -> q = c + 128 =
    # [255, 1, 130, 128, 130] + padding 128, 128, 128. Word 0 bytes high to low: 80 82 01 FF; word 1: 80 80 80 82.
    assert out["qweight"].tolist() == [[0x808201FF, 0x80808082], [0x80808080, 0x80808080]]
    assert out["scales"].tolist() == [[0.5], [0.0]]
    assert out["zeros"].tolist() == [[0x00000080], [0x00000080]]
    assert dequantize(**out).tolist() == [[63.5, -63.5, 1.0, 0.0, 1.0], [0.0] * 5]


def test_zeros_words_of_many_groups_and_partial_last_group():
    # K = 197 -> Kp = 200, G = 32 -> 7 groups, the last one of 8 elements (192..199; 197..199 padding).
    assert (padded_k(197), n_groups(197, 32)) == (200, 7)
    w = torch.zeros(1, 197)
    w[0, 192:197] = torch.tensor([3.5, -7.0, 0.5, 1.0, 2.5])   # the partial group: amax 7
    o4 = quantize(w, 4, 32)
    # 7 zero points of 8 bits, four per word: bytes 08 08 08 08 | 08 08 08 (byte 3 of word 1 unused = 0)
    assert o4["zeros"].tolist() == [[0x08080808, 0x00080808]]
    assert o4["scales"].tolist() == [[0.0] * 6 + [1.0]]
    assert o4["qweight"].shape == (1, 25)
    # last word = elements 192..199: c = [4, -7, 0, 1, 2, 0, 0, 0] (3.5 and 2.5 ties to even) ->
    # q = [12, 1, 8, 9, 10, 8, 8, 8], nibbles high to low 8 8 8 A 9 8 1 C
    assert o4["qweight"][0, 24] == 0x888A981C
    assert (o4["qweight"][0, :24] == 0x88888888).all()          # all-zero groups: q = 8
    o8 = quantize(w, 8, 32)
    assert o8["zeros"].tolist() == [[0x80808080, 0x00808080]]
    assert o8["qweight"].shape == (1, 50)
    # 8-bit: amax / 127 = f32(7 / 127) = 0.05511811 is not an f16 number; the scale is its f16 rounding,
    # 1806 * 2^-15 = 0.05511474609375 (0.0551181 / 2^-15 = 1806.14), a normal f16.
    s32 = F32(F32(7.0) / F32(127))
    assert F32(np.float16(s32)) != s32
    s = F32(1806 * 2.0 ** -15)
    assert o8["scales"][0, 6] == s
    # w / s in f32: 3.5 -> 63.5039 -> 64; -7 -> -127.0078 -> -127; 0.5 -> 9.072 -> 9; 1 -> 18.144 -> 18;
    # 2.5 -> 45.36 -> 45; q = c + 128
    assert [float(F32(F32(x) / s)) for x in (3.5, -7.0)] == [float(F32(63.503876)), float(F32(-127.00775))]
    assert unpack(o8["qweight"], 8, 200)[0, 192:200].tolist() == [192, 1, 137, 146, 173, 128, 128, 128]
    for o in (o4, o8):
        deq = dequantize(**o)
        assert deq.shape == (1, 197)
        assert deq[0, :192].abs().max().item() == 0.0


def test_8bit_zeros_layout_of_many_groups_any_zero_point():
    # K = 300 -> Kp = 304, G = 32 -> 10 groups -> ceil(10 / 4) = 3 zeros words per row; group g at word g // 4,
    # bits (g % 4) * 8. The symmetric rule writes 2^(b-1) everywhere:
    w = torch.randn(2, 300, generator=torch.Generator().manual_seed(5))
    for bits, zz in ((4, 0x08), (8, 0x80)):
        o = quantize(w, bits, 32)
        word = zz | zz << 8 | zz << 16 | zz << 24
        assert o["zeros"].tolist() == [[word, word, zz | zz << 8]] * 2
    # dequantize honours any zero point in its byte: zero 3 + 17 g for group g (156 for g = 9: more than 4 bits);
    # hex 03 14 25 36 | 47 58 69 7A | 8B 9C, so the words (high byte first) are 36251403, 7A695847, 00009C8B.
    z = [3 + 17 * g for g in range(10)]                    # 3 20 37 54 | 71 88 105 122 | 139 156
    words = [z[0] | z[1] << 8 | z[2] << 16 | z[3] << 24, z[4] | z[5] << 8 | z[6] << 16 | z[7] << 24, z[8] | z[9] << 8]
    assert words == [0x36251403, 0x7A695847, 0x00009C8B]
    q = torch.full((1, 304), 5, dtype=torch.int64)        # every code 5
    scales = np.full((1, 10), 0.25, dtype=F32)
    for bits in (4, 8):
        deq = dequantize(pack(q, bits), scales, np.array([words], dtype=np.uint32), bits, 32, 300)
        assert deq[0].tolist() == [(5 - z[k // 32]) * 0.25 for k in range(300)]


def test_group_64_and_128_partial():
    w = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))
    for g, groups, last in ((64, 2, 40), (128, 1, 104)):
        o = quantize(w, 4, g)
        assert o["scales"].shape == (3, groups) and padded_k(100) - (groups - 1) * g == last
        amax = w[:, (groups - 1) * g:].abs().amax(dim=1).numpy()
        # randn amax ~ 1..3: amax / 7 is a normal f16 after rounding, so the scale is f16(f32(amax / 7))
        assert np.array_equal(o["scales"][:, -1], (amax / F32(7)).astype(np.float16).astype(F32))
        assert o["zeros"].shape == (3, 1)


def test_half_to_even_ties():
    # scale = 2^-6 exactly (amax = 7 * 2^-6; an f16 number); w / scale = +-0.5, 1.5, 2.5, 3.5, 6.5 exactly.
    s = 2.0 ** -6
    ratios = [7.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 6.5, -6.5]
    w = torch.tensor([[r * s for r in ratios]])
    q, scales = quantize_codes(w, 4, 32)
    assert scales.tolist() == [[s]]
    # c = [7, 0, 0, 2, -2, 2, -2, 4, -4, 6, -6]; q = c + 8
    assert q[0, :len(ratios)].tolist() == [15, 8, 8, 10, 6, 10, 6, 12, 4, 14, 2]


@pytest.mark.parametrize("bits", [4, 8])
def test_f16_scale_rounding_decides_the_codes(bits):
    # amax = M (1 + 2^-12), exact in f32 (M * 4097 < 2^24); amax / M = 1 + 2^-12 is not an f16 number (f16 has
    # 10 fraction bits): its f16 rounding is 1.0 (2^-12 is below half an ulp, 2^-11), so the scale is 1.0 and
    # w / scale = w. With the unrounded f32 scale the ties below would fall the other way.
    m = qmax(bits)
    amax = F32(m * (1 + 2.0 ** -12))
    assert float(amax) == m * (1 + 2.0 ** -12)
    s32 = F32(amax / F32(m))
    assert float(s32) == 1 + 2.0 ** -12 and F32(np.float16(s32)) == F32(1.0)
    w = torch.tensor([[float(amax), 3.5, -1.5, 0.5, 2.5, -float(amax), 6.5, 0.0]])
    q, scales = quantize_codes(w, bits, 32)
    assert scales.tolist() == [[1.0]]
    z = zero_point(bits)
    # scale 1: c = [M (M + 0.0017 rounds to M), 4, -2, 0, 2, -M, 6, 0] (3.5, -1.5, 2.5, 6.5 ties to even)
    assert (q[0] - z).tolist() == [m, 4, -2, 0, 2, -m, 6, 0]
    # the f32 scale would give 3.5 / 1.000244 = 3.4991 -> 3 and -1.5 -> -1.4996 -> -1: not what is stored
    assert [round(float(F32(F32(x) / s32))) for x in (3.5, -1.5)] == [3, -1]
    if bits == 4:
        # q = [15, 12, 6, 8, 10, 1, 14, 8], nibbles high to low 8 E 1 A 8 6 C F
        assert quantize(w, 4, 32)["qweight"].tolist() == [[0x8E1A86CF]]
    assert dequantize(**quantize(w, bits, 32)).tolist() == [[m, 4.0, -2.0, 0.0, 2.0, -m, 6.0, 0.0]]


def test_tiny_group_keeps_an_f32_scale():
    # Row 0: s32 = 2^-20 (1 + 2^-10), amax = 7 s32 = 7175 * 2^-30 (exact). f16(s32) = 2^-20 is subnormal (f16
    # subnormal spacing 2^-24 drops the 2^-30 bit), below 2^-14: the scale stays s32 exactly, so the matrix is
    # stored with f32 scales. w = s32 * [7, -7, 3, -2, 0.5, 1, 2.5, 0] (each product exact); w / s32 is exact:
    # c = [7, -7, 3, -2, 0, 1, 2, 0] (0.5 and 2.5 ties to even), q = c + 8 = [15, 1, 11, 6, 8, 9, 10, 8],
    # nibbles high to low 8 A 9 8 6 B 1 F. Row 1: a normal group (amax 7 -> scale 1).
    s32 = 2.0 ** -20 * (1 + 2.0 ** -10)
    assert float(np.float16(F32(s32))) == 2.0 ** -20
    ratios = [7.0, -7.0, 3.0, -2.0, 0.5, 1.0, 2.5, 0.0]
    w = torch.tensor([[r * s32 for r in ratios], [7.0, 1, 2, 3, 4, 5, 6, -7]])
    assert w[0].tolist() == [r * s32 for r in ratios]
    out = quantize(w, 4, 32)
    assert out["scales"].tolist() == [[s32], [1.0]]
    assert out["qweight"][0].tolist() == [0x8A986B1F]
    assert scale_storage(torch.from_numpy(out["scales"])) == "f32"
    assert scale_storage(torch.from_numpy(out["scales"][1:])) == "f16"
    assert dequantize(**out)[0].tolist() == [float(F32(c * s32)) for c in (7, -7, 3, -2, 0, 1, 2, 0)]
    # the boundary: amax / 7 = 2^-14 is the smallest normal f16 -> an f16 scale; amax / 7 just below 2^-14
    # rounds up to 2^-14 in f16, normal again -> the f16 scale 2^-14 (the codes use it)
    for a in (7 * 2.0 ** -14, float(F32(7 * 2.0 ** -14 * (1 - 2.0 ** -20)))):
        q, sc = quantize_codes(torch.tensor([[a, -a / 2]]), 4, 32)
        assert sc.tolist() == [[F16_MIN_NORMAL]]
    # and half that: 2^-15 is subnormal in f16 -> f32 scale 2^-15
    _, sc = quantize_codes(torch.tensor([[7 * 2.0 ** -15]]), 4, 32)
    assert sc.tolist() == [[2.0 ** -15]] and scale_storage(sc) == "f32"


@pytest.mark.parametrize("bits", [4, 8])
def test_scale_past_the_f16_range_keeps_an_f32_scale(bits):
    # amax = 70000 M -> s32 = 70000 (exact); f16 would round it to inf (past 65504), not a normal f16 number:
    # the scale stays 70000 in f32. w / 70000 = [M, -M/2, 0.5, 1.5] -> c = [M, round(-M/2), 0, 2]
    # (-3.5 -> -4 for 4 bits; -63.5 -> -64 for 8 bits; 0.5 -> 0; 1.5 -> 2).
    m = qmax(bits)
    w = torch.tensor([[70000.0 * m, -35000.0 * m, 35000.0, 105000.0, 0, 0, 0, 0]])
    o = quantize(w, bits, 32)
    assert o["scales"].tolist() == [[70000.0]]
    assert scale_storage(torch.from_numpy(o["scales"])) == "f32"
    c = [m, -4 if bits == 4 else -64, 0, 2, 0, 0, 0, 0]
    assert (unpack(o["qweight"], bits, 8)[0] - zero_point(bits)).tolist() == c
    if bits == 4:
        # q = [15, 4, 8, 10, 8, 8, 8, 8], nibbles high to low 8 8 8 8 A 8 4 F
        assert o["qweight"].tolist() == [[0x8888A84F]]
    assert dequantize(**o)[0].tolist() == [x * 70000.0 for x in c]
    # the largest f16 number, 65504, is still an f16 scale
    _, sc = quantize_codes(torch.tensor([[65504.0 * m]]), bits, 32)
    assert sc.tolist() == [[65504.0]] and scale_storage(sc) == "f16"


def test_scale_storage():
    assert scale_storage(torch.tensor([[0.0, 1.0, 2.0 ** -14, 65504.0, -0.5]])) == "f16"
    assert scale_storage(torch.tensor([[1.0, 1 + 2.0 ** -12]])) == "f32"          # not an f16 number
    assert scale_storage(torch.tensor([[1.0, 2.0 ** -15]])) == "f32"              # f16 subnormal
    assert scale_storage(torch.tensor([[1.0, 2.0 ** -14 * (1 - 2.0 ** -10)]])) == "f32"
    assert scale_storage(torch.tensor([[70000.0]])) == "f32"                      # above the f16 range
    assert scale_storage(torch.tensor([[float("inf")]])) == "f32"                 # an f16 number, not a normal one


def test_all_zero_group_and_underflowing_scale():
    w = torch.zeros(2, 64)
    w[0, 32:] = 0.25                                 # group 0 of row 0 all zero, group 1 not
    w[1, 0] = float(np.float32(1e-45))               # smallest subnormal: amax / 7 rounds to 0 -> scale 0
    w[1, 1] = -float(np.float32(1e-45))
    q, scales = quantize_codes(w, 4, 32)
    # 0.25 / 7 = 0.0357142.. -> f16 1170 * 2^-15 (0.0357142 / 2^-15 = 1170.29)
    assert scales[0].tolist() == [0.0, 1170 * 2.0 ** -15]
    assert scales[1].tolist() == [0.0, 0.0]
    assert (q[0, :32] == 8).all() and (q[1] == 8).all()
    # 0.25 / (1170 * 2^-15) = 7.0017 -> 7 -> q = 15
    assert (q[0, 32:] == 15).all()
    deq = dequantize(**quantize(w, 4, 32))
    assert (deq[1] == 0).all() and (deq[0, :32] == 0).all()
    assert scale_storage(scales) == "f16"             # 0 is an f16 number


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("group", [32, 64, 128])
def test_matches_scalar_reference_bit_for_bit(bits, group):
    gen = torch.Generator().manual_seed(bits * 1000 + group)
    w = torch.randn(6, 203, generator=gen) * 0.05
    w[2, 7] = 0.9
    w[3, :group] = 0.0
    w[4, :] = torch.randint(-20, 21, (203,), generator=gen).float() * 0.125    # many exact ties
    w[5, :group] *= 1e-4                                                       # tiny group: f32 scale
    q, scales = quantize_codes(w, bits, group)
    q_ref, s_ref = scalar_reference(w.numpy(), bits, group)
    assert q.tolist() == q_ref
    assert np.array_equal(scales.numpy().view(np.uint32), np.array(s_ref, dtype=F32).view(np.uint32))
    assert np.array_equal(unpack(pack(q, bits), bits, q.shape[1]).numpy(), q.numpy())
    # both kinds of scale occur: f16-rounded ones (not equal to f32(amax / M)) and the tiny group's f32 one
    amax = torch.nn.functional.pad(w, (0, n_groups(203, group) * group - 203)).reshape(6, -1, group).abs().amax(-1)
    s32 = amax / torch.full_like(amax, float(qmax(bits)))
    assert float(scales[5, 0]) < F16_MIN_NORMAL and scales[5, 0].item() == s32[5, 0].item()
    assert (scales[:5] != s32[:5]).any()
    assert scale_storage(scales) == "f32" and scale_storage(scales[:5]) == "f16"


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("group", [32, 128])
def test_round_trip_error_at_most_half_a_scale(bits, group):
    gen = torch.Generator().manual_seed(7)
    w = torch.randn(16, 300, generator=gen) * 0.05
    w[3, 5] = -1.5
    o = quantize(w, bits, group)
    deq = dequantize(**o)
    scale = torch.from_numpy(o["scales"]).repeat_interleave(group, dim=1)[:, :300]
    amax = scale * qmax(bits)
    err = (deq - w).abs()
    # <= scale / 2, up to the f32 rounding of w / scale and of (q - Z) * scale (a few ulps of amax), and the
    # clamp at M when the f16-rounded scale is below amax / M (by at most 2^-11 relative)
    assert (err <= scale / 2 + amax * 2.0 ** -10).all()
    assert err.max().item() > 0
    # dequantized values are exactly integer multiples of the scale, within [-M, M]
    k = torch.round(deq / torch.where(scale > 0, scale, 1))
    assert (k.abs() <= qmax(bits)).all() and torch.equal(k * scale, deq)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="bits"):
        quantize(torch.zeros(1, 8), 3, 32)
    with pytest.raises(ValueError, match="group"):
        quantize(torch.zeros(1, 8), 4, 16)
    with pytest.raises(ValueError, match="float32"):
        quantize(torch.zeros(1, 8, dtype=torch.float16), 4, 32)
    with pytest.raises(ValueError, match="non-finite"):
        quantize(torch.tensor([[1.0, float("nan"), 0, 0, 0, 0, 0, 0]]), 4, 32)
    o = quantize(torch.zeros(2, 8), 4, 32)
    with pytest.raises(ValueError, match="scales has shape"):
        dequantize(o["qweight"], o["scales"][:, :0], o["zeros"], 4, 32, 8)
    with pytest.raises(ValueError, match="zeros has shape"):
        dequantize(o["qweight"], o["scales"], np.zeros((2, 2), dtype=np.uint32), 4, 32, 8)
    with pytest.raises(ValueError, match="out of the 4-bit range"):
        pack(torch.tensor([[16]]), 4)


@pytest.mark.parametrize("bits,group,n", [(4, 32, 4), (8, 64, 4), (4, 128, 2)])
def test_cli_json(tmp_path, bits, group, n):
    out = tmp_path / "case.json"
    subprocess.run([sys.executable, str(ROOT / "train/quantize_ref.py"), "--seed", "3", "--n", str(n), "--k", "197",
                    "--bits", str(bits), "--group", str(group), "--out", str(out)], check=True)
    obj = json.loads(out.read_text())
    assert obj == case_json(3, n, 197, bits, group)
    k, kp, ng = obj["k"], obj["kp"], obj["groups"]
    assert obj["n"] == n
    assert (obj["schema"], kp, ng, obj["m"]) == ("msn-quantize-ref/1", 200, n_groups(197, group), qmax(bits))
    assert len(obj["w"]) == n * k and len(obj["dequant"]) == n * k and len(obj["scales"]) == n * ng
    assert len(obj["qweight"]) == n * obj["qweight_words_per_row"] == n * kp * bits // 32
    assert len(obj["zeros"]) == n * obj["zeros_words_per_row"] == n * -(-ng // 4)
    zz = zero_point(bits)
    for row in range(n):
        got = unpack(np.array([obj["zeros"][row * obj["zeros_words_per_row"]:(row + 1) * obj["zeros_words_per_row"]]],
                            dtype=np.uint32), 8, 4 * obj["zeros_words_per_row"])[0].tolist()
        assert got == [zz] * ng + [0] * (4 * obj["zeros_words_per_row"] - ng)
    w = torch.tensor(obj["w"], dtype=torch.float32).reshape(n, k)
    assert w.reshape(-1).tolist() == obj["w"]                      # the JSON floats are exact f32 values
    re = quantize(w, bits, group)
    assert re["qweight"].reshape(-1).tolist() == obj["qweight"]
    assert re["scales"].reshape(-1).tolist() == obj["scales"]
    assert re["zeros"].reshape(-1).tolist() == obj["zeros"]
    assert dequantize(**re).reshape(-1).tolist() == obj["dequant"]
    c = obj["cases"]
    q = unpack(re["qweight"], bits, kp)
    assert len(c["ties"]) == 6
    for t in c["ties"]:
        assert obj["w"][t["row"] * k + t["k"]] / obj["scales"][t["row"] * ng] == t["ratio"]
        assert q[t["row"], t["k"]].item() == t["q"]
    assert [t["q"] - zz for t in c["ties"]] == [-2, 2, 4, 0, 0, -2]
    assert obj["scales"][c["all_zero_group"]["row"] * ng + c["all_zero_group"]["group"]] == 0.0
    assert len(c["outliers"]) == 4 and all(abs(obj["w"][o["row"] * k + o["k"]]) >= 0.5 for o in c["outliers"])
    assert c["partial_last_group"] and c["last_group_size"] == 200 - (ng - 1) * group
    # every scale but the tiny group's is an f16 number (normal or 0)
    s = np.array(obj["scales"], dtype=F32).reshape(n, ng)
    normal = (s == 0) | ((s >= F16_MIN_NORMAL) & (s.astype(np.float16).astype(F32) == s))
    if n > 2:
        tg = c["tiny_group"]
        assert tg == {"row": 2, "group": 0}
        ts = s[tg["row"], tg["group"]]
        amax = np.abs(np.array(obj["w"], dtype=F32).reshape(n, k)[2, :min(group, k)]).max()
        assert 0 < ts < F16_MIN_NORMAL and ts == F32(amax / F32(qmax(bits)))     # the f32 scale
        assert not normal[2, 0] and normal.sum() == n * ng - 1
        assert obj["scale_storage"] == "f32"
        # its codes are computed with that f32 scale
        ratio = (np.array(obj["w"], dtype=F32).reshape(n, k)[2, :min(group, k)] / ts).astype(F32)
        assert q[2, :min(group, k)].tolist() == [int(np.clip(np.round(r), -qmax(bits), qmax(bits))) + zz for r in ratio]
    else:
        assert c["tiny_group"] is None and normal.all() and obj["scale_storage"] == "f16"


def test_cli_refuses_too_small_case(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "train/quantize_ref.py"), "--n", "1", "--k", "8",
                        "--out", str(tmp_path / "x.json")], capture_output=True, text=True)
    assert r.returncode == 2 and "--n must be >= 2" in r.stderr
