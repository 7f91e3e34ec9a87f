"""Tokenizer: Python `tokenizers` vs the runtime's JS tokenizer (src/tokenizer, on @huggingface/tokenizers), same ids."""
import json
import shutil
import subprocess

import pytest
from tokenizers import Tokenizer

from conftest import MODELS, ROOT, SHIPPED, TEST_PROMPTS

SAMPLES = [
    "def f(x):\n    return x + 1\n",
    "class A:\n\tdef g(self):\n\t\treturn None\n",                       # tabs
    "s = 'héllo wörld ñ 中文 日本語 Ελληνικά'\n",                               # Unicode
    "emoji = '🚀🐍✨ 👩‍💻'  # ZWJ sequence\n",                                  # emoji
    "very_long_identifier_name_that_goes_on_and_on_for_a_while_and_more = 1\n",
    "x = 1\r\ny = 2\r\n",                                                 # CRLF
    "   leading spaces\n\n\n  \t mixed \t whitespace   \n",
    "numbers = [0, 1, 22, 333, 4444, 55555, 3.14159, 1e-10, 0xFF]\n",
    "'''docstring''' \"\"\"and more\"\"\" f'{x!r:>10}' b'\\x00\\xff'\n",
    "<|endoftext|>",                                                     # special token alone
    "def f():\n    \"\"\"Doc.\"\"\"<|endoftext|>def g(): pass",              # special token inside text
    "",
    "   ",
    "\u00a0non-breaking\u2028line-sep\ufeffbom",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝑥² ≤ ∞",
]


def py_ids(texts):
    tok = Tokenizer.from_file(str(MODELS / SHIPPED / "tokenizer.json"))
    return [tok.encode(t, add_special_tokens=False).ids for t in texts], tok


def test_merges_are_strings_and_specials(shipped_dir):
    spec = json.loads((shipped_dir / "tokenizer.json").read_text())
    assert spec["model"]["type"] == "BPE" and all(isinstance(m, str) and m.count(" ") == 1 for m in spec["model"]["merges"])
    assert spec["post_processor"] is None and spec["normalizer"] is None
    tok = Tokenizer.from_file(str(shipped_dir / "tokenizer.json"))
    assert tok.get_vocab_size() == 4096
    assert tok.token_to_id("<|endoftext|>") == 0 and tok.token_to_id("<|pad|>") == 1
    cfg = json.loads((shipped_dir / "tokenizer_config.json").read_text())
    assert cfg["eos_token"] == "<|endoftext|>" and cfg["pad_token"] == "<|pad|>" and "chat_template" not in cfg


def test_roundtrip_decode():
    ids, tok = py_ids(SAMPLES)
    for t, i in zip(SAMPLES, ids):
        assert tok.decode(i, skip_special_tokens=False) == t


def test_hf_autotokenizer_matches(shipped_dir):
    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(shipped_dir)
    ids, _ = py_ids(SAMPLES)
    assert [hf.encode(t, add_special_tokens=False) for t in SAMPLES] == ids
    assert hf.encode("def f():", add_special_tokens=True) == hf.encode("def f():", add_special_tokens=False)  # no BOS
    assert hf.eos_token_id == 0 and hf.pad_token_id == 1


def test_js_parity(shipped_dir):
    node = shutil.which("node")
    library = ROOT / "node_modules/@huggingface/tokenizers"
    if node is None or not library.is_dir():
        pytest.fail("JS parity needs node and node_modules (run `npm ci` first)")
    prompts = [json.loads(l)["prompt"] for l in open(TEST_PROMPTS)][:40]
    texts = SAMPLES + prompts + [(ROOT / "train/sft_format.py").read_text()]
    res = subprocess.run([node, str(ROOT / "train/tests/js_tokenize.mjs"), str(MODELS), SHIPPED],
                         input=json.dumps(texts), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    js = json.loads(res.stdout)
    ids, _ = py_ids(texts)
    for t, a, b in zip(texts, ids, js["ids"]):
        assert a == b, f"ids differ for {t[:60]!r}"
    for t, d in zip(texts, js["decoded"]):
        assert d == t, f"JS decode differs for {t[:60]!r}"
