"""
Export a trained model folder to the shipped form under public/models/<name>/ and update
public/models/index.json.

    .venv/bin/python train/export.py --model train/out/tiny/msn --name msn-code-tiny --default \\
        --metrics train/out/tiny/training_metrics.json --run train/out/tiny

Writes (f16 weights; shards of at most 15 MB for web-sized models up to 300 MB, else at most 1 GB
(decimal, < 1 GiB); one model.safetensors when it fits; --max-shard overrides):
  config.json (the model's own architectures, torch_dtype/dtype float16, bos/eos/pad ids),
  generation_config.json (the source's own, with every EOS id; built from config + tokenizer otherwise),
  tokenizer.json (merges as "a b"), tokenizer_config.json and the chat template (chat_template.jinja /
  tokenizer_config.json chat_template, kept as they are), special_tokens_map.json when present,
  model.safetensors (or model-0000k-of-0000n.safetensors + model.safetensors.index.json),
  README.md (model card), training_metrics.json, and manifest.json = {"files": [{"path", "size",
  "sha256"}...], "total_bytes"} over every other file in the folder (sorted by path).
--quantize q4|q8 then runs the runtime's converter (`npm run quantize`) on the exported folder, writing
<name>-<q> next to it (pre-quantized weights the runtime loads as they are).
"""
import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, GenerationConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import n_params  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_SHARD = "15MB"  # huggingface_hub units are decimal: 15e6 B < 15 MiB (web-sized models)
MAX_SHARD_LARGE = "1GB"   # 1e9 B < 1 GiB (real 1-8B models)
WEB_SIZED_BYTES = 300e6
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path) -> dict:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")
    rows = [dict(path=p.relative_to(folder).as_posix(), size=p.stat().st_size, sha256=sha256(p)) for p in files]
    man = dict(files=rows, total_bytes=sum(r["size"] for r in rows))
    (folder / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
    return man


def save_f16(model_dir: Path, out: Path, max_shard: str | None = None):
    """Load (any dtype), cast to float16, save HF format in shards (see the module docstring); fix config
    dtype keys; keep the source's generation config with all its EOS ids."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = model.to(torch.float16)
    if max_shard is None:
        max_shard = MAX_SHARD if n_params(model) * 2 <= WEB_SIZED_BYTES else MAX_SHARD_LARGE
    model.save_pretrained(out, max_shard_size=max_shard)
    cfg = json.loads((out / "config.json").read_text())
    cfg["dtype"] = cfg["torch_dtype"] = "float16"
    cfg["architectures"] = cfg.get("architectures") or ["LlamaForCausalLM"]
    cfg["use_cache"] = True
    rope = cfg.get("rope_parameters") or {}
    if "rope_theta" in rope and "rope_theta" not in cfg:   # transformers 4.x / JS readers look here
        cfg["rope_theta"] = rope["rope_theta"]
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if (Path(model_dir) / "generation_config.json").is_file():
        gen = GenerationConfig.from_pretrained(model_dir)
    else:
        gen = GenerationConfig(bos_token_id=cfg.get("bos_token_id"), eos_token_id=cfg.get("eos_token_id"),
                               pad_token_id=cfg.get("pad_token_id"), do_sample=False, max_new_tokens=128)
    gen.save_pretrained(out)
    return model, cfg


def update_index(models_dir: Path, name: str, description: str, make_default: bool):
    path = models_dir / "index.json"
    index = json.loads(path.read_text()) if path.exists() else dict(default=name, models=[])
    index["models"] = [m for m in index["models"] if m["id"] != name]
    index["models"].append(dict(id=name, path=f"{name}/", description=description))
    index["models"].sort(key=lambda m: m["id"])
    if make_default or not index.get("default"):
        index["default"] = name
    path.write_text(json.dumps(index, indent=1) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF folder (fine-tuned model, with tokenizer files)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--models-dir", default=str(ROOT / "public/models"))
    ap.add_argument("--metrics", default=None, help="training_metrics.json from evaluate.py")
    ap.add_argument("--run", default=None, help="run folder with base/ and msn|sft/ logs (for the card)")
    ap.add_argument("--data", default=str(ROOT / "train/data/build"), help="for sources.json (card)")
    ap.add_argument("--tokenizer", default=None, help="folder with tokenizer.json (default: --model)")
    ap.add_argument("--description", default=None)
    ap.add_argument("--default", action="store_true", help="make this the default model in index.json")
    ap.add_argument("--notes", default=None, help="a paragraph for the card's evaluation section")
    ap.add_argument("--max-shard", default=None, help="largest safetensors shard (default: 15MB web-sized, else 1GB)")
    ap.add_argument("--quantize", choices=["q4", "q8"], default=None,
                    help="also run the runtime's quantizer (npm run quantize) into <models-dir>/<name>-<q>")
    args = ap.parse_args(argv)

    src, out = Path(args.model), Path(args.models_dir, args.name)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    model, cfg = save_f16(src, out, args.max_shard)
    tok_src = Path(args.tokenizer) if args.tokenizer else src
    for f in TOKENIZER_FILES:
        if (tok_src / f).is_file():
            shutil.copy(tok_src / f, out / f)
        elif f != "tokenizer.json" and f != "tokenizer_config.json" and (src / f).is_file():
            shutil.copy(src / f, out / f)    # e.g. the chat template saved with the fine-tuned model
    spec = json.loads((out / "tokenizer.json").read_text())
    if spec["model"]["merges"] and not isinstance(spec["model"]["merges"][0], str):
        spec["model"]["merges"] = [" ".join(m) for m in spec["model"]["merges"]]
        (out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))

    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else {}
    ft_log = json.loads((src / "finetune_log.json").read_text()) if (src / "finetune_log.json").exists() else {}
    base_dir = Path(ft_log.get("base", "")) if ft_log else None
    pre_log = {}
    if base_dir and (base_dir / "train_log.json").exists():
        pre_log = json.loads((base_dir / "train_log.json").read_text())
    sources = json.loads(Path(args.data, "sources.json").read_text()) if Path(args.data, "sources.json").exists() else {}
    training = dict(
        params=n_params(model), config={k: cfg[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                           "num_attention_heads", "num_key_value_heads", "vocab_size",
                                                           "max_position_embeddings", "tie_word_embeddings")},
        pretrain={k: v for k, v in pre_log.items() if k != "log"},
        finetune={k: v for k, v in ft_log.items() if k != "log_history"},
    )
    full = dict(model=args.name, mode=ft_log.get("mode"), training=training, **metrics)
    if args.notes:
        full["notes"] = args.notes
    (out / "training_metrics.json").write_text(json.dumps(full, indent=1) + "\n")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from model_card import render_card
    (out / "README.md").write_text(render_card(args.name, full, sources))
    desc = args.description or (f"{n_params(model) / 1e6:.1f}M-parameter Llama code model (Python), "
                                 f"{'MSN' if ft_log.get('mode') == 'msn' else 'plain SFT'} fine-tuned")
    man = write_manifest(out)
    update_index(Path(args.models_dir), args.name, desc, args.default)
    print(f"exported {out}: {len(man['files'])} files, {man['total_bytes'] / 1e6:.2f} MB")
    if args.quantize:
        import subprocess
        qout = Path(args.models_dir, f"{args.name}-{args.quantize}")
        subprocess.run(["npm", "run", "-s", "quantize", "--", "--model", str(out.resolve()), "--out", str(qout.resolve()),
                        "--bits", args.quantize[1:], "--quiet"], cwd=ROOT, check=True)
        print(f"quantized ({args.quantize}) -> {qout}")


if __name__ == "__main__":
    main()
