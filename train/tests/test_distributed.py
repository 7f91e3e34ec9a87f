"""Multi-process runs on CPU (gloo): torchrun and accelerate launch data-parallel fine-tuning that finish and write
a loadable folder, and a truly sharded run with torch's fully_shard (each rank holds only its shard; the
collective save writes a folder equal to the gathered weights)."""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from conftest import ROOT
from tiny_chat import conversations, write_jsonl

VENV_BIN = ROOT / ".venv/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(cmd, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "train"))
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-4000:])
    return r


@pytest.fixture(scope="module")
def chat_jsonl(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("dist_data") / "chat.jsonl", conversations(32, seed=4))


FT_ARGS = ["--mode", "msn", "--noise-len", "3", "--max-steps", "2", "--batch-size", "2", "--max-len", "128",
           "--save-steps", "100", "--threads", "1", "--lora", "8,16"]


def check_folder(out, chat_base):
    log = json.loads((out / "finetune_log.json").read_text())
    assert log["world_size"] == 2 and log["lora"]["merged"] and log["packing"]
    tuned = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(chat_base)
    assert not torch.equal(tuned.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight)


def test_torchrun_data_parallel_lora(chat_base, chat_jsonl, tmp_path):
    out = tmp_path / "ddp"
    launch([str(VENV_BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "train/finetune.py", "--base", str(chat_base), "--data", str(chat_jsonl), "--out", str(out), *FT_ARGS])
    check_folder(out, chat_base)


def test_accelerate_launch_two_processes(chat_base, chat_jsonl, tmp_path):
    out = tmp_path / "acc"
    launch([str(VENV_BIN / "accelerate"), "launch", "--config_file", "train/accelerate/cpu_2proc.yaml",
            "--main_process_port", str(free_port()), "train/finetune.py", "--base", str(chat_base),
            "--data", str(chat_jsonl), "--out", str(out), *FT_ARGS])
    check_folder(out, chat_base)


def test_fully_shard_holds_shards_and_saves_collectively(chat_base, chat_jsonl, tmp_path):
    out = tmp_path / "fsdp2"
    launch([str(VENV_BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", str(free_port()),
            "train/tests/fsdp2_worker.py", str(chat_base), str(chat_jsonl), str(out)])
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r in ranks:
        assert r["world"] == 2 and r["sharded"] and r["reload_equal"]          # loadable, = the gathered weights
        for name, n in r["full"].items():
            assert r["local"][name] < n, name                                  # each rank holds only its shard
    for name, n in ranks[0]["full"].items():
        assert ranks[0]["local"][name] + ranks[1]["local"][name] == n          # the two shards make the whole
    assert ranks[0]["losses"] != ranks[1]["losses"]                            # different data per rank
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    assert sys.version_info >= (3, 10)
