"""Shared paths and small builders for the train/ tests (CPU, a few minutes in total)."""
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "train"))

MODELS = ROOT / "public/models"
SHIPPED = "msn-code-tiny"                 # the default model committed under public/models/
TEST_PROMPTS = ROOT / "train/data/test_prompts.jsonl"


@pytest.fixture(scope="session")
def shipped_dir():
    d = MODELS / SHIPPED
    assert (d / "manifest.json").is_file(), f"{d} missing: run train/run_tiny.sh (see train/README.md)"
    return d


@pytest.fixture(scope="session")
def toy_base(tmp_path_factory, shipped_dir):
    """A random toy-size Llama saved in HF format with the shipped tokenizer (a stand-in --base)."""
    import torch
    from model import make_model
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("toy_base")
    make_model("toy").save_pretrained(d)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(shipped_dir / f, d / f)
    return d


@pytest.fixture(scope="session")
def chat_base(tmp_path_factory):
    """A tiny random Llama chat model with its own BOS/EOS and chat template (tests/tiny_chat.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tiny_chat import make_chat_model
    return make_chat_model(tmp_path_factory.mktemp("chat_base") / "model")
