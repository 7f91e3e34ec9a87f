"""finetune.py --base <any HF causal LM folder>: a couple of MSN steps on a random toy model."""
import json
import shutil

import torch
from transformers import AutoModelForCausalLM

import finetune
from conftest import TEST_PROMPTS


def test_finetune_base_msn_and_resume(toy_base, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(TEST_PROMPTS, data / "sft_train.jsonl")     # any pairs in the SFT format will do here
    shutil.copy(TEST_PROMPTS, data / "sft_val.jsonl")
    out = tmp_path / "msn"
    args = ["--base", str(toy_base), "--mode", "msn", "--noise-len", "5", "--out", str(out), "--data", str(data),
            "--max-steps", "2", "--batch-size", "4", "--limit-train", "32", "--save-steps", "1", "--threads", "1"]
    finetune.main(args)
    log = json.loads((out / "finetune_log.json").read_text())
    assert log["mode"] == "msn" and log["noise_len"] == 5 and log["max_steps"] == 2 and log["tokens_seen"] > 0
    assert (out / "checkpoints").is_dir()
    before = AutoModelForCausalLM.from_pretrained(toy_base)
    after = AutoModelForCausalLM.from_pretrained(out)
    assert not torch.equal(before.model.norm.weight, after.model.norm.weight) or \
        not torch.equal(before.lm_head.weight, after.lm_head.weight)          # it trained
    spec = json.loads((out / "tokenizer.json").read_text())
    assert isinstance(spec["model"]["merges"][0], str)                        # tokenizer copied verbatim
    # --resume picks up the last checkpoint and finishes a longer schedule
    finetune.main(args[:-6] + ["--max-steps", "3", "--batch-size", "4", "--limit-train", "32", "--resume",
                               "--threads", "1"])
    assert json.loads((out / "finetune_log.json").read_text())["max_steps"] == 3
