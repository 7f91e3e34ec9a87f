"""
Pretrain a small Llama code model from scratch on the raw Python corpus (stage a of the pipeline).
One file, nanoGPT style: defaults at the top, one loop at the bottom. Written 2025 for msn-webgpu;
assumes the data built by prepare_data.py + tokenizer.py (uint16 token files, <|endoftext|> separators).

    # the shipped tiny model on this 2-core CPU (~25 min), in the background, resumable:
    nohup nice -n 19 .venv/bin/python train/pretrain.py --size tiny --out train/out/tiny/base > train/out/tiny_pretrain.log 2>&1 &
    .venv/bin/python train/pretrain.py --size tiny --out train/out/tiny/base --resume    # continue after a stop
    # small on one GPU (bf16 autocast, torch.compile):
    python train/pretrain.py --size small --device cuda --batch-size 64 --max-steps 4000 --lr 1.5e-3 --compile

Checkpoints (model + optimizer + step + RNG) go to <out>/ckpt.pt every --ckpt-interval steps; the final
model is saved in HF format (float32) to <out>/ (config.json + model.safetensors) with train_log.json.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import make_model, n_params  # noqa: E402
from model_card import hardware  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Config:
    size: str = "tiny"                # toy | tiny | small (model.py)
    data: str = "train/data/build"  # train.bin / val.bin (uint16); relative paths are from the repo root
    out: str = str(ROOT / "train/out/tiny/base")
    seq_len: int = 256                # tokens per training window
    batch_size: int = 16              # windows per step (16 x 256 = 4096 tokens/step)
    max_steps: int = 1500             # tiny: ~6.1M tokens (~0.5 epoch), about 25 min on 2 CPU threads
    lr: float = 3e-3                  # peak; small models tolerate high rates
    min_lr: float = 3e-4              # ~lr/10 at the end of the cosine
    warmup_steps: int = 60
    weight_decay: float = 0.1
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 200          # steps between validation estimates (+ checkpoint)
    eval_batches: int = 8
    ckpt_interval: int = 100          # steps between checkpoints
    log_interval: int = 20
    seed: int = 1337
    threads: int = 2                  # torch CPU threads (the machine is shared: keep 2)
    device: str = "cpu"               # cpu | cuda
    compile: bool = False             # torch.compile (GPU)
    resume: bool = False              # continue from <out>/ckpt.pt
    stop_at: int = 0                  # if > 0: checkpoint and exit at this step (time slicing; tests)
    time_budget_min: float = 0.0      # if > 0: after calib_steps, shrink max_steps to fit this wall time
    calib_steps: int = 30             # keep < warmup_steps so the cosine never jumps


def parse_args(argv=None) -> Config:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(Config):
        name = "--" + f.name.replace("_", "-")
        if f.type is bool or f.type == "bool":
            ap.add_argument(name, action="store_true", default=f.default)
        else:
            ap.add_argument(name, type=type(f.default), default=f.default)
    return Config(**vars(ap.parse_args(argv)))


def get_lr(cfg: Config, step: int) -> float:
    # 1) linear warm-up, 2) cosine decay to min_lr, 3) min_lr after max_steps
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.max_steps:
        return cfg.min_lr
    ratio = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def get_batch(data: np.ndarray, cfg: Config, gen: torch.Generator, device):
    ix = torch.randint(len(data) - cfg.seq_len - 1, (cfg.batch_size,), generator=gen)
    x = torch.stack([torch.from_numpy(data[i: i + cfg.seq_len].astype(np.int64)) for i in ix.tolist()])
    y = torch.stack([torch.from_numpy(data[i + 1: i + 1 + cfg.seq_len].astype(np.int64)) for i in ix.tolist()])
    return x.to(device), y.to(device)  # (B, T), (B, T)


def main(cfg: Config):
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    train_data = np.memmap(Path(ROOT, cfg.data, "train.bin"), dtype=np.uint16, mode="r")
    val_data = np.memmap(Path(ROOT, cfg.data, "val.bin"), dtype=np.uint16, mode="r")

    model = make_model(cfg.size).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2),
                            weight_decay=cfg.weight_decay, fused=device.type == "cuda")
    gen = torch.Generator().manual_seed(cfg.seed)
    step, log, t_spent = 0, [], 0.0
    ckpt_path = out / "ckpt.pt"
    if cfg.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        step, log, t_spent = ck["step"], ck["log"], ck["time"]
        print(f"resumed from {ckpt_path} at step {step}")
    fwd = torch.compile(model) if cfg.compile else model
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    print(f"model {cfg.size}: {n_params(model) / 1e6:.2f}M params, train tokens {len(train_data) / 1e6:.2f}M, "
          f"{cfg.batch_size * cfg.seq_len} tokens/step, {cfg.max_steps} steps")

    def loss_of(x, y, m=fwd):
        with amp:
            logits = m(input_ids=x).logits                         # (B, T, V)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1))

    @torch.no_grad()
    def estimate_val():
        model.eval()
        g = torch.Generator().manual_seed(0)                       # same val windows every time
        # the eager model: an eval-mode call of the compiled one would recompile (minutes off the budget)
        losses = [loss_of(*get_batch(val_data, cfg, g, device), m=model).item() for _ in range(cfg.eval_batches)]
        model.train()
        return float(np.mean(losses))

    def save_ckpt():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), gen=gen.get_state(), step=step,
                        log=log, time=t_spent, config=asdict(cfg)), tmp)
        os.replace(tmp, ckpt_path)                                 # atomic: a kill never leaves half a file

    model.train()
    t0 = t_start = t_calib = time.time()
    while step < cfg.max_steps:
        for g in opt.param_groups:
            g["lr"] = get_lr(cfg, step)
        x, y = get_batch(train_data, cfg, gen, device)
        loss = loss_of(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        if cfg.time_budget_min > 0 and step == cfg.calib_steps:
            # fit the run into the time budget: time steps 10..calib_steps (after the compile warm-up)
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_step = (time.time() - t_calib) / (cfg.calib_steps - 10)
            left = cfg.time_budget_min * 60 - (time.time() - t_start)
            cfg.max_steps = min(cfg.max_steps, step + max(1, int(left / per_step)))
            print(f"time budget {cfg.time_budget_min} min: {per_step * 1000:.1f} ms/step -> max_steps {cfg.max_steps}")
        if step == 10:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_calib = time.time()
        if step % cfg.log_interval == 0 or step == cfg.max_steps:
            lossf = loss.item()                                    # a CPU-GPU sync point
            t_spent += time.time() - t0
            t0 = time.time()
            tok_s = step * cfg.batch_size * cfg.seq_len / max(t_spent, 1e-9)
            rec = dict(step=step, loss=round(lossf, 4), lr=get_lr(cfg, step), time_s=round(t_spent, 1))
            if step % cfg.eval_interval == 0 or step == cfg.max_steps:
                rec["val_loss"] = round(estimate_val(), 4)
            log.append(rec)
            print(f"step {step}/{cfg.max_steps} loss {lossf:.4f} lr {rec['lr']:.2e} "
                  f"{'val ' + str(rec['val_loss']) + ' ' if 'val_loss' in rec else ''}"
                  f"{tok_s:.0f} tok/s (avg) {t_spent / 60:.1f} min", flush=True)
        if step % cfg.ckpt_interval == 0 or step == cfg.max_steps or step == cfg.stop_at:
            save_ckpt()
        if step == cfg.stop_at:
            print(f"stopped at step {step} (--stop-at); continue with --resume")
            return

    model.save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):  # --base needs them
        if Path(ROOT, cfg.data, "tokenizer", f).is_file():
            shutil.copy(Path(ROOT, cfg.data, "tokenizer", f), out / f)
    summary = dict(config=asdict(cfg), params=n_params(model), steps=step,
                   tokens_seen=step * cfg.batch_size * cfg.seq_len, train_tokens=len(train_data),
                   time_s=round(t_spent, 1), device=cfg.device, threads=cfg.threads,
                   hardware=hardware(cfg.device, cfg.threads),
                   final_val_loss=log[-1].get("val_loss") if log else None, log=log)
    (out / "train_log.json").write_text(json.dumps(summary, indent=1))
    print(f"saved {out} ({summary['tokens_seen'] / 1e6:.2f}M tokens in {t_spent / 60:.1f} min)")


if __name__ == "__main__":
    main(parse_args())
