"""The load-time quantization reference (train/quantize_ref.py): hand-worked layouts, ties, all-zero and
partial groups, round-trip error, an independent scalar re-implementation, and the CLI's JSON."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT
from quantize_ref import (case_json, dequantize, n_groups, pack, padded_k, qmax, quantize, quantize_codes,
                          unpack)

F32 = np.float32


def scalar_reference(w: np.ndarray, bits: int, group: int):
    """The rule element by element with numpy f32 scalars (no torch): (q [N][Kp] ints, scales [N][groups])."""
    m = qmax(bits)
    n, k = w.shape
    kp = padded_k(k)
    q, scales = [], []
    for row in w:
        padded = [F32(x) for x in row] + [F32(0.0)] * (kp - k)
        qrow, srow = [], []
        for g0 in range(0, kp, group):
            vals = padded[g0:g0 + group]
            amax = max(abs(v) for v in vals)
            s = F32(amax / F32(m))
            srow.append(s)
            for v in vals:
                if s > 0:
                    r = float(F32(v / s))
                    fl = np.floor(r)
                    t = fl + 1 if r - fl > 0.5 or (r - fl == 0.5 and fl % 2 != 0) else fl
                    qrow.append(min(max(int(t) + m, 0), 2 * m))
                else:
                    qrow.append(m)
        q.append(qrow)
        scales.append(srow)
    return q, scales


def test_hand_worked_q4_layout():
    # K = 10 -> Kp = 16, one (partial) group of 16; amax = 7 -> scale = 1; w / scale = w.
    w = torch.tensor([[7.0, -7.0, 2.5, -2.5, 3.5, 0.0, 1.0, -1.0, 0.4, 6.6]])
    out = quantize(w, 4, 32)
    # q = round_half_even(w) + 7: [14, 0, 9, 5, 11, 7, 8, 6 | 7, 14] then six padding elements q = 7.
    # word 0 nibbles (element 0 in bits 0..3): E 0 9 5 B 7 8 6 -> 0x687B590E; word 1: 7 E 7 7 7 7 7 7.
    assert out["qweight"].dtype == np.uint32
    assert out["qweight"].tolist() == [[0x687B590E, 0x777777E7]]
    assert out["scales"].dtype == np.float32 and out["scales"].tolist() == [[1.0]]
    assert out["zeros"].tolist() == [[0x00000007]]
    deq = dequantize(**out)
    assert deq.dtype == torch.float32
    assert deq.tolist() == [[7.0, -7.0, 2.0, -2.0, 4.0, 0.0, 1.0, -1.0, 0.0, 7.0]]


def test_hand_worked_q8_layout_and_all_zero_row():
    # K = 5 -> Kp = 8, one group; row 0: amax = 63.5 -> scale = 0.5; row 1 all zero -> scale 0, q = 127.
    w = torch.tensor([[63.5, -63.5, 1.25, -0.25, 0.75], [0.0, 0.0, 0.0, 0.0, 0.0]])
    out = quantize(w, 8, 32)
    # row 0: w / scale = [127, -127, 2.5, -0.5, 1.5] -> q = [254, 0, 129, 127, 129] + padding 127, 127, 127
    assert out["qweight"].tolist() == [[0x7F8100FE, 0x7F7F7F81], [0x7F7F7F7F, 0x7F7F7F7F]]
    assert out["scales"].tolist() == [[0.5], [0.0]]
    assert out["zeros"].tolist() == [[0x0000007F], [0x0000007F]]
    assert dequantize(**out).tolist() == [[63.5, -63.5, 1.0, 0.0, 1.0], [0.0] * 5]


def test_zeros_words_of_many_groups_and_partial_last_group():
    # K = 197 -> Kp = 200, G = 32 -> 7 groups, the last one of 8 elements (192..199; 197..199 padding).
    assert (padded_k(197), n_groups(197, 32)) == (200, 7)
    w = torch.zeros(1, 197)
    w[0, 192:197] = torch.tensor([3.5, -7.0, 0.5, 1.0, 2.5])   # the partial group: amax 7 -> scale 1
    o4 = quantize(w, 4, 32)
    assert o4["zeros"].tolist() == [[0x07777777]]                # 7 nibbles, top nibble unused = 0
    assert o4["scales"].tolist() == [[0.0] * 6 + [1.0]]
    assert o4["qweight"].shape == (1, 25)
    # last word = elements 192..199: q = [11, 0, 7, 8, 9, 7, 7, 7]
    assert o4["qweight"][0, 24] == 0x7779870B
    assert (o4["qweight"][0, :24] == 0x77777777).all()
    o8 = quantize(w, 8, 32)
    assert o8["zeros"].tolist() == [[0x7F7F7F7F, 0x007F7F7F]]
    assert o8["qweight"].shape == (1, 50)
    # 8-bit, scale = f32(7 / 127): w / scale for 3.5 -> 63.5 (f32), a tie -> 64 (even): q = 191
    s = F32(F32(7.0) / F32(127))
    assert o8["scales"][0, 6] == s
    assert float(F32(F32(3.5) / s)) == 63.5
    assert unpack(o8["qweight"], 8, 200)[0, 192:200].tolist() == [191, 0, 136, 145, 172, 127, 127, 127]
    for o in (o4, o8):
        deq = dequantize(**o)
        assert deq.shape == (1, 197)
        assert deq[0, :192].abs().max().item() == 0.0


def test_group_64_and_128_partial():
    w = torch.randn(3, 100, generator=torch.Generator().manual_seed(1))
    for g, groups, last in ((64, 2, 40), (128, 1, 104)):
        o = quantize(w, 4, g)
        assert o["scales"].shape == (3, groups) and padded_k(100) - (groups - 1) * g == last
        assert np.array_equal(o["scales"][:, -1], w[:, (groups - 1) * g:].abs().amax(dim=1).numpy() / F32(7))


def test_half_to_even_ties():
    # scale = 2^-6 exactly (amax = 7 * 2^-6); w / scale = +-0.5, 1.5, 2.5, 3.5, 6.5 exactly.
    s = 2.0 ** -6
    ratios = [7.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 6.5, -6.5]
    w = torch.tensor([[r * s for r in ratios]])
    q, scales = quantize_codes(w, 4, 32)
    assert scales.tolist() == [[s]]
    assert q[0, :len(ratios)].tolist() == [14, 7, 7, 9, 5, 9, 5, 11, 3, 13, 1]


def test_all_zero_group_and_underflowing_scale():
    w = torch.zeros(2, 64)
    w[0, 32:] = 0.25                                 # group 0 of row 0 all zero, group 1 not
    w[1, 0] = float(np.float32(1e-45))               # smallest subnormal: amax / 7 rounds to 0 -> scale 0
    w[1, 1] = -float(np.float32(1e-45))
    q, scales = quantize_codes(w, 4, 32)
    assert scales[0].tolist() == [0.0, float(F32(F32(0.25) / F32(7)))]
    assert scales[1].tolist() == [0.0, 0.0]
    assert (q[0, :32] == 7).all() and (q[1] == 7).all()
    assert (q[0, 32:] == 14).all()
    deq = dequantize(**quantize(w, 4, 32))
    assert (deq[1] == 0).all() and (deq[0, :32] == 0).all()


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("group", [32, 64, 128])
def test_matches_scalar_reference_bit_for_bit(bits, group):
    gen = torch.Generator().manual_seed(bits * 1000 + group)
    w = torch.randn(5, 203, generator=gen) * 0.05
    w[2, 7] = 0.9
    w[3, :group] = 0.0
    w[4, :] = torch.randint(-20, 21, (203,), generator=gen).float() * 0.125    # many exact ties
    q, scales = quantize_codes(w, bits, group)
    q_ref, s_ref = scalar_reference(w.numpy(), bits, group)
    assert q.tolist() == q_ref
    assert np.array_equal(scales.numpy().view(np.uint32), np.array(s_ref, dtype=F32).view(np.uint32))
    assert np.array_equal(unpack(pack(q, bits), bits, q.shape[1]).numpy(), q.numpy())


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
    # <= scale / 2, up to the f32 rounding of w / scale and of (q - M) * scale (a few ulps of amax)
    assert (err <= scale / 2 + amax * 2.0 ** -21).all()
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
    with pytest.raises(ValueError, match="out of the 4-bit range"):
        pack(torch.tensor([[16]]), 4)


@pytest.mark.parametrize("bits,group", [(4, 32), (8, 64)])
def test_cli_json(tmp_path, bits, group):
    out = tmp_path / "case.json"
    subprocess.run([sys.executable, str(ROOT / "train/quantize_ref.py"), "--seed", "3", "--n", "4", "--k", "197",
                    "--bits", str(bits), "--group", str(group), "--out", str(out)], check=True)
    obj = json.loads(out.read_text())
    assert obj == case_json(3, 4, 197, bits, group)
    n, k, kp, ng = obj["n"], obj["k"], obj["kp"], obj["groups"]
    assert (obj["schema"], kp, ng, obj["m"]) == ("msn-quantize-ref/1", 200, n_groups(197, group), qmax(bits))
    assert len(obj["w"]) == n * k and len(obj["dequant"]) == n * k and len(obj["scales"]) == n * ng
    assert len(obj["qweight"]) == n * obj["qweight_words_per_row"] == n * kp * bits // 32
    assert len(obj["zeros"]) == n * obj["zeros_words_per_row"] == n * -(-ng * bits // 32)
    w = torch.tensor(obj["w"], dtype=torch.float32).reshape(n, k)
    assert w.reshape(-1).tolist() == obj["w"]                      # the JSON floats are exact f32 values
    re = quantize(w, bits, group)
    assert re["qweight"].reshape(-1).tolist() == obj["qweight"]
    assert re["scales"].reshape(-1).tolist() == obj["scales"]
    assert dequantize(**re).reshape(-1).tolist() == obj["dequant"]
    c = obj["cases"]
    q = unpack(re["qweight"], bits, kp)
    assert len(c["ties"]) == 6
    for t in c["ties"]:
        assert obj["w"][t["row"] * k + t["k"]] / obj["scales"][t["row"] * ng] == t["ratio"]
        assert q[t["row"], t["k"]].item() == t["q"]
    assert [t["q"] - qmax(bits) for t in c["ties"]] == [-2, 2, 4, 0, 0, -2]
    assert obj["scales"][c["all_zero_group"]["row"] * ng + c["all_zero_group"]["group"]] == 0.0
    assert len(c["outliers"]) == 4 and all(abs(obj["w"][o["row"] * k + o["k"]]) >= 0.5 for o in c["outliers"])
    assert c["partial_last_group"] and c["last_group_size"] == 200 - (ng - 1) * group


def test_cli_refuses_too_small_case(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "train/quantize_ref.py"), "--n", "1", "--k", "8",
                        "--out", str(tmp_path / "x.json")], capture_output=True, text=True)
    assert r.returncode == 2 and "--n must be >= 2" in r.stderr
