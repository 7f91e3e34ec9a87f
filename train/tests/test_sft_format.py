"""SFT pair mining and the one prompt/response format (train/sft_format.py)."""
import json

from tokenizers import Tokenizer

from conftest import TEST_PROMPTS
from sft_format import EOT, extract_pairs, format_sft, sft_ids

SOURCE = '''import os


@decorator(arg=1)
def top(a, b=2):
    """Add things.

    More text.
    """
    # a comment
    return a + b


class Outer(Base,
            metaclass=Meta):
    """Class doc."""

    def method(self, x):
        \'\'\'Single-quoted doc.\'\'\'
        y = x * 2

        return y

    def no_doc(self):
        return 1

    def only_doc(self):
        """Nothing else."""


def tabs():
\t"""Tab indented."""
\treturn 1
'''


def test_extract_pairs_exact_text():
    pairs = {p["name"]: p for p in extract_pairs(SOURCE)}
    assert set(pairs) == {"top", "Outer.method", "tabs"}
    assert pairs["top"]["prompt"] == '@decorator(arg=1)\ndef top(a, b=2):\n    """Add things.\n\n    More text.\n    """'
    assert pairs["top"]["response"] == "\n    # a comment\n    return a + b"
    assert pairs["Outer.method"]["prompt"] == (
        "class Outer(Base,\n            metaclass=Meta):\n    def method(self, x):\n        '''Single-quoted doc.'''")
    assert pairs["Outer.method"]["response"] == "\n        y = x * 2\n\n        return y"
    assert pairs["tabs"]["prompt"] == 'def tabs():\n\t"""Tab indented."""'
    assert pairs["tabs"]["response"] == "\n\treturn 1"


def test_nested_method_is_dedented():
    src = 'def f():\n    class A:\n        def g(self):\n            """Doc."""\n            return 2\n    return A\n'
    (p,) = extract_pairs(src)
    assert p["prompt"] == 'class A:\n    def g(self):\n        """Doc."""' and p["response"] == "\n        return 2"


def test_format_sft():
    assert format_sft('def f():\n    """D."""') == 'def f():\n    """D."""'
    assert format_sft('def f():\n    """D."""', "\n    return 1") == 'def f():\n    """D."""\n    return 1' + EOT


def test_committed_test_prompts_follow_the_format(shipped_dir):
    rows = [json.loads(l) for l in open(TEST_PROMPTS)]
    assert len(rows) >= 100
    tok = Tokenizer.from_file(str(shipped_dir / "tokenizer.json"))
    for r in rows:
        assert not r["prompt"].endswith("\n") and r["prompt"].rstrip().endswith(("'", '"'))
        assert r["response"].startswith("\n") and not r["response"].endswith("\n")
        ids, n_prompt = sft_ids(tok, r["prompt"], r["response"])
        # the split between prompt and response is a token boundary: joint encoding == separate
        assert tok.encode(format_sft(r["prompt"], r["response"])).ids == ids
        assert ids[:n_prompt] == tok.encode(r["prompt"]).ids and ids[-1] == tok.token_to_id(EOT)
