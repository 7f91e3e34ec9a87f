"""
Evaluation of fine-tuned models with the decoding the runtime ships.

ONE MODEL (the main form):
    .venv/bin/python train/evaluate.py --model <folder> [--compare <its SFT twin>] --data <eval.jsonl> --out m.json
  --data: chat rows ({"messages"} / ShareGPT; the prompt is every message before the last assistant one,
  rendered with the chat template and its generation prompt; the held-out loss is over the assistant
  tokens) or code rows ({"prompt", "response"}, the SFT format of sft_format.py; the prompt is encoded as
  the runtime encodes a raw prompt, with the tokenizer's special tokens). Default: the validation pairs
  (train/data/build/sft_val.jsonl): hyper-parameter choices are made on validation data, and the test
  prompts (train/data/test_prompts.jsonl) are only for the final report.
  Per prompt (greedy, --new-tokens, every EOS id of the model's generation_config/config/tokenizer):
    greedy AR output; greedy TR-Jacobi with the paper's fixed 69-node tree (retrieval chain +
    mc_sim_7b_63) and the runtime's candidate update, and the runtime's `jacobi` chain, both by
    tr_jacobi.RuntimeDecoder (a transcription of src/decode/scheduler.ts), drafts seeded like the CLI
    (Mulberry32(--draft-seed), default 24301); a check that both outputs equal greedy (greedy_equal).
  Reports: MAT (tokens / decode forwards) with 95 % bootstrap intervals, MAT per category (the row's
  "category", else "dist", else "all"), held-out loss, per-prompt rows; with --compare the same for the
  twin and paired MSN - SFT differences. --dtype float32 (default) | bfloat16 | float64, --device cpu|cuda.
  In float32 the fixed-tree step counts equal `npm run generate -- --decode tr-jacobi --tree fixed
  --draft-seed S --json` prompt by prompt wherever the greedy outputs agree (train/tests/test_runtime_parity.py).
  Extra (named, not a headline number): --extras top10-proxy adds the old "tree proxy" below.

THREE MODELS (the tiny pipeline's training_metrics.json; run_tiny.sh, gpu_run.sh):
    .venv/bin/python train/evaluate.py --base train/out/tiny/base --sft train/out/tiny/sft \\
        --msn train/out/tiny/msn --out train/out/tiny/training_metrics.json
  float64, window W = 5, XorShift32(1 + prompt id) drafts:
JACOBI (the runtime's `jacobi` mode; window W = 5, greedy, batch 1):
  prefill prompt[:-1] into the KV cache; root := prompt[-1]; out := []
  rng := XorShift32(seed = 1 + prompt_id); draft[r] := rng.choice(prompt) for r = 0..W-1
  loop until |out| >= N or an EOS id emitted:
    forward [root, draft[0..W-1]] on top of the cache (causal; positions |cache|..|cache|+W)
    pred[j] := argmax of the logits at slot j (slot 0 = root, slot j = draft[j-1])
    k := largest k <= W with draft[i] == pred[i] for all i < k          (accepted draft tokens)
    emit draft[0..k-1] and the bonus pred[k]                           (k + 1 tokens this step)
    keep the KV of root + the k accepted drafts, drop the rest; root := pred[k]
    next draft[r] := pred[k+1+r] for k+1+r <= W (the outputs after the first rejection), and for the k
      missing slots, in increasing r, rng.choice(prompt + out)  (random context tokens)
  MAT = emitted tokens (truncated to N, through the EOS) / number of verification forwards.
  XorShift32: x ^= x << 13; x ^= x >> 17; x ^= x << 5 (uint32); choice(pool) = pool[x % |pool|] after
  one step.
TOP-10 PROXY (`tree_mat_*`, an extra: an upper-bound-like proxy, not the tree the runtime verifies): the
  same loop, the forward still takes the top-1 draft tokens,
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
from chat_data import encode_chat, eos_token_ids, read_chat_jsonl  # noqa: E402
from sft_format import format_sft, sft_ids  # noqa: E402
from tr_jacobi import CLI_DRAFT_SEED, Mulberry32, RuntimeDecoder, XorShift32  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 5
TOPK_TREE = 10
N_PROMPTS = 200        # all committed test prompts of <= MAX_PROMPT_TOKENS tokens (if fewer than this)
NEW_TOKENS = 64
MAX_PROMPT_TOKENS = 192
MAX_PAIR_TOKENS = 256
N_BOOT = 2000


class Decoder:
    """Greedy / Jacobi / tree-proxy decoding of one model with an HF DynamicCache."""

    def __init__(self, model, eos_id):
        """eos_id: one id or a list of ids (every EOS of the model)."""
        self.model = model
        self.eos = set(eos_id) if isinstance(eos_id, (list, tuple, set)) else {eos_id}

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
            if t in self.eos or len(out) >= n:
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
        while len(out) < n and (not out or out[-1] not in self.eos):
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
                if len(out) < n and (not out or out[-1] not in self.eos):
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


def main_three(argv=None):
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
    eos = eos_token_ids(args.msn, tok)
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


# ----------------------------------------------------------------------------------------------
# one model (+ its twin) with the runtime's decoding
DTYPES = dict(float32=torch.float32, bfloat16=torch.bfloat16, float64=torch.float64)


def category_of(row):
    return str(row.get("category") or row.get("dist") or "all")


def load_eval_rows(tok, path, n_prompts, max_prompt_tokens, template=None, eos_ids=None):
    """[(id, category, prompt ids, loss example or None, reference text)] from chat or code rows."""
    lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    chat = bool(lines) and ("messages" in lines[0] or "conversations" in lines[0])
    rows = []
    if chat:
        for i, r in enumerate(read_chat_jsonl(path)):
            msgs = r["messages"]
            last = max(j for j, m in enumerate(msgs) if m["role"] == "assistant")
            text = tok.apply_chat_template(msgs[:last], tokenize=False, add_generation_prompt=True, chat_template=template)
            ids = tok(text, add_special_tokens=False)["input_ids"]       # as apply_chat_template(tokenize=True)
            ex, _ = encode_chat(tok, msgs[: last + 1], template, eos_ids, None)
            rows.append((r.get("id", i), category_of(r), ids, ex, msgs[last]["content"]))
    else:
        eos = tok.eos_token_id
        for i, r in enumerate(lines):
            ids = tok(format_sft(r["prompt"]), add_special_tokens=True)["input_ids"]   # the runtime's raw prompt
            resp = tok(r["response"], add_special_tokens=False)["input_ids"] if "response" in r else []
            ex = dict(input_ids=ids + resp + [eos], loss=[0] * len(ids) + [1] * (len(resp) + 1)) if resp else None
            rows.append((r.get("id", i), category_of(r), ids, ex, r.get("response")))
    rows = [r for r in rows if len(r[2]) <= max_prompt_tokens]
    if len(rows) > n_prompts:
        rows = [rows[i * len(rows) // n_prompts] for i in range(n_prompts)]
    return rows


@torch.no_grad()
def example_losses(model, examples, batch_size=16):
    """Per example (sum of CE over its label tokens, count), clean inputs, float32 log-softmax."""
    sums, counts = [], []
    dev = next(model.parameters()).device
    for i in range(0, len(examples), batch_size):
        chunk = examples[i: i + batch_size]
        T = max(len(e["input_ids"]) for e in chunk)
        x = torch.zeros((len(chunk), T), dtype=torch.long)
        y = torch.full((len(chunk), T), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        for b, e in enumerate(chunk):
            n = len(e["input_ids"])
            x[b, :n] = torch.tensor(e["input_ids"])
            y[b, :n] = torch.tensor([t if m else -100 for t, m in zip(e["input_ids"], e["loss"])])
            mask[b, :n] = 1
        logits = model(input_ids=x.to(dev), attention_mask=mask.to(dev)).logits.float()
        ce = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), y[:, 1:].to(dev), ignore_index=-100,
                                               reduction="none")
        sums += ce.sum(1).tolist()
        counts += (y[:, 1:] != -100).sum(1).tolist()
    return sums, counts


def evaluate_model(folder, rows, args, tok=None):
    """Metrics and per-prompt rows of one model folder (see the module docstring)."""
    tok = tok or AutoTokenizer.from_pretrained(folder)
    eos = eos_token_ids(folder, tok)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=DTYPES[args.dtype]).to(args.device).eval()
    dec = RuntimeDecoder(model, eos)
    per, examples = [], [r[3] for r in rows if r[3] is not None]
    for pid, cat, ids, _, _ in rows:
        g, _ = dec.decode(ids, args.new_tokens, "ar")
        row = dict(id=pid, category=cat, prompt_tokens=len(ids), tokens=len(g), greedy=g)
        equal = True
        for mode in ("tr-jacobi", "jacobi"):
            out, st = dec.decode(ids, args.new_tokens, mode, Mulberry32(args.draft_seed))
            row[mode.replace("-", "_") + "_steps"] = st["steps"]
            equal &= out == g
        if "top10-proxy" in args.extras:
            d = Decoder(model, eos)
            t, steps, _ = d.jacobi(ids, args.new_tokens, XorShift32(1 + int(pid) if str(pid).isdigit() else 1),
                                   WINDOW, topk=TOPK_TREE, truth=g)
            equal &= t == g
            row["top10_proxy_steps"] = steps
        row["greedy_equal"] = equal
        per.append(row)
    m = dict(model=str(folder), eos_token_ids=eos, prompts=len(per), greedy_equal=all(r["greedy_equal"] for r in per))
    toks = [r["tokens"] for r in per]
    kinds = ["tr_jacobi", "jacobi"] + (["top10_proxy"] if "top10-proxy" in args.extras else [])
    for kind in kinds:
        v, lo, hi, _ = bootstrap(toks, [r[f"{kind}_steps"] for r in per])
        m[f"{kind}_mat"] = ci(v, lo, hi)
    cats = sorted({r["category"] for r in per})
    m["tr_jacobi_mat_per_category"] = {c: dict(prompts=sum(r["category"] == c for r in per),
                                             mat=round(sum(r["tokens"] for r in per if r["category"] == c) /
                                                       sum(r["tr_jacobi_steps"] for r in per if r["category"] == c), 4))
                                       for c in cats}
    if examples:
        s, c = example_losses(model, examples)
        v, lo, hi, _ = bootstrap(s, c)
        m["heldout_loss"] = ci(v, lo, hi)
        m["heldout_examples"] = len(examples)
        m["_loss_sums"] = (s, c)
    return m, per


def paired_diff(a, b, key, n):
    idx = np.random.default_rng(0).integers(0, n, size=(N_BOOT, n))
    ta, sa = np.array([r["tokens"] for r in a], float), np.array([r[key] for r in a], float)
    tb, sb = np.array([r["tokens"] for r in b], float), np.array([r[key] for r in b], float)
    d = ta[idx].sum(1) / sa[idx].sum(1) - tb[idx].sum(1) / sb[idx].sum(1)
    return ci(ta.sum() / sa.sum() - tb.sum() / sb.sum(), np.percentile(d, 2.5), np.percentile(d, 97.5))


def main_one(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF model folder to evaluate")
    ap.add_argument("--compare", default=None, help="a second folder (e.g. the plain-SFT twin), same prompts")
    ap.add_argument("--data", default=str(ROOT / "train/data/build/sft_val.jsonl"),
                    help="evaluation rows: chat .jsonl or code prompt/response .jsonl (default: validation pairs)")
    ap.add_argument("--chat-template", default=None, help="Jinja file replacing the tokenizer's chat template")
    ap.add_argument("--out", default=None, help="metrics JSON to write")
    ap.add_argument("--n-prompts", type=int, default=N_PROMPTS)
    ap.add_argument("--max-prompt-tokens", type=int, default=MAX_PROMPT_TOKENS)
    ap.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    ap.add_argument("--draft-seed", type=int, default=CLI_DRAFT_SEED, help="Mulberry32 seed of the drafts (the CLI's)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--extras", default="", help="comma-separated extras: top10-proxy")
    args = ap.parse_args(argv)
    args.extras = [e for e in args.extras.split(",") if e]
    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.time()
    template = Path(args.chat_template).read_text() if args.chat_template else None
    tok = AutoTokenizer.from_pretrained(args.model)
    rows = load_eval_rows(tok, args.data, args.n_prompts, args.max_prompt_tokens, template,
                          eos_token_ids(args.model, tok))
    out = dict(data=str(args.data), new_tokens=args.new_tokens, draft_seed=args.draft_seed, dtype=args.dtype,
               device=args.device, tree="paper (69 nodes: retrieval chain + mc_sim_7b_63), fixed", extras=args.extras)
    m, per = evaluate_model(args.model, rows, args, tok)
    out["model"] = m
    out["per_prompt"] = {"model": per}
    if args.compare:
        m2, per2 = evaluate_model(args.compare, rows, args)
        out["compare"] = m2
        out["per_prompt"]["compare"] = per2
        out["diff_model_minus_compare"] = {f"{k}_mat": paired_diff(per, per2, f"{k}_steps", len(per))
                                           for k in ("tr_jacobi", "jacobi")}
        if "_loss_sums" in m and "_loss_sums" in m2:
            (s1, c1), (s2, c2) = m["_loss_sums"], m2["_loss_sums"]
            idx = np.random.default_rng(0).integers(0, len(s1), size=(N_BOOT, len(s1)))
            a, b, c = np.array(s1), np.array(s2), np.array(c1, float)
            rel = (a[idx].sum(1) / c[idx].sum(1)) / (b[idx].sum(1) / c[idx].sum(1)) - 1
            out["diff_model_minus_compare"]["heldout_loss_rel"] = ci(a.sum() / b.sum() - 1, np.percentile(rel, 2.5),
                                                                     np.percentile(rel, 97.5))
    for k in ("model", "compare"):
        if k in out:
            out[k].pop("_loss_sums", None)
    out["eval_time_s"] = round(time.time() - t0, 1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
    summary = {k: v for k, v in out.items() if k != "per_prompt"}
    print(json.dumps(summary, indent=1))
    if not m["greedy_equal"] or (args.compare and not out["compare"]["greedy_equal"]):
        raise SystemExit("evaluate: a parallel decoding output differs from greedy decoding (see per_prompt greedy_equal)")
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--model" in argv or any(a.startswith("--model=") for a in argv):
        return main_one(argv)
    return main_three(argv)


if __name__ == "__main__":
    main()
