"""pretrain.py: a few toy steps, and a stopped + resumed run equals an uninterrupted one."""
import json

import numpy as np
import torch
from safetensors.torch import load_file

import pretrain


def make_data(d):
    rng = np.random.default_rng(0)
    rng.integers(0, 4096, 20_000, dtype=np.uint16).tofile(d / "train.bin")
    rng.integers(0, 4096, 5_000, dtype=np.uint16).tofile(d / "val.bin")


def run(argv):
    pretrain.main(pretrain.parse_args(argv))


def test_pretrain_resume_is_exact(tmp_path):
    make_data(tmp_path)
    common = ["--size", "toy", "--data", str(tmp_path), "--seq-len", "32", "--batch-size", "4", "--max-steps", "6",
              "--warmup-steps", "2", "--eval-interval", "3", "--eval-batches", "2", "--log-interval", "1",
              "--ckpt-interval", "100", "--threads", "1"]
    run(common + ["--out", str(tmp_path / "a")])
    run(common + ["--out", str(tmp_path / "b"), "--stop-at", "4"])
    assert not (tmp_path / "b/model.safetensors").exists()
    run(common + ["--out", str(tmp_path / "b"), "--resume"])
    a, b = load_file(tmp_path / "a/model.safetensors"), load_file(tmp_path / "b/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = json.loads((tmp_path / "a/train_log.json").read_text())
    assert log["steps"] == 6 and log["tokens_seen"] == 6 * 4 * 32 and log["final_val_loss"] > 0
    assert log["log"][-1]["loss"] < 9.0
