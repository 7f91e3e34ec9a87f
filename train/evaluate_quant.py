"""
Held-out quality of the shipped MSN model with load-time quantized weights (issue 12, item 8): the
held-out response loss and the Jacobi / tree-proxy MAT of train/evaluate.py (same pairs, prompts,
definitions, float64, bootstrap), computed on the f16 weights as shipped and on their q8 and q4
dequantized twins, and saved with the commit and settings.

    .venv/bin/python train/evaluate_quant.py                       # defaults below, writes bench/results/quant-quality.json
    .venv/bin/python train/evaluate_quant.py --n-prompts 200       # every decoding prompt of evaluate.py (slow here)

WEIGHTS: every nn.Linear weight and the token embedding (tied to lm_head in the shipped model, so one
  matrix) is replaced by `dequantize(**quantize(w.float(), bits, group))` of train/quantize_ref.py, the
  PyTorch twin of the runtime's rule (src/model/quantize.ts; format v2, symmetric, group G = 32 by
  default), then the model runs in float64 as evaluate.py does. Norm weights stay as shipped (the runtime
  does not quantize them either). "f16" = the shipped weights, no quantization.
LOSS: all held-out pairs (train/data/build/sft_test.jsonl, <= 256 tokens), evaluate.pair_losses; the f16
  value equals the card's heldout_loss_msn. "rel_vs_f16" = loss / loss_f16 - 1, with a paired bootstrap
  interval (the same pairs resampled together).
MAT: decoding prompts = evaluate.load_prompts with --n-prompts (the evaluate.py selection, evenly spaced
  over train/data/test_prompts.jsonl; 200 = evaluate.py's set, the default 40 is a subset that fits this
  shared 2-core machine); evaluate.decode_rows asserts Jacobi and tree-proxy output == greedy for every
  weight variant. "greedy_identical_to_f16" counts prompts whose quantized greedy output equals the f16 one.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import N_BOOT, NEW_TOKENS, ROOT, TOPK_TREE, WINDOW, bootstrap, ci, decode_rows, load_model  # noqa: E402
from evaluate import load_pairs, load_prompts, pair_losses  # noqa: E402
from quantize_ref import dequantize, quantize  # noqa: E402
from sft_format import EOT  # noqa: E402

OUT = "bench/results/quant-quality.json"
N_PROMPTS = 40
VARIANTS = ("f16", "q8", "q4")


@torch.no_grad()
def quantize_model_(model, bits: int, group: int) -> list[str]:
    """Replace, in place, every nn.Linear weight and every nn.Embedding weight of `model` by its
    dequantized q`bits` twin (train/quantize_ref.py, group `group`), in the model's dtype. A weight
    shared by several modules (tied embedding / lm_head) is quantized once. Returns the names of the
    quantized weights (the first module name of each)."""
    done, names = set(), []
    for name, mod in model.named_modules():
        if not isinstance(mod, (torch.nn.Linear, torch.nn.Embedding)):
            continue
        w = mod.weight
        if id(w) in done:
            continue
        done.add(id(w))
        w.copy_(dequantize(**quantize(w.detach().float(), bits, group)).to(w.dtype))
        names.append(name)
    return names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "public/models/msn-code-tiny"))
    ap.add_argument("--out", default=str(ROOT / OUT))
    ap.add_argument("--group-size", type=int, default=32)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma list of f16, q8, q4 (f16 is needed for the diffs)")
    ap.add_argument("--pairs", default=str(ROOT / "train/data/build/sft_test.jsonl"))
    ap.add_argument("--prompts", default=str(ROOT / "train/data/test_prompts.jsonl"))
    ap.add_argument("--n-prompts", type=int, default=N_PROMPTS)
    ap.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    ap.add_argument("--window", type=int, default=WINDOW)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    variants = args.variants.split(",")
    if "f16" not in variants or any(v not in VARIANTS for v in variants):
        ap.error(f"--variants must include f16 and name only {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(args.model)
    eos = tok.convert_tokens_to_ids(EOT)
    pairs_path, pair_rows = load_pairs(tok, args.pairs, args.prompts)
    prompts = load_prompts(tok, args.prompts, args.n_prompts)
    rel = lambda p: str(Path(p).resolve().relative_to(ROOT)) if Path(p).resolve().is_relative_to(ROOT) else str(p)  # noqa: E731
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    res = dict(schema=1, date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), commit=commit,
               model=rel(args.model), command="train/evaluate_quant.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               rule="train/quantize_ref.py dequantize(**quantize(w.float(), bits, group)) (= src/model/quantize.ts)",
               group_size=args.group_size, dtype="float64", heldout_pairs=len(pair_rows),
               heldout_pairs_source=rel(pairs_path), decode_prompts=len(prompts),
               decode_prompts_selection=f"evaluate.load_prompts(n_prompts={args.n_prompts}): evenly spaced over "
                                        f"{rel(args.prompts)} (<= 192 prompt tokens)",
               decode_prompt_ids=[pid for pid, _, _ in prompts], new_tokens=args.new_tokens, window=args.window,
               tree_topk=TOPK_TREE, bootstrap_resamples=N_BOOT, variants={})
    losses, rows = {}, {}
    for v in variants:
        model = load_model(args.model)
        quantized = [] if v == "f16" else quantize_model_(model, int(v[1:]), args.group_size)
        s, c = pair_losses(model, pair_rows)
        losses[v] = (np.array(s), np.array(c, float))
        r = decode_rows(model, eos, prompts, args.new_tokens, args.window, v)
        rows[v] = r
        toks = [x["tokens"] for x in r]
        out = dict(quantized_weights=quantized, heldout_loss=ci(*bootstrap(s, c)[:3]),
                   jacobi_mat=ci(*bootstrap(toks, [x["jacobi_steps"] for x in r])[:3]),
                   tree_mat=ci(*bootstrap(toks, [x["tree_steps"] for x in r])[:3]),
                   greedy_mean_tokens=round(float(np.mean(toks)), 2))
        res["variants"][v] = out
        print(f"{v}: loss {out['heldout_loss']['value']}, jacobi MAT {out['jacobi_mat']['value']}, "
              f"tree MAT {out['tree_mat']['value']} ({time.time() - t0:.0f}s)", flush=True)
    # paired comparisons with f16: the same pairs / prompts resampled together (numpy seed 0, as evaluate.py)
    ip = np.random.default_rng(0).integers(0, len(pair_rows), size=(N_BOOT, len(pair_rows)))
    iq = np.random.default_rng(0).integers(0, len(prompts), size=(N_BOOT, len(prompts)))
    ratio = lambda num, den, idx: num[idx].sum(1) / den[idx].sum(1)  # noqa: E731
    base = res["variants"]["f16"]
    for v in variants:
        if v == "f16":
            continue
        out = res["variants"][v]
        d = ratio(*losses[v], ip) / ratio(*losses["f16"], ip) - 1
        out["heldout_loss_rel_vs_f16"] = ci(out["heldout_loss"]["value"] / base["heldout_loss"]["value"] - 1,
                                            np.percentile(d, 2.5), np.percentile(d, 97.5))
        for kind in ("jacobi", "tree"):
            arr = lambda n, k=kind: (np.array([x["tokens"] for x in rows[n]], float),  # noqa: E731
                                     np.array([x[f"{k}_steps"] for x in rows[n]], float))
            d = ratio(*arr(v), iq) - ratio(*arr("f16"), iq)
            out[f"{kind}_mat_diff_vs_f16"] = ci(out[f"{kind}_mat"]["value"] - base[f"{kind}_mat"]["value"],
                                                np.percentile(d, 2.5), np.percentile(d, 97.5))
        out["greedy_identical_to_f16"] = sum(a["greedy"] == b["greedy"] for a, b in zip(rows[v], rows["f16"]))
    res["per_prompt"] = {v: [{k: x for k, x in r.items() if k != "greedy"} for r in rs] for v, rs in rows.items()}
    res["eval_time_s"] = round(time.time() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: x for k, x in res.items() if k != "per_prompt"}, indent=1))


if __name__ == "__main__":
    main()
