"""
PyTorch reference of the runtime's load-time weight quantization (issue 12: `LoadOptions.quantize: 'q4' | 'q8'`),
written so that the TypeScript quantizer (src/model/quantize.ts) can be compared with it bit for bit.

    .venv/bin/python train/quantize_ref.py --seed 0 --n 6 --k 197 --bits 4 --group 32 --out /tmp/q4.json

THE RULE (MLC-LLM q4f16_1-style, symmetric; https://github.com/mlc-ai/mlc-llm, `GroupQuantize`, max-abs scale):
  A weight W is [N, K] float32 (N output rows, K input features). Each row is padded with zeros to
  Kp = roundUp(K, 8) elements and cut into groups of G consecutive elements (G in {32, 64, 128});
  groups = ceil(Kp / G), and the last group is partial when G does not divide Kp (elements past Kp do not
  exist; the padding zeros between K and Kp do, as zeros). With b the bit width, M = 2^(b-1) - 1
  (b = 4: M = 7; b = 8: M = 127) and Z = 2^(b-1) (8 or 128), per row n and group g:
    amax  = max |w| over the group                                   (f32)
    s32   = f32(amax / M)                                            (one IEEE f32 division)
    s16   = f16(s32)                                                 (round to nearest even)
    scale = s16 if 2^-14 <= s16 <= 65504 (a normal finite f16)      (an f16 scale that would underflow,
            else s32                                                  or overflow to inf, stays f32)
    c     = clamp(roundHalfToEven(f32(w / scale)), -M, M)           when scale > 0 (w / scale: f32 division)
    c     = 0 for every element of the group                         when scale == 0
    q     = c + Z,  zero = Z                                         (every group)
  Dequantized value: f32((f32(q) - f32(zero)) * scale)  (the subtraction is exact; one f32 multiply).
  MLC stores q = c + M with zero M: the same values. Non-finite weights are refused (ValueError).
  In JavaScript: Math.fround(a / b) of two f32 values equals the f32 division (f64 carries more than
  2*24 + 2 bits, so the double rounding is innocuous); Math.round is NOT half-to-even (Math.round(2.5) = 3).

LAYOUT (u32 words, little-endian when serialized, row-major):
  qweight [N, Kp*b/32]              element k of a row: word floor(k*b/32), bits (k mod (32/b))*b .. +b-1
  scales  [N, groups] float32       (values; the GPU stores them as f16 when every scale of the matrix
                                    is an f16 number, normal or 0: "scale_storage")
  zeros   [N, ceil(groups/4)]       8-bit zero points: group g of a row at word floor(g/4), bits (g mod 4)*8;
                                    bits past the last group are 0
  Kp is a multiple of 8, so qweight words never have unused bits.

CLI JSON (schema "msn-quantize-ref/1"; flat row-major arrays; every float is an f32 value written as the
JSON number of that exact value, so `new Float32Array(list)` restores the bits):
  {"schema", "seed", "n", "k", "kp", "bits", "group", "groups", "m", "qweight_words_per_row",
   "zeros_words_per_row", "scale_storage": "f16" | "f32",
   "w": f32[n*k], "qweight": u32[n*kp*bits/32], "scales": f32[n*groups], "zeros": u32[n*zeros_words_per_row],
   "dequant": f32[n*k],
   "cases": {"ties": [{"row", "k", "ratio", "q"}...], "all_zero_group": {"row", "group"},
             "tiny_group": {"row", "group"} | null (a group whose f16 scale would underflow: f32 scale),
             "outliers": [{"row", "k"}...], "partial_last_group": bool, "last_group_size": int}}
"""
import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

BITS = (4, 8)
GROUPS = (32, 64, 128)
SCHEMA = "msn-quantize-ref/1"


F16_MIN_NORMAL = 2.0 ** -14
F16_MAX = 65504.0


def qmax(bits: int) -> int:
    """M = 2^(bits-1) - 1: 7 for 4-bit, 127 for 8-bit (the signed codes lie in -M..M)."""
    return (1 << (bits - 1)) - 1


def zero_point(bits: int) -> int:
    """Z = 2^(bits-1): the stored zero point of symmetric codes (q = c + Z), as compressed-tensors stores them."""
    return 1 << (bits - 1)


def scale_storage(scales: torch.Tensor) -> str:
    """'f16' when every scale is exactly an f16 number that is normal or 0, else 'f32' (how the GPU stores them)."""
    s = scales.to(torch.float32)
    exact = s.to(torch.float16).to(torch.float32) == s
    ok = exact & ((s == 0) | ((s.abs() >= F16_MIN_NORMAL) & (s.abs() <= F16_MAX)))
    return "f16" if bool(ok.all()) else "f32"


def padded_k(k: int) -> int:
    """Kp = roundUp(K, 8): the row length after zero padding."""
    return (k + 7) // 8 * 8


def n_groups(k: int, group: int) -> int:
    """ceil(Kp / G): the number of groups (scales) per row; the last may be partial."""
    return -(-padded_k(k) // group)


def _check_format(bits: int, group: int) -> None:
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")


def pack(values: torch.Tensor, bits: int) -> np.ndarray:
    """Pack unsigned integers into u32 words, `32/bits` per word, element i at word i*bits//32, bits
    (i mod (32/bits))*bits; the last word of a row is zero-padded.

    values: integer tensor [N, L] with 0 <= v < 2^bits. Returns numpy uint32 [N, ceil(L*bits/32)].
    Raises ValueError on values out of range."""
    per = 32 // bits
    v = values.to(torch.int64)
    if v.numel() and (int(v.min()) < 0 or int(v.max()) >= (1 << bits)):
        raise ValueError(f"values out of the {bits}-bit range")
    n, length = v.shape
    words = -(-length // per)
    v = torch.nn.functional.pad(v, (0, words * per - length)).reshape(n, words, per)
    shifts = torch.arange(per, dtype=torch.int64) * bits
    return (v << shifts).sum(dim=-1).numpy().astype(np.uint32)


def unpack(words: np.ndarray, bits: int, length: int) -> torch.Tensor:
    """Inverse of `pack`: numpy uint32 [N, W] -> int64 tensor [N, length] (length <= W*32/bits)."""
    per = 32 // bits
    w = torch.from_numpy(np.asarray(words, dtype=np.uint32).astype(np.int64))
    n, nw = w.shape
    if length > nw * per:
        raise ValueError(f"{nw} words of {bits}-bit values hold at most {nw * per} values, asked for {length}")
    shifts = torch.arange(per, dtype=torch.int64) * bits
    return ((w.unsqueeze(-1) >> shifts) & ((1 << bits) - 1)).reshape(n, nw * per)[:, :length]


def quantize_codes(w: torch.Tensor, bits: int, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rule, unpacked: w float32 [N, K] -> (q int64 [N, Kp] in Z-M..Z+M, scales float32 [N, groups]).
    Raises ValueError for a non-2-D / non-float32 / empty / non-finite input or an unsupported format."""
    _check_format(bits, group)
    if not isinstance(w, torch.Tensor) or w.dtype != torch.float32 or w.dim() != 2:
        raise ValueError("w must be a 2-D torch.float32 tensor [N, K]")
    n, k = w.shape
    if k < 1:
        raise ValueError("K must be at least 1")
    if not bool(torch.isfinite(w).all()):
        raise ValueError("w has non-finite values (NaN or Inf); the quantization rule is defined on finite weights")
    m = qmax(bits)
    kp = padded_k(k)
    ng = n_groups(k, group)
    # Zeros past Kp only fill the [N, groups, G] view: they change no amax and are dropped below.
    wg = torch.nn.functional.pad(w, (0, ng * group - k)).reshape(n, ng, group)
    amax = wg.abs().amax(dim=-1)                                                  # [N, groups] f32
    # Tensor / tensor of the same shape: elementwise IEEE f32 division (no scalar-reciprocal shortcut).
    s32 = amax / torch.full_like(amax, float(m))
    s16 = s32.to(torch.float16).to(torch.float32)
    scales = torch.where((s16 >= F16_MIN_NORMAL) & (s16 <= F16_MAX), s16, s32)
    nonzero = scales > 0
    safe = torch.where(nonzero, scales, torch.ones_like(scales))
    ratio = wg / safe.unsqueeze(-1).expand_as(wg).contiguous()                    # f32 division
    c = torch.round(ratio).to(torch.int64).clamp(-m, m)                           # torch.round: half to even
    q = torch.where(nonzero.unsqueeze(-1), c, torch.zeros_like(c)) + zero_point(bits)
    return q.reshape(n, ng * group)[:, :kp], scales


def quantize(w: torch.Tensor, bits: int, group: int) -> dict:
    """Quantize float32 weights [N, K] by the rule of this module's docstring.

    Returns {"qweight": np.uint32 [N, Kp*bits/32], "scales": np.float32 [N, groups],
    "zeros": np.uint32 [N, ceil(groups/4)], "bits", "group", "k"}; `dequantize(**quantize(w, b, g))`
    works. Raises ValueError (see `quantize_codes`)."""
    q, scales = quantize_codes(w, bits, group)
    n = w.shape[0]
    zeros = torch.full((n, scales.shape[1]), zero_point(bits), dtype=torch.int64)
    return {"qweight": pack(q, bits), "scales": scales.numpy().astype(np.float32),
            "zeros": pack(zeros, 8), "bits": bits, "group": group, "k": int(w.shape[1])}


def dequantize(qweight: np.ndarray, scales: np.ndarray, zeros: np.ndarray, bits: int, group: int,
               k: int) -> torch.Tensor:
    """f32((q - zero) * scale) per element, unpadded: returns torch.float32 [N, k].
    Any zero point is honoured (not only M). Raises ValueError when the array shapes do not fit (N, k)."""
    _check_format(bits, group)
    kp, ng = padded_k(k), n_groups(k, group)
    qweight, scales, zeros = np.asarray(qweight), np.asarray(scales, dtype=np.float32), np.asarray(zeros)
    n = qweight.shape[0]
    want = {"qweight": (n, kp * bits // 32), "scales": (n, ng), "zeros": (n, -(-ng // 4))}
    for name, arr in (("qweight", qweight), ("scales", scales), ("zeros", zeros)):
        if tuple(arr.shape) != want[name]:
            raise ValueError(f"{name} has shape {tuple(arr.shape)}, expected {want[name]} for k={k}, "
                             f"bits={bits}, group={group}")
    q = unpack(qweight, bits, kp)
    z = unpack(zeros, 8, ng)
    s = torch.from_numpy(scales.copy())
    diff = torch.nn.functional.pad(q, (0, ng * group - kp)).reshape(n, ng, group) - z.unsqueeze(-1)
    out = diff.to(torch.float32) * s.unsqueeze(-1).expand(n, ng, group).contiguous()
    return out.reshape(n, ng * group)[:, :k].contiguous()


# ---------------------------------------------------------------- CLI: a seeded cross-language case

TIE_SCALE = 2.0 ** -6  # a power of two: amax = M * TIE_SCALE is exact and so is its division by M
TIE_RATIOS = (-2.5, 2.5, 3.5, -0.5, 0.5, -1.5)  # w / scale exactly; half to even: -2, 2, 4, -0, 0, -2


def make_case(seed: int, n: int, k: int, bits: int, group: int) -> tuple[torch.Tensor, dict]:
    """A seeded test matrix: randn * 0.05, with row 0 group 0 made of exact ties (scale = 2^-6), row 1
    group 0 all zero, row 2 group 0 tiny (|w| <= 5e-6: its f16 scale would underflow) when n > 2, and a few outliers (|w| in 0.5..1.0) outside those two groups. Needs n >= 2, k >= 8."""
    if n < 2 or k < 8:
        raise ValueError("the CLI case needs n >= 2 and k >= 8")
    _check_format(bits, group)
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=gen, dtype=torch.float32) * 0.05
    m = qmax(bits)
    amax = m * TIE_SCALE
    g0 = min(group, k)
    w[0, :g0] = w[0, :g0].clamp(-0.9 * amax, 0.9 * amax)
    w[0, 0] = amax
    ties = []
    for i, r in enumerate(TIE_RATIOS, start=1):
        w[0, i] = r * TIE_SCALE
        ties.append({"row": 0, "k": i, "ratio": r, "q": int(round(r)) + zero_point(bits)})  # Python round: half to even
    w[1, :g0] = 0.0
    tiny = None
    if n > 2:  # row 2 group 0: amax / M below 2^-14, so its scale stays f32 (and the matrix stores f32 scales)
        w[2, :g0] = w[2, :g0].clamp(-0.05, 0.05) * 1e-4
        tiny = {"row": 2, "group": 0}
    outliers = []
    if n > 2 or k > group:
        cells = [(r, c) for r in range(n) for c in range(k) if not (r < 3 and c < group)]
        pick = torch.randperm(len(cells), generator=gen)[:min(4, len(cells))]
        signs = torch.randint(0, 2, (len(pick),), generator=gen) * 2 - 1
        mags = 0.5 + 0.5 * torch.rand(len(pick), generator=gen)
        for j, idx in enumerate(pick.tolist()):
            r, c = cells[idx]
            w[r, c] = float(signs[j]) * float(mags[j])
            outliers.append({"row": r, "k": c})
    kp = padded_k(k)
    last = kp - (n_groups(k, group) - 1) * group
    cases = {"ties": ties, "all_zero_group": {"row": 1, "group": 0}, "tiny_group": tiny, "outliers": outliers,
             "partial_last_group": last != group, "last_group_size": last}
    return w, cases


def case_json(seed: int, n: int, k: int, bits: int, group: int) -> dict:
    """The CLI's JSON object (schema in the module docstring)."""
    w, cases = make_case(seed, n, k, bits, group)
    out = quantize(w, bits, group)
    deq = dequantize(**out)
    ng = n_groups(k, group)
    return {
        "schema": SCHEMA, "seed": seed, "n": n, "k": k, "kp": padded_k(k), "bits": bits, "group": group,
        "groups": ng, "m": qmax(bits),
        "qweight_words_per_row": out["qweight"].shape[1], "zeros_words_per_row": out["zeros"].shape[1],
        "scale_storage": scale_storage(torch.from_numpy(out["scales"])),
        "w": [float(x) for x in w.reshape(-1).tolist()],
        "qweight": [int(x) for x in out["qweight"].reshape(-1)],
        "scales": [float(x) for x in out["scales"].reshape(-1)],
        "zeros": [int(x) for x in out["zeros"].reshape(-1)],
        "dequant": [float(x) for x in deq.reshape(-1).tolist()],
        "cases": cases,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=6, help="rows (>= 2)")
    ap.add_argument("--k", type=int, default=197, help="input features (>= 8)")
    ap.add_argument("--bits", type=int, choices=BITS, default=4)
    ap.add_argument("--group", type=int, choices=GROUPS, default=32)
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write ('-' for stdout)")
    a = ap.parse_args(argv)
    if a.n < 2 or a.k < 8:
        ap.error("--n must be >= 2 and --k >= 8 (the case places ties in row 0 and an all-zero group in row 1)")
    obj = case_json(a.seed, a.n, a.k, a.bits, a.group)
    assert all(math.isfinite(x) for x in obj["dequant"])
    text = json.dumps(obj, separators=(",", ":"))
    if str(a.out) == "-":
        print(text)
    else:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
