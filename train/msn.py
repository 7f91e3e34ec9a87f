"""
Make Some Noise (MSN) input corruption and the fine-tuning collator (plain SFT = the same collator with
noise off). Reference: ../shared/reference/msn-tr-jacobi.md section 1 (Wang et al., EMNLP 2024).

msn_corrupt: one contiguous segment of `noise_len` tokens per example (the paper's L), placed uniformly
inside the response; each segment token is replaced, left to right and in place, by a token drawn
uniformly from everything to its left (prompt + response prefix, including segment tokens already
noised). Labels are the clean sequence with the prompt masked (-100), so the model learns to predict the
true next token from a corrupted context: exactly the situation of a Jacobi draft.

Eligible positions are the response tokens except the last one (the end-of-text token, whose output is
never trained), i.e. [n_prompt, N-1). With E = N-1-n_prompt eligible positions:
  E >= noise_len : start = rng.randrange(n_prompt, N - noise_len)  (same range as the reference code)
  0 < E < noise_len : the segment is clipped to all E eligible positions (short responses still get noise)
  E <= 0         : no noise.
The noise is re-drawn every time an example is collated (every epoch sees new noise), from a seeded
random.Random owned by the collator (seed + process rank under torchrun/accelerate).
"""
import os
import random

import torch


def msn_corrupt(ids, n_prompt: int, noise_len: int, rng: random.Random):
    """ids: list[int] (prompt + response + eos). Returns (inputs, labels, (start, length))."""
    n = len(ids)
    labels = [-100] * n_prompt + list(ids[n_prompt:])
    x = list(ids)
    eligible = n - 1 - n_prompt
    if eligible <= 0 or noise_len <= 0:
        return x, labels, (n_prompt, 0)
    if eligible >= noise_len:
        start, length = rng.randrange(n_prompt, n - noise_len), noise_len
    else:
        start, length = n_prompt, eligible
    for i in range(start, start + length):
        x[i] = x[rng.randrange(0, i)]       # uniform over the (already corrupted) left context
    return x, labels, (start, length)


class SFTCollator:
    """Pads a list of {"input_ids", "n_prompt"} examples; mode 'msn' corrupts, mode 'sft' does not."""

    def __init__(self, mode: str, noise_len: int = 5, pad_id: int = 1, seed: int = 0):
        assert mode in ("msn", "sft"), mode
        self.mode, self.noise_len, self.pad_id = mode, noise_len, pad_id
        self.rng = random.Random(seed * 1000 + int(os.environ.get("RANK", "0")))

    def __call__(self, features):
        rows = []
        for f in features:
            ids, n_prompt = list(f["input_ids"]), int(f["n_prompt"])
            if self.mode == "msn":
                x, y, _ = msn_corrupt(ids, n_prompt, self.noise_len, self.rng)
            else:
                x, y = ids, [-100] * n_prompt + ids[n_prompt:]
            rows.append((x, y))
        T = max(len(x) for x, _ in rows)
        input_ids = torch.full((len(rows), T), self.pad_id, dtype=torch.long)   # (B, T)
        labels = torch.full((len(rows), T), -100, dtype=torch.long)            # (B, T)
        mask = torch.zeros((len(rows), T), dtype=torch.long)                   # (B, T)
        for b, (x, y) in enumerate(rows):
            input_ids[b, : len(x)] = torch.tensor(x)
            labels[b, : len(y)] = torch.tensor(y)
            mask[b, : len(x)] = 1
        return dict(input_ids=input_ids, labels=labels, attention_mask=mask)
