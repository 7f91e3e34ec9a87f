"""
Make Some Noise (MSN) input corruption and the fine-tuning collator (plain SFT = the same collator with
noise off). Reference: ../shared/reference/msn-tr-jacobi.md section 1 (Wang et al., EMNLP 2024).

An example is {"input_ids": [N] ids, "loss": [N] 0/1 (1 = the token is a label), "noise_spans":
[[s, e), ...] token ranges where noise may go} (chat data: chat_data.encode_chat; loss = the assistant
tokens with their end-of-turn tokens, noise spans = the assistant message contents, never an
end-of-turn token). The old code-pair form {"input_ids", "n_prompt"} is the special case loss =
[n_prompt, N), noise span [n_prompt, N-1) (the response without its end-of-text token).

msn_corrupt_spans: one contiguous segment of `noise_len` tokens per example (the paper's L), its start
uniform over every position where it fits inside one noise span; each segment token is replaced, left to
right and in place, by a token drawn uniformly from everything to its left in the same example (the
example's own left context, including segment tokens already noised). Labels are the clean sequence
where loss = 1, -100 elsewhere, so the model learns to predict the true next token from a corrupted
context: exactly the situation of a Jacobi draft.
  some span has >= noise_len tokens: r = rng.randrange(total number of fitting starts), starts in span order
      (for one span [a, e) this is rng.randrange(a, e - noise_len + 1): the reference code's range);
  no span fits: the segment is the whole longest non-empty span (first on ties; short answers still get noise);
  no span: no noise.
The noise is re-drawn every time an example is collated (every epoch sees new noise), from a seeded
random.Random owned by the collator (seed*1000 + process rank under torchrun/accelerate).

Packing (SFTCollator(pack=True)): a feature is then {"examples": [example, ...]}, concatenated into one
row; position ids restart at 0 for each example and no attention_mask is passed, so transformers builds
a per-example (block-diagonal) causal mask from the position ids (masking_utils.find_packed_sequence_indices;
flash-attention uses the same position ids) and each example sees only itself. The first token of every
example is never a label (it would be predicted from the previous example). The model must run without
a KV cache (use_cache=False; finetune.py sets config.use_cache = False): transformers skips the packed-
sequence detection when a cache object exists, and the examples would then see each other (tested).
"""
import os
import random

import torch


def from_pair(ids, n_prompt: int) -> dict:
    """The code-pair form {"input_ids", "n_prompt"} as a general example."""
    n = len(ids)
    return dict(input_ids=list(ids), loss=[0] * n_prompt + [1] * (n - n_prompt), noise_spans=[[n_prompt, n - 1]])


def as_example(f: dict) -> dict:
    return from_pair(f["input_ids"], int(f["n_prompt"])) if "n_prompt" in f else f


def msn_corrupt_spans(ids, spans, noise_len: int, rng: random.Random):
    """ids: list[int]; spans: [[s, e), ...] noise-eligible ranges. Returns (inputs, (start, length))."""
    x = list(ids)
    spans = [(int(s), int(e)) for s, e in spans if e > s]
    if not spans or noise_len <= 0:
        return x, (spans[0][0] if spans else 0, 0)
    fits = [(s, e - s - noise_len + 1) for s, e in spans if e - s >= noise_len]   # (first start, count)
    if fits:
        r = rng.randrange(sum(c for _, c in fits))
        for s, c in fits:
            if r < c:
                start = s + r
                break
            r -= c
        length = noise_len
    else:
        s, e = max(spans, key=lambda se: se[1] - se[0])
        start, length = s, e - s
    for i in range(start, start + length):
        x[i] = x[rng.randrange(0, i)]       # uniform over the (already corrupted) left context
    return x, (start, length)


def msn_corrupt(ids, n_prompt: int, noise_len: int, rng: random.Random):
    """Code-pair form. ids: list[int] (prompt + response + eos). Returns (inputs, labels, (start, length))."""
    ex = from_pair(ids, n_prompt)
    if len(ids) - 1 - n_prompt <= 0:
        return list(ids), [-100] * n_prompt + list(ids[n_prompt:]), (n_prompt, 0)
    x, seg = msn_corrupt_spans(ids, ex["noise_spans"], noise_len, rng)
    return x, [-100] * n_prompt + list(ids[n_prompt:]), seg


def labels_of(ex: dict):
    return [t if m else -100 for t, m in zip(ex["input_ids"], ex["loss"])]


class SFTCollator:
    """Batches examples; mode 'msn' corrupts, mode 'sft' does not.

    pack=False: features are examples, padded to the longest -> input_ids, labels, attention_mask (B, T).
    pack=True: features are {"examples": [...]} bins -> input_ids, labels, position_ids (B, T), no
    attention_mask (per-example attention from the position ids; padding is one more segment, unlabelled).
    """

    def __init__(self, mode: str, noise_len: int = 5, pad_id: int = 1, seed: int = 0, pack: bool = False):
        assert mode in ("msn", "sft"), mode
        self.mode, self.noise_len, self.pad_id, self.pack = mode, noise_len, pad_id, pack
        self.rng = random.Random(seed * 1000 + int(os.environ.get("RANK", "0")))

    def one(self, f):
        ex = as_example(f)
        x = list(ex["input_ids"])
        if self.mode == "msn":
            x, _ = msn_corrupt_spans(x, ex["noise_spans"], self.noise_len, self.rng)
        return x, labels_of(ex)

    def __call__(self, features):
        rows = []
        for f in features:
            if not self.pack:
                x, y = self.one(f)
                rows.append((x, y, None))
                continue
            xs, ys, ps = [], [], []
            for e in f["examples"]:
                x, y = self.one(e)
                y = [-100] + y[1:]
                xs += x
                ys += y
                ps += list(range(len(x)))
            rows.append((xs, ys, ps))
        T = max(len(x) for x, _, _ in rows)
        input_ids = torch.full((len(rows), T), self.pad_id, dtype=torch.long)   # (B, T)
        labels = torch.full((len(rows), T), -100, dtype=torch.long)            # (B, T)
        if self.pack:
            pos = torch.zeros((len(rows), T), dtype=torch.long)                 # (B, T)
            for b, (x, y, p) in enumerate(rows):
                input_ids[b, : len(x)] = torch.tensor(x)
                labels[b, : len(y)] = torch.tensor(y)
                pos[b, : len(p)] = torch.tensor(p)
                pos[b, len(p):] = torch.arange(T - len(p))
            return dict(input_ids=input_ids, labels=labels, position_ids=pos)
        mask = torch.zeros((len(rows), T), dtype=torch.long)                   # (B, T)
        for b, (x, y, _) in enumerate(rows):
            input_ids[b, : len(x)] = torch.tensor(x)
            labels[b, : len(y)] = torch.tensor(y)
            mask[b, : len(x)] = 1
        return dict(input_ids=input_ids, labels=labels, attention_mask=mask)


def pack_examples(lengths, max_len: int, seed: int = 0):
    """Bins of example indices (seeded shuffle, then next-fit) whose lengths sum to <= max_len each."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    bins, cur, used = [], [], 0
    for i in order:
        if cur and used + lengths[i] > max_len:
            bins.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += lengths[i]
    if cur:
        bins.append(cur)
    return bins
