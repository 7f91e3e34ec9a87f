"""
MSN (or plain SFT) fine-tuning of any Hugging Face causal LM, on chat data or on the project's code pairs.
The two twins share data, steps, batch order and seed; only the collator's noise differs. Uses the HF
Trainer, so the same file runs on one CPU, one GPU, several GPUs (torchrun / accelerate, DDP), FSDP
(accelerate launch --config_file train/accelerate/fsdp_8gpu.yaml) or DeepSpeed ZeRO-3 (untested in CI):

    .venv/bin/python train/finetune.py --base train/out/tiny/base --mode msn --out train/out/tiny/msn
    .venv/bin/python train/finetune.py --base <folder> --data chat.jsonl --mode msn --lora 8,16 --out <dir>
    .venv/bin/python train/finetune.py ... --resume                # continue from the last checkpoint
    accelerate launch --config_file train/accelerate/fsdp_8gpu.yaml train/finetune.py --base <folder> \\
        --data chat.jsonl --mode msn --bf16 --grad-checkpointing --out <dir>
    torchrun --nproc_per_node=2 train/finetune.py ...               # data-parallel

DATA (--data):
  a .jsonl file of {"messages": [{"role", "content"}...]} or ShareGPT {"conversations": [{"from", "value"}]}
      -> chat data (chat_data.py): rendered with the base's chat template (or --chat-template), loss on the
      assistant tokens (with their end-of-turn tokens) only, the MSN segment inside an assistant message's
      content; validation = --val-data, else min(256, 2 %) conversations held out (seeded);
      packed by default (--no-packing to pad instead): short examples share a row of <= --max-len tokens
      with per-example attention (position ids restart); longer ones are truncated to --max-len and counted
      (finetune_log.json "data": truncated / dropped = no assistant token left);
  a folder with sft_{train,val}.jsonl -> the code pairs of sft_format.py (prompt + response + EOS, where
      EOS is the tokenizer's eos_token); pairs longer than --max-len are dropped (counted).
MEMORY: --bf16 = bf16 autocast with fp32 master weights (full fine-tuning); with --lora r,alpha the
  frozen base is loaded in bf16 and only the adapters (fp32) train; --grad-checkpointing. LoRA (peft,
  all linear layers by default) is merged into the base weights when saving, so <out> is a plain folder.
SAVING is collective (collective.py): every rank joins the state-dict gather (FSDP / ZeRO-3 shards), rank 0
  writes <out> (safetensors shards <= 1 GB, tokenizer files and chat template verbatim, generation_config
  with every EOS id of the base), then rank 0 alone loads the written folder and computes the validation
  loss (finetune_log.json).
For a real 1-8B base lower --lr (e.g. 2e-5 full, 2e-4 LoRA) and raise --max-len (train/README.md, "Recipe").
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, Trainer, TrainingArguments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_data import bos_prefix, encode_rows, eos_token_ids, is_chat_file, read_chat_jsonl  # noqa: E402
from collective import barrier, rank, save_pretrained_collective  # noqa: E402
from model_card import hardware  # noqa: E402
from msn import SFTCollator, from_pair, pack_examples  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------------------
# defaults (tiny model on this 2-core CPU: ~6 min per twin)
MODE = "msn"            # msn | sft
NOISE_LEN = 5           # the paper's L: tokens per noise segment
MAX_LEN = 256           # code pairs longer than this are dropped; chat examples are truncated to it
BATCH_SIZE = 16         # per device (rows; a packed row holds several examples)
MAX_STEPS = 400         # tiny: ~0.45 epoch over the ~14k pairs that fit in 256 tokens
LR = 1e-3               # peak, cosine to 0; 1e-5..5e-5 for pretrained 1-8B models (LoRA: ~2e-4)
WARMUP_STEPS = 20
WEIGHT_DECAY = 0.0
SEED = 1234
THREADS = 2
MAX_SHARD = "1GB"       # safetensors shards of the saved folder (decimal GB < 1 GiB)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "tokenizer.model")


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def load_pairs(path: Path, tok, max_len: int, limit: int = 0, stats: dict | None = None):
    """Tokenised code pairs ({"input_ids", "n_prompt"}) that fit in max_len: [BOS if the tokenizer adds one]
    + encode(prompt) + encode(response) + [the tokenizer's EOS] (= sft_format.sft_ids for the project's
    tokenizer: no BOS, EOS <|endoftext|>)."""
    pairs = [json.loads(line) for line in open(path)]
    if limit:
        pairs = pairs[: limit * 2]
    enc = lambda texts: tok(texts, add_special_tokens=False)["input_ids"]   # batched (fast tokenizer)
    prompts, responses = enc([p["prompt"] for p in pairs]), enc([p["response"] for p in pairs])
    eos, pre = tok.eos_token_id, bos_prefix(tok)     # [BOS] when the tokenizer adds one to raw text
    rows, too_long = [], 0
    for p, r in zip(prompts, responses):
        p = pre + p
        ids = p + r + [eos]
        if len(ids) <= max_len and len(r) >= 1:
            rows.append(dict(input_ids=ids, n_prompt=len(p)))
        else:
            too_long += len(r) >= 1
        if limit and len(rows) >= limit:
            break
    if stats is not None:
        stats.update(pairs=len(rows), dropped_too_long=too_long)
    return rows


def load_data(args, tok, eos_ids):
    """(train examples, val examples, stats, chat?) from --data (chat .jsonl or code-pair folder)."""
    if is_chat_file(args.data):
        template = Path(args.chat_template).read_text() if args.chat_template else None
        if template is None and not getattr(tok, "chat_template", None):
            raise SystemExit(f"finetune: {args.tokenizer or args.base} has no chat template; pass --chat-template FILE")
        rows = read_chat_jsonl(args.data)
        if args.val_data:
            val_rows = read_chat_jsonl(args.val_data)
        else:
            order = list(range(len(rows)))
            random.Random(args.seed).shuffle(order)
            n_val = min(256, max(1, len(rows) // 50))
            val_rows = [rows[i] for i in sorted(order[:n_val])]
            rows = [rows[i] for i in sorted(order[n_val:])]
        if args.limit_train:
            rows = rows[: args.limit_train]
        train, stats = encode_rows(tok, rows, template, eos_ids, args.max_len)
        val, vstats = encode_rows(tok, val_rows[:256], template, eos_ids, args.max_len)
        stats = dict(format="chat", train=stats, val=vstats)
        return train, val, stats, True
    stats, vstats = {}, {}
    train = load_pairs(Path(args.data, "sft_train.jsonl"), tok, args.max_len, args.limit_train, stats)
    val = load_pairs(Path(args.data, "sft_val.jsonl"), tok, args.max_len, 256, vstats)
    return train, val, dict(format="code_pairs", train=stats, val=vstats), False


@torch.no_grad()
def response_loss(model, rows, pad_id, batch_size=32):
    """Mean cross-entropy over the label tokens (assistant / response tokens incl. EOS), clean inputs."""
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


def parse_lora(spec):
    """'r,alpha' -> (r, alpha); None -> None. @throws argparse.ArgumentTypeError."""
    try:
        r, a = (int(x) for x in spec.split(","))
        assert r > 0 and a > 0
        return r, a
    except Exception:
        raise argparse.ArgumentTypeError(f"--lora takes r,alpha (two positive integers, e.g. 8,16), got {spec!r}")


def lora_config(args):
    from peft import LoraConfig
    r, alpha = args.lora
    targets = args.lora_targets.split(",") if args.lora_targets != "all-linear" else "all-linear"
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=args.lora_dropout, target_modules=targets,
                      task_type="CAUSAL_LM")


def write_side_files(out: Path, args, tok, eos_ids):
    """Tokenizer files copied verbatim (HF's re-save changes the merges form), the chat template kept, and
    generation_config.json with every EOS id (the base's own file when it has one)."""
    tok_src = Path(args.tokenizer or args.base)
    if (tok_src / "tokenizer.json").is_file():
        for f in TOKENIZER_FILES:
            if (tok_src / f).is_file():
                shutil.copy(tok_src / f, out / f)
    else:
        tok.save_pretrained(str(out))
    if args.chat_template:
        shutil.copy(args.chat_template, out / "chat_template.jinja")
    src = Path(args.base, "generation_config.json")
    gen = GenerationConfig.from_pretrained(args.base) if src.is_file() else GenerationConfig()
    if gen.bos_token_id is None and tok.bos_token_id is not None:
        gen.bos_token_id = tok.bos_token_id
    gen.eos_token_id = eos_ids if len(eos_ids) > 1 else eos_ids[0]
    if gen.pad_token_id is None and tok.pad_token_id is not None:
        gen.pad_token_id = tok.pad_token_id
    gen.save_pretrained(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="HF causal LM folder to start from")
    ap.add_argument("--mode", choices=["msn", "sft"], default=MODE)
    ap.add_argument("--noise-len", type=int, default=NOISE_LEN)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(ROOT / "train/data/build"),
                    help="chat .jsonl (messages / ShareGPT conversations) or a folder with sft_{train,val}.jsonl")
    ap.add_argument("--val-data", default=None, help="chat .jsonl for the validation loss (chat data)")
    ap.add_argument("--chat-template", default=None, help="Jinja file replacing the tokenizer's chat template")
    ap.add_argument("--packing", action=argparse.BooleanOptionalAction, default=None,
                    help="pack short examples into rows of --max-len (default: on for chat data, off for code pairs)")
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
    ap.add_argument("--limit-train", type=int, default=0, help="use only the first N pairs / conversations (tests)")
    ap.add_argument("--bf16", action="store_true", help="bf16 mixed precision (fp32 master weights; LoRA: bf16 base)")
    ap.add_argument("--lora", type=parse_lora, default=None, metavar="R,ALPHA", help="LoRA adapters (peft), merged at save")
    ap.add_argument("--lora-dropout", type=float, default=0.0)
    ap.add_argument("--lora-targets", default="all-linear", help="comma-separated module names, or all-linear")
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--max-shard", default=MAX_SHARD, help="largest safetensors shard of the saved folder")
    ap.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/ if present")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    tok = AutoTokenizer.from_pretrained(args.tokenizer or args.base)
    eos_ids = eos_token_ids(args.base, tok)
    if not eos_ids:
        raise SystemExit(f"finetune: no EOS token in {args.base} (generation_config.json, config.json or the tokenizer)")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]
    train_rows, val_rows, data_stats, chat = load_data(args, tok, eos_ids)
    packing = chat if args.packing is None else args.packing
    if not train_rows:
        raise SystemExit(f"finetune: no training examples in {args.data}")
    if packing:
        lengths = [len(r["input_ids"]) for r in train_rows]
        bins = pack_examples(lengths, args.max_len, args.seed)
        train_ds = ListDataset([dict(examples=[train_rows[i] for i in b]) for b in bins])
        data_stats["packed_rows"] = len(bins)
    else:
        train_ds = ListDataset(train_rows)

    dtype = torch.bfloat16 if (args.lora and args.bf16) else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.base, dtype=dtype)
    model.config.use_cache = False        # no KV cache in training (and packed rows need none)
    lcfg = None
    if args.lora:
        from peft import get_peft_model
        lcfg = lora_config(args)
        model = get_peft_model(model, lcfg)

    targs = TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum, max_steps=args.max_steps, learning_rate=args.lr,
        lr_scheduler_type="cosine", warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
        adam_beta2=0.95, max_grad_norm=1.0, logging_steps=10, save_steps=args.save_steps, save_total_limit=1,
        seed=args.seed, data_seed=args.seed, report_to="none", use_cpu=not torch.cuda.is_available(),
        bf16=args.bf16, gradient_checkpointing=args.grad_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if args.grad_checkpointing else None,
        # less padding (same order for both twins: data_seed); packed rows are already full
        train_sampling_strategy="random" if packing else "group_by_length",
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    collator = SFTCollator(args.mode, noise_len=args.noise_len, pad_id=pad_id, seed=args.seed, pack=packing)
    trainer = Trainer(model=model, args=targs, train_dataset=train_ds, data_collator=collator, processing_class=tok)
    last = None
    if args.resume and (out / "checkpoints").is_dir():
        ck = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        last = str(ck[-1]) if ck else None
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    train_time = time.time() - t0

    # Collective: every rank joins the gather; rank 0 writes the (merged) folder.
    wrapped = trainer.model_wrapped if trainer.model_wrapped is not None else trainer.model
    save_pretrained_collective(wrapped, out, accelerator=trainer.accelerator, lora_config=lcfg, base=args.base,
                               max_shard_size=args.max_shard)
    if rank() == 0:
        write_side_files(out, args, tok, eos_ids)
        # one rank evaluates the written folder (what export.py and the runtime will read)
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        saved = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).to(dev)
        val_loss = response_loss(saved, val_rows, pad_id)
        del saved
        log = dict(base=str(args.base), mode=args.mode, noise_len=args.noise_len if args.mode == "msn" else 0,
                   max_steps=args.max_steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                   world_size=int(os.environ.get("WORLD_SIZE", "1")), lr=args.lr, seed=args.seed,
                   data=data_stats, packing=packing, max_len=args.max_len, bf16=args.bf16,
                   lora=dict(r=args.lora[0], alpha=args.lora[1], targets=args.lora_targets, merged=True) if args.lora else None,
                   eos_token_ids=eos_ids,
                   train_pairs=len(train_rows), epochs=round(trainer.state.epoch or 0, 3),
                   tokens_seen=int(trainer.state.num_input_tokens_seen or 0), train_time_s=round(train_time, 1),
                   hardware=hardware("cuda" if torch.cuda.is_available() else "cpu", args.threads),
                   train_loss=round(result.training_loss, 4), val_response_loss=round(val_loss, 4),
                   log_history=trainer.state.log_history)
        (out / "finetune_log.json").write_text(json.dumps(log, indent=1))
        print(f"{args.mode}: {len(train_rows)} examples, {args.max_steps} steps, train loss {result.training_loss:.4f}, "
              f"val response loss {val_loss:.4f} (ppl {math.exp(val_loss):.1f}), {train_time / 60:.1f} min -> {out}")
    barrier()


if __name__ == "__main__":
    main()
