"""The usual server baseline beside our Node runtime (issue 14 item 5): Hugging Face `generate` in
PyTorch, greedy, on the same models, the same prompt token ids and the same `max_new_tokens` as a
saved `npm run bench` result, on CUDA when there is a GPU (the H200 machine: bench/device.sh runs it
after our benchmark), else on the CPU.

    python3 bench/hf_generate.py --bench <results.json> [--runs 3] [--device auto|cuda|cpu]
                                 [--dtype auto|float32|float16|bfloat16] [--out DIR]

Reads from the results JSON (bench/run.ts `BenchResults`): per model its folder (`models[].model.path`)
and per prompt the ids our engine encoded and our `ar`'s generated ids (`decode.prompts[].promptIds`,
`.arIds`, written by bench/decode.ts). For each model: load (timed), a warm-up generation, then `runs`
rounds over the prompts. Per generation, with a streamer that records when each token arrives:
TTFT = first generated token's arrival - call start (ms); decode tok/s = (n - 1) / (last arrival -
first arrival) over the generated tokens (the same definition as our engine's and the peers
benchmark's); `generate` synchronizes on every step (its stopping check reads the device), so the
arrival times are device-complete. Greedy (`do_sample=False`), stopping at the model's EOS ids as
ours does. Whether HF's ids equal our ar's is recorded per prompt with the first differing position.

dtype `auto` keeps the folder's `torch_dtype` on CUDA (what a server runs) and float32 on the CPU.
Writes <out>/<date>-hf-generate-<device>.json and .md (out: bench/results/tmp by default; the
device script writes to $OUT). Exit 0, or 2 on a bad argument / a results file without prompt ids.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM
from transformers.generation.streamers import BaseStreamer


class ArrivalStreamer(BaseStreamer):
    """Records perf_counter() at each `put` after the first (the first `put` is the prompt)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._prompt_seen = False

    def put(self, value) -> None:  # noqa: ANN001 (transformers passes a LongTensor)
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.arrivals.append(time.perf_counter())

    def end(self) -> None:
        pass


def first_diff(a: list[int], b: list[int]) -> int | None:
    """First index where a and b differ (a length difference counts at the shorter length), else None."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def generate_once(model, ids: list[int], max_new_tokens: int, device: str) -> dict:
    """One greedy generation of `ids`; returns generated ids and timings (ms, tok/s)."""
    x = torch.tensor([ids], dtype=torch.long, device=device)
    streamer = ArrivalStreamer()
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
                             do_sample=False, num_beams=1, streamer=streamer)
    if device == "cuda":
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    gen = out[0, len(ids):].tolist()
    arr = streamer.arrivals or [t1]
    n = len(gen)
    decode_s = arr[-1] - arr[0]
    return {
        "ids": gen, "newTokens": n, "ttftMs": round((arr[0] - t0) * 1000, 3), "decodeMs": round(decode_s * 1000, 3),
        "decodeTokensPerSecond": round((n - 1) / decode_s, 2) if n > 1 and decode_s > 0 else 0.0,
        "wallMs": round((t1 - t0) * 1000, 3),
    }


def run_model(entry: dict, runs: int, device: str, dtype_arg: str, log) -> dict:
    """Load one model folder and time HF generate on its prompts (see the module docstring)."""
    folder = entry["model"]["path"]
    dec = entry["decode"]
    prompts = [p for p in dec["prompts"] if p.get("promptIds")]
    if not prompts:
        raise ValueError(f"{entry['model']['id']}: the results file has no prompt ids (made before bench/decode.ts recorded them)")
    max_new = int(dec["maxNewTokens"])
    if dtype_arg == "auto":
        dtype = "auto" if device == "cuda" else torch.float32
    else:
        dtype = getattr(torch, dtype_arg)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
    if device == "cuda":
        torch.cuda.synchronize()
    load_ms = (time.perf_counter() - t0) * 1000
    log(f"{entry['model']['id']}: loaded in {load_ms:.0f} ms ({model.dtype}, {device})")
    generate_once(model, prompts[-1]["promptIds"], max_new, device)  # warm-up (kernels, allocator)
    rows = []
    for rep in range(1, runs + 1):
        for p in prompts:
            r = generate_once(model, p["promptIds"], max_new, device)
            rows.append({"prompt": p["id"], "rep": rep, **r})
        last = rows[-len(prompts):]
        log(f"  rep {rep}/{runs}: " + ", ".join(f"{r['decodeTokensPerSecond']:.1f}" for r in last) + " tok/s")
    agree = []
    for p in prompts:
        mine = next(r["ids"] for r in rows if r["prompt"] == p["id"])
        d = first_diff(mine, p["arIds"])
        agree.append({"prompt": p["id"], "equal": d is None, "firstDiff": d,
                      "hf": mine[d] if d is not None and d < len(mine) else None,
                      "ours": p["arIds"][d] if d is not None and d < len(p["arIds"]) else None})
    ours = {s["mode"]: s["tokensPerSecond"] for s in dec["suites"].get("all", next(iter(dec["suites"].values())))}
    hf_tps = statistics.median(r["decodeTokensPerSecond"] for r in rows)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return {
        "model": entry["model"]["id"], "path": folder, "dtype": str(dtype if dtype != "auto" else "auto").replace("torch.", ""),
        "loadMs": round(load_ms, 1), "maxNewTokens": max_new, "runs": rows,
        "ttftMsMedian": round(statistics.median(r["ttftMs"] for r in rows), 3),
        "decodeTokensPerSecondMedian": round(hf_tps, 2),
        "idsEqualOurAr": f"{sum(a['equal'] for a in agree)}/{len(agree)}", "agreement": agree,
        "oursTokensPerSecond": ours,
        "oursOverHf": {m: round(v / hf_tps, 3) if hf_tps else None for m, v in ours.items()},
    }


def render_md(res: dict) -> str:
    lines = [f"# Hugging Face generate beside our runtime, {res['date']}", "",
             f"Device {res['device']} ({res['deviceName']}); torch {res['torch']}, transformers {res['transformers']}; "
             f"our results: {res['bench']} ({res['benchAdapter']}).", "",
             "| model | dtype | HF load ms | HF TTFT ms | HF decode tok/s | ours ar tok/s | ours tr-jacobi-adaptive tok/s | HF ids = our ar |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for m in res["models"]:
        o = m["oursTokensPerSecond"]
        lines.append(f"| {m['model']} | {m['dtype']} | {m['loadMs']:.0f} | {m['ttftMsMedian']:.1f} | {m['decodeTokensPerSecondMedian']:.1f} | "
                     f"{o.get('ar', 0):.1f} | {o.get('tr-jacobi-adaptive', 0):.1f} | {m['idsEqualOurAr']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", required=True, help="a results JSON of npm run bench (bench/run.ts) with prompt ids")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"], default="auto")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "tmp"))
    a = ap.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    if device == "cuda" and not torch.cuda.is_available():
        log("--device cuda: torch sees no CUDA device")
        return 2
    bench = json.loads(Path(a.bench).read_text())
    try:
        models = [run_model(e, a.runs, device, a.dtype, log) for e in bench["models"]]
    except ValueError as e:
        log(str(e))
        return 2
    date = dt.date.today().isoformat()
    res = {
        "schema": 1, "date": date, "device": device,
        "deviceName": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "bench": Path(a.bench).name, "benchAdapter": (bench.get("adapter") or {}).get("description") or (bench.get("adapter") or {}).get("architecture", ""),
        "benchCommit": bench.get("commit"), "models": models,
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{date}-hf-generate-{device}"
    stem.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    stem.with_suffix(".md").write_text(render_md(res))
    log(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
