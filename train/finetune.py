"""
Fine-tune any HF causal LM on the signature+docstring -> body pairs, with MSN noise or as plain SFT
(stage b). The two twins share data, steps, batch order and seed; only the collator's noise differs.
Uses the HF Trainer, so the same file runs on one CPU, one GPU, or several GPUs unchanged:

    .venv/bin/python train/finetune.py --base train/out/tiny/base --mode msn --out train/out/tiny/msn
    .venv/bin/python train/finetune.py --base train/out/tiny/base --mode sft --out train/out/tiny/sft
    .venv/bin/python train/finetune.py ... --resume                # continue from the last checkpoint
    accelerate launch train/finetune.py --base <hf-folder> --mode msn --out <dir> --bf16 ...
    torchrun --nproc_per_node=8 train/finetune.py --base <hf-folder> --mode msn --out <dir> --bf16 ...

--base is any folder (or hub id already in the local cache) that AutoModelForCausalLM/AutoTokenizer load;
its tokenizer is used unless --tokenizer is given. The SFT format is sft_format.py's (see train/README.md).
For a real 1-8B base lower --lr (e.g. 2e-5), raise --max-len, and add --bf16 --grad-checkpointing.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from msn import SFTCollator  # noqa: E402
from model_card import hardware  # noqa: E402
from sft_format import eos_id  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------------------
# defaults (tiny model on this 2-core CPU: ~6 min per twin)
MODE = "msn"            # msn | sft
NOISE_LEN = 5           # the paper's L: tokens per noise segment
MAX_LEN = 256           # pairs longer than this (prompt + response + eos) are dropped
BATCH_SIZE = 16         # per device
MAX_STEPS = 400         # tiny: ~0.45 epoch over the ~14k pairs that fit in 256 tokens
LR = 1e-3               # peak, cosine to 0; 1e-5..5e-5 for pretrained 1-8B models
WARMUP_STEPS = 20
WEIGHT_DECAY = 0.0
SEED = 1234
THREADS = 2


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def load_pairs(path: Path, tok, max_len: int, limit: int = 0):
    """Tokenised pairs ({"input_ids", "n_prompt"}) that fit in max_len; same ids as sft_format.sft_ids."""
    pairs = [json.loads(line) for line in open(path)]
    if limit:
        pairs = pairs[: limit * 2]
    enc = lambda texts: tok(texts, add_special_tokens=False)["input_ids"]   # batched (fast tokenizer)
    prompts, responses = enc([p["prompt"] for p in pairs]), enc([p["response"] for p in pairs])
    eos = eos_id(tok)
    rows = []
    for p, r in zip(prompts, responses):
        ids = p + r + [eos]
        if len(ids) <= max_len and len(r) >= 1:
            rows.append(dict(input_ids=ids, n_prompt=len(p)))
        if limit and len(rows) >= limit:
            break
    return rows


@torch.no_grad()
def response_loss(model, rows, pad_id, batch_size=32):
    """Mean cross-entropy over response tokens (incl. eos) with clean inputs."""
    collate = SFTCollator("sft", pad_id=pad_id)
    model.eval()
    tot, n = 0.0, 0
    dev = next(model.parameters()).device
    for i in range(0, len(rows), batch_size):
        b = {k: v.to(dev) for k, v in collate(rows[i: i + batch_size]).items()}
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
        y = b["labels"][:, 1:]
        ce = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), y.reshape(-1),
                                               ignore_index=-100, reduction="sum")
        tot += ce.item()
        n += (y != -100).sum().item()
    return tot / max(n, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="HF causal LM folder to start from")
    ap.add_argument("--mode", choices=["msn", "sft"], default=MODE)
    ap.add_argument("--noise-len", type=int, default=NOISE_LEN)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(ROOT / "train/data/build"), help="folder with sft_{train,val}.jsonl")
    ap.add_argument("--tokenizer", default=None, help="tokenizer folder (default: --base)")
    ap.add_argument("--max-len", type=int, default=MAX_LEN)
    ap.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=MAX_STEPS)
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--warmup-steps", type=int, default=WARMUP_STEPS)
    ap.add_argument("--weight-decay", type=float, default=WEIGHT_DECAY)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--save-steps", type=int, default=100, help="checkpoint interval (for --resume)")
    ap.add_argument("--limit-train", type=int, default=0, help="use only the first N pairs (tests)")
    ap.add_argument("--bf16", action="store_true", help="bf16 mixed precision (GPU)")
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/ if present")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    tok = AutoTokenizer.from_pretrained(args.tokenizer or args.base)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    train_rows = load_pairs(Path(args.data, "sft_train.jsonl"), tok, args.max_len, args.limit_train)
    val_rows = load_pairs(Path(args.data, "sft_val.jsonl"), tok, args.max_len, 256)
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)

    targs = TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum, max_steps=args.max_steps, learning_rate=args.lr,
        lr_scheduler_type="cosine", warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
        adam_beta2=0.95, max_grad_norm=1.0, logging_steps=10, save_steps=args.save_steps, save_total_limit=1,
        seed=args.seed, data_seed=args.seed, report_to="none", use_cpu=not torch.cuda.is_available(),
        bf16=args.bf16, gradient_checkpointing=args.grad_checkpointing,
        train_sampling_strategy="group_by_length",  # less padding; same order for both twins (data_seed)
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    collator = SFTCollator(args.mode, noise_len=args.noise_len, pad_id=pad_id, seed=args.seed)
    trainer = Trainer(model=model, args=targs, train_dataset=ListDataset(train_rows), data_collator=collator)
    last = None
    if args.resume and (out / "checkpoints").is_dir():
        ck = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        last = str(ck[-1]) if ck else None
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    train_time = time.time() - t0

    if trainer.is_world_process_zero():
        trainer.save_model(str(out))
        tok_src = Path(args.tokenizer or args.base)
        if (tok_src / "tokenizer.json").is_file():   # copy verbatim: HF's re-save changes the merges form
            for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                if (tok_src / f).is_file():
                    shutil.copy(tok_src / f, out / f)
        else:
            tok.save_pretrained(str(out))
        val_loss = response_loss(trainer.model, val_rows, pad_id)
        log = dict(base=str(args.base), mode=args.mode, noise_len=args.noise_len if args.mode == "msn" else 0,
                   max_steps=args.max_steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                   world_size=int(os.environ.get("WORLD_SIZE", "1")), lr=args.lr, seed=args.seed,
                   train_pairs=len(train_rows), epochs=round(trainer.state.epoch or 0, 3),
                   tokens_seen=int(trainer.state.num_input_tokens_seen or 0), train_time_s=round(train_time, 1),
                   hardware=hardware("cuda" if torch.cuda.is_available() else "cpu", args.threads),
                   train_loss=round(result.training_loss, 4), val_response_loss=round(val_loss, 4),
                   log_history=trainer.state.log_history)
        (out / "finetune_log.json").write_text(json.dumps(log, indent=1))
        print(f"{args.mode}: {len(train_rows)} pairs, {args.max_steps} steps, train loss {result.training_loss:.4f}, "
              f"val response loss {val_loss:.4f} (ppl {math.exp(val_loss):.1f}), {train_time / 60:.1f} min -> {out}")


if __name__ == "__main__":
    main()
