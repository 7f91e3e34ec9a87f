"""
Held-out loss and parallel-decoding metrics (plain Jacobi and the top-10 "tree" proxy) for the base, SFT
and MSN models; writes training_metrics.json. Computed in float64 so that greedy, Jacobi-with-KV-cache and
verification all take bit-stable argmaxes (the "Jacobi output == greedy output" check is an assert).

    .venv/bin/python train/evaluate.py --base train/out/tiny/base --sft train/out/tiny/sft \\
        --msn train/out/tiny/msn --out train/out/tiny/training_metrics.json

JACOBI (the runtime's `jacobi` mode; window W = 5, greedy, batch 1):
  prefill prompt[:-1] into the KV cache; root := prompt[-1]; out := []
  rng := XorShift32(seed = 1 + prompt_id); draft[r] := rng.choice(prompt) for r = 0..W-1
  loop until |out| >= N or <|endoftext|> emitted:
    forward [root, draft[0..W-1]] on top of the cache (causal; positions |cache|..|cache|+W)
    pred[j] := argmax of the logits at slot j (slot 0 = root, slot j = draft[j-1])
    k := largest k <= W with draft[i] == pred[i] for all i < k          (accepted draft tokens)
    emit draft[0..k-1] and the bonus pred[k]                           (k + 1 tokens this step)
    keep the KV of root + the k accepted drafts, drop the rest; root := pred[k]
    next draft[r] := pred[k+1+r] for k+1+r <= W (the outputs after the first rejection), and for the k
      missing slots, in increasing r, rng.choice(prompt + out)  (random context tokens)
  MAT = emitted tokens (truncated to N, through <|endoftext|>) / number of verification forwards.
  XorShift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5 (uint32); choice(pool) = pool[x % |pool|] after
  one step.
TREE PROXY (what a Jacobi tree can catch): the same loop, the forward still takes the top-1 draft tokens,
  but each draft position keeps the previous iteration's top-10 tokens at its slot as candidates, and a
  position counts as matched when the true greedy token is among them; accepted tokens are the true ones
  (KV of mismatched-but-accepted positions is recomputed). Random-filled slots have one candidate.
Intervals: 95 % percentile bootstrap over prompts (ratio of sums for MAT, mean over tokens for loss),
2000 resamples, numpy seed 0; "diff" intervals resample prompts jointly (paired).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sft_format import EOT, format_sft, sft_ids  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 5
TOPK_TREE = 10
N_PROMPTS = 200        # all committed test prompts of <= MAX_PROMPT_TOKENS tokens (if fewer than this)
NEW_TOKENS = 64
MAX_PROMPT_TOKENS = 192
MAX_PAIR_TOKENS = 256
N_BOOT = 2000


class XorShift32:
    def __init__(self, seed: int):
        self.x = (seed & 0xFFFFFFFF) or 1

    def next(self) -> int:
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def choice(self, pool):
        return pool[self.next() % len(pool)]


class Decoder:
    """Greedy / Jacobi / tree-proxy decoding of one model with an HF DynamicCache."""

    def __init__(self, model, eos_id: int):
        self.model, self.eos = model, eos_id

    @torch.no_grad()
    def _fwd(self, ids, cache):
        x = torch.tensor([ids], device=self.model.device)
        out = self.model(input_ids=x, past_key_values=cache, use_cache=True)
        return out.logits[0]                                             # (T, V)

    def greedy(self, prompt, n):
        cache = DynamicCache()
        logits = self._fwd(prompt, cache)
        out = []
        while True:
            t = int(logits[-1].argmax())
            out.append(t)
            if t == self.eos or len(out) >= n:
                return out
            logits = self._fwd([t], cache)

    def jacobi(self, prompt, n, rng, window=WINDOW, topk=1, truth=None):
        """Returns (tokens, steps, accept_lengths). topk > 1 = tree proxy (needs truth = greedy output)."""
        cache = DynamicCache()
        if len(prompt) > 1:
            self._fwd(prompt[:-1], cache)
        pending = [prompt[-1]]                  # true tokens not in the cache yet; the last is the root
        cands = [[rng.choice(prompt)] for _ in range(window)]
        out, steps, accepts = [], 0, []
        while len(out) < n and (not out or out[-1] != self.eos):
            base_len = cache.get_seq_length()
            drafts = [c[0] for c in cands]
            logits = self._fwd(pending + drafts, cache)[len(pending) - 1:]    # (W + 1, V): slot j = row j
            pred = logits.argmax(-1).tolist()
            if topk == 1:
                k = 0
                while k < window and drafts[k] == pred[k]:
                    k += 1
                new = drafts[:k] + [pred[k]]
                valid = len(pending) + k        # cache rows holding true tokens
                pending = [pred[k]]
            else:
                g = truth[len(out): len(out) + window + 1]
                k = 0
                while k < window and k + 1 < len(g) and g[k] in cands[k]:
                    k += 1
                new = g[: k + 1]
                m = 0
                while m < k and drafts[m] == g[m]:
                    m += 1
                valid = len(pending) + m
                pending = g[m: k + 1]
            drop = cache.get_seq_length() - (base_len + valid)
            if drop > 0:
                cache.crop(-drop)                   # negative = remove that many trailing tokens
            steps += 1
            accepts.append(len(new))
            for t in new:
                if len(out) < n and (not out or out[-1] != self.eos):
                    out.append(t)
            pool = prompt + out
            nxt = []
            for r in range(window):
                j = k + 1 + r
                if j <= window:
                    top = logits[j].topk(topk).indices.tolist() if topk > 1 else []
                    nxt.append([pred[j]] + [t for t in top if t != pred[j]][: topk - 1])  # top-1 first
                else:
                    nxt.append(None)
            cands = [c if c is not None else [rng.choice(pool)] for c in nxt]
        return out, steps, accepts


def bootstrap(num, den, n_boot=N_BOOT, seed=0):
    """95 % interval of sum(num)/sum(den) over resampled items; returns (value, lo, hi, idx)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    idx = np.random.default_rng(seed).integers(0, len(num), size=(n_boot, len(num)))
    stats = num[idx].sum(1) / den[idx].sum(1)
    return float(num.sum() / den.sum()), float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5)), idx


def distinct_ngrams(ids, n=4):
    """Unique n-grams / n-grams of a generated sequence (1.0 = no repetition; < 0.9 = looping)."""
    grams = [tuple(ids[i: i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def ci(value, lo, hi, nd=4):
    return dict(value=round(value, nd), ci95=[round(lo, nd), round(hi, nd)])


@torch.no_grad()
def pair_losses(model, rows, batch_size=32):
    """Per pair (sum of CE over response tokens incl. eos, count), clean inputs."""
    sums, counts = [], []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i: i + batch_size]
        T = max(len(r[0]) for r in chunk)
        x = torch.full((len(chunk), T), 1, dtype=torch.long)
        y = torch.full((len(chunk), T), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        for b, (ids, n_prompt) in enumerate(chunk):
            x[b, : len(ids)] = torch.tensor(ids)
            y[b, n_prompt: len(ids)] = torch.tensor(ids[n_prompt:])
            mask[b, : len(ids)] = 1
        x, y, mask = x.to(model.device), y.to(model.device), mask.to(model.device)
        logits = model(input_ids=x, attention_mask=mask).logits               # (B, T, V)
        ce = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), y[:, 1:], ignore_index=-100,
                                               reduction="none")                # (B, T-1)
        sums += ce.sum(1).tolist()
        counts += (y[:, 1:] != -100).sum(1).tolist()
    return sums, counts


def load_pairs(tok, pairs, prompts):
    """The held-out (prompt, response) pairs of the loss: `pairs` (jsonl; `prompts` when it does not exist),
    kept when the SFT ids are <= MAX_PAIR_TOKENS. Returns (path read, [(ids, n_prompt_tokens)])."""
    pairs_path = Path(pairs) if Path(pairs).exists() else Path(prompts)
    rows = []
    for line in open(pairs_path):
        p = json.loads(line)
        ids, n_prompt = sft_ids(tok, p["prompt"], p["response"])
        if len(ids) <= MAX_PAIR_TOKENS:
            rows.append((ids, n_prompt))
    return pairs_path, rows


def load_prompts(tok, prompts, n_prompts):
    """The decoding prompts: [(id, ids, row)] of `prompts` (jsonl) with <= MAX_PROMPT_TOKENS SFT-format ids,
    n_prompts of them evenly spaced over the file (it is sorted by package) when there are more."""
    out = []
    for line in open(prompts):
        p = json.loads(line)
        ids = tok.encode(format_sft(p["prompt"]), add_special_tokens=False)
        if len(ids) <= MAX_PROMPT_TOKENS:
            out.append((p["id"], ids, p))
    if len(out) > n_prompts:
        out = [out[i * len(out) // n_prompts] for i in range(n_prompts)]
    return out


def decode_rows(model, eos, prompts, new_tokens, window, name):
    """Greedy, Jacobi and tree-proxy decoding of each prompt (asserting both equal greedy); one row per
    prompt: {id, tokens, jacobi_steps, tree_steps, distinct4, greedy}."""
    dec = Decoder(model, eos)
    rows = []
    for pid, ids, _ in prompts:
        g = dec.greedy(ids, new_tokens)
        j, j_steps, _ = dec.jacobi(ids, new_tokens, XorShift32(1 + pid), window)
        assert j == g, f"{name} prompt {pid}: Jacobi output differs from greedy"
        t, t_steps, _ = dec.jacobi(ids, new_tokens, XorShift32(1 + pid), window, topk=TOPK_TREE, truth=g)
        assert t == g, f"{name} prompt {pid}: tree-proxy output differs from greedy"
        rows.append(dict(id=pid, tokens=len(g), jacobi_steps=j_steps, tree_steps=t_steps,
                         distinct4=round(distinct_ngrams(g), 4), greedy=g))
    return rows


def load_model(folder, device="cpu"):
    m = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float64).to(device)
    m.eval()
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--sft", required=True)
    ap.add_argument("--msn", required=True)
    ap.add_argument("--out", required=True, help="training_metrics.json to write")
    ap.add_argument("--pairs", default=str(ROOT / "train/data/build/sft_test.jsonl"),
                    help="held-out pairs for the loss (default: all test-split pairs)")
    ap.add_argument("--prompts", default=str(ROOT / "train/data/test_prompts.jsonl"))
    ap.add_argument("--n-prompts", type=int, default=N_PROMPTS)
    ap.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    ap.add_argument("--window", type=int, default=WINDOW)
    ap.add_argument("--threads", type=int, default=1, help="1 is best on a shared CPU (OpenMP spin-waits)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda (still float64)")
    ap.add_argument("--samples", type=int, default=3, help="greedy samples of the MSN model kept for the card")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()

    tok = AutoTokenizer.from_pretrained(args.msn)
    eos = tok.convert_tokens_to_ids(EOT)
    pairs_path, pair_rows = load_pairs(tok, args.pairs, args.prompts)
    prompts = load_prompts(tok, args.prompts, args.n_prompts)

    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False   # keep float64/32 argmaxes exact
    metrics = dict(heldout_pairs=len(pair_rows), heldout_pairs_source=str(pairs_path.relative_to(ROOT))
                   if pairs_path.is_relative_to(ROOT) else str(pairs_path),
                   decode_prompts=len(prompts), new_tokens=args.new_tokens, window=args.window,
                   tree_topk=TOPK_TREE, dtype="float64", bootstrap_resamples=N_BOOT)
    losses, per_prompt = {}, {}
    for name, folder in (("base", args.base), ("sft", args.sft), ("msn", args.msn)):
        model = load_model(folder, args.device)
        s, c = pair_losses(model, pair_rows)
        losses[name] = (s, c)
        v, lo, hi, _ = bootstrap(s, c)
        metrics[f"heldout_loss_{name}"] = round(v, 4)
        metrics[f"heldout_loss_{name}_ci95"] = [round(lo, 4), round(hi, 4)]
        if name == "base":
            continue
        rows = decode_rows(model, eos, prompts, args.new_tokens, args.window, name)
        per_prompt[name] = rows
        toks = [r["tokens"] for r in rows]
        for kind in ("jacobi", "tree"):
            v, lo, hi, _ = bootstrap(toks, [r[f"{kind}_steps"] for r in rows])
            metrics[f"{kind}_mat_{name}"] = round(v, 4)
            metrics[f"{kind}_mat_{name}_ci95"] = [round(lo, 4), round(hi, 4)]
        if name == "msn":
            metrics["samples"] = [dict(id=pid, prompt=p["prompt"], completion=tok.decode(g, skip_special_tokens=False),
                                       reference=p["response"])
                                  for (pid, _, p), g in zip(prompts[: args.samples], [r["greedy"] for r in rows])]
        print(f"{name}: loss {metrics[f'heldout_loss_{name}']}, jacobi MAT {metrics[f'jacobi_mat_{name}']}, "
              f"tree MAT {metrics[f'tree_mat_{name}']} ({time.time() - t0:.0f}s)", flush=True)

    # paired differences MSN - SFT (same prompts / pairs resampled together)
    idx = np.random.default_rng(0).integers(0, len(prompts), size=(N_BOOT, len(prompts)))
    for kind in ("jacobi", "tree"):
        a = {n: (np.array([r["tokens"] for r in per_prompt[n]], float),
                 np.array([r[f"{kind}_steps"] for r in per_prompt[n]], float)) for n in ("sft", "msn")}
        d = a["msn"][0][idx].sum(1) / a["msn"][1][idx].sum(1) - a["sft"][0][idx].sum(1) / a["sft"][1][idx].sum(1)
        metrics[f"{kind}_mat_diff_msn_minus_sft"] = ci(metrics[f"{kind}_mat_msn"] - metrics[f"{kind}_mat_sft"],
                                                       np.percentile(d, 2.5), np.percentile(d, 97.5))
    # repetition check: looping outputs are easy to draft, so also compare on prompts where neither
    # model's greedy output repeats itself (distinct 4-grams >= 0.9 for both)
    for n in ("sft", "msn"):
        metrics[f"greedy_mean_tokens_{n}"] = round(float(np.mean([r["tokens"] for r in per_prompt[n]])), 2)
        metrics[f"greedy_distinct4_{n}"] = round(float(np.mean([r["distinct4"] for r in per_prompt[n]])), 4)
    keep = [i for i, (a, b) in enumerate(zip(per_prompt["sft"], per_prompt["msn"]))
            if a["distinct4"] >= 0.9 and b["distinct4"] >= 0.9]
    metrics["nonrepetitive_prompts"] = len(keep)
    if len(keep) >= 10:
        for n in ("sft", "msn"):
            for kind in ("jacobi", "tree"):
                rs = [per_prompt[n][i] for i in keep]
                v, lo, hi, _ = bootstrap([r["tokens"] for r in rs], [r[f"{kind}_steps"] for r in rs])
                metrics[f"{kind}_mat_{n}_nonrepetitive"] = round(v, 4)
                metrics[f"{kind}_mat_{n}_nonrepetitive_ci95"] = [round(lo, 4), round(hi, 4)]
    idx = np.random.default_rng(0).integers(0, len(pair_rows), size=(N_BOOT, len(pair_rows)))
    ls = {n: (np.array(losses[n][0]), np.array(losses[n][1], float)) for n in losses}
    rel = (ls["msn"][0][idx].sum(1) / ls["msn"][1][idx].sum(1)) / (ls["sft"][0][idx].sum(1) / ls["sft"][1][idx].sum(1)) - 1
    metrics["heldout_loss_rel_msn_vs_sft"] = ci(metrics["heldout_loss_msn"] / metrics["heldout_loss_sft"] - 1,
                                                np.percentile(rel, 2.5), np.percentile(rel, 97.5))
    metrics["claims"] = dict(
        jacobi_mat_msn_gt_sft=metrics["jacobi_mat_msn"] > metrics["jacobi_mat_sft"],
        tree_mat_msn_gt_sft=metrics["tree_mat_msn"] > metrics["tree_mat_sft"],
        heldout_loss_msn_within_3pct_of_sft=metrics["heldout_loss_msn"] <= 1.03 * metrics["heldout_loss_sft"])
    metrics["per_prompt"] = {n: [{k: v for k, v in r.items() if k != "greedy"} for r in rows]
                             for n, rows in per_prompt.items()}
    metrics["eval_time_s"] = round(time.time() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(metrics, indent=1))
    print(json.dumps({k: v for k, v in metrics.items() if k not in ("per_prompt", "samples")}, indent=1))


if __name__ == "__main__":
    main()
