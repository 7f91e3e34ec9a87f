"""
Train the byte-level BPE tokenizer on the train split and tokenise the corpus for pretraining.

    .venv/bin/python train/tokenizer.py            # -> train/data/build/tokenizer/, {train,val,test}.bin

Tokenizer: byte-level BPE (GPT-2 pre-tokenisation regex, no prefix space, no normaliser), VOCAB_SIZE
tokens, special tokens <|endoftext|> (id 0, also used as BOS/EOS/document separator) and <|pad|> (id 1).
No BOS is ever added (no post-processor). tokenizer.json is rewritten with merges as "a b" strings,
the older form, which every reader takes (the runtime reads pairs too; Python tokenizers gives identical ids).

Corpus binaries: uint16 token ids, each document (file) followed by <|endoftext|>.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

# ----------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
VOCAB_SIZE = 4096        # right for a few-M-parameter model; 50k would be most of the weights
EOT, PAD = "<|endoftext|>", "<|pad|>"
MODEL_MAX_LENGTH = 1024  # = max_position_embeddings of model.py; the models were trained on 256-token windows


def train_tokenizer(texts, vocab_size=VOCAB_SIZE) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, folder: Path, model_max_length=MODEL_MAX_LENGTH):
    """tokenizer.json (merges as "a b" strings) + tokenizer_config.json (no chat template)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = json.loads(tok.to_str())
    merges = spec["model"]["merges"]
    spec["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in merges]
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOT, "eos_token": EOT, "unk_token": None, "pad_token": PAD,
        "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "model_max_length": model_max_length,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1))
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": EOT, "eos_token": EOT, "pad_token": PAD}, indent=1))


def read_docs(path: Path):
    with open(path) as fh:
        for line in fh:
            yield json.loads(line)["text"]


def tokenise_split(tok: Tokenizer, src: Path, dst: Path) -> int:
    eot = tok.token_to_id(EOT)
    docs = list(read_docs(src))
    chunks = []
    for i in range(0, len(docs), 256):
        for enc in tok.encode_batch(docs[i:i + 256], add_special_tokens=False):
            chunks.append(np.asarray(enc.ids + [eot], dtype=np.uint16))
    arr = np.concatenate(chunks) if chunks else np.zeros(0, np.uint16)
    arr.tofile(dst)
    return len(arr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT / "train/data"))
    ap.add_argument("--vocab-size", type=int, default=VOCAB_SIZE)
    args = ap.parse_args()
    raw, build = Path(args.data, "raw"), Path(args.data, "build")
    tok = train_tokenizer(read_docs(raw / "train.jsonl"), args.vocab_size)
    save_tokenizer(tok, build / "tokenizer")
    tok = Tokenizer.from_file(str(build / "tokenizer/tokenizer.json"))  # the saved form is the truth
    counts = {s: tokenise_split(tok, raw / f"{s}.jsonl", build / f"{s}.bin") for s in ("train", "val", "test")}
    nbytes = sum((raw / f"{s}.jsonl").stat().st_size for s in counts)
    (build / "token_counts.json").write_text(json.dumps(counts, indent=1))
    print(f"vocab {tok.get_vocab_size()}, tokens {counts}, ~{nbytes / sum(counts.values()):.2f} json bytes/token")


if __name__ == "__main__":
    main()
