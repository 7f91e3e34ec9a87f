"""Chat data (train/chat_data.py) and packing (train/msn.py) on a tokenizer with its own BOS/EOS and template."""
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from chat_data import ChatTemplateError, bos_prefix, encode_chat, encode_rows, eos_token_ids, sharegpt_to_messages
from msn import SFTCollator, msn_corrupt_spans, pack_examples
from tiny_chat import conversations

MSGS = [dict(role="system", content="Be brief."), dict(role="user", content="Hello world?"),
        dict(role="assistant", content="Yes the cat runs."), dict(role="user", content="Why?"),
        dict(role="assistant", content="No answer.")]


@pytest.fixture(scope="module")
def tok(chat_base):
    return AutoTokenizer.from_pretrained(chat_base)


def test_eos_ids_from_generation_config_and_tokenizer(chat_base, tok):
    eos = eos_token_ids(chat_base, tok)
    assert eos == [tok.convert_tokens_to_ids("<|end_of_text|>"), tok.convert_tokens_to_ids("<|eot_id|>")]
    assert bos_prefix(tok) == [tok.convert_tokens_to_ids("<|begin_of_text|>")]     # raw text gets BOS


def test_assistant_only_loss_and_noise_spans(chat_base, tok):
    ex, cut = encode_chat(tok, MSGS, eos_ids=eos_token_ids(chat_base, tok))
    ids, loss = ex["input_ids"], ex["loss"]
    full = tok.apply_chat_template(MSGS, tokenize=False)
    assert ids == tok(full, add_special_tokens=False)["input_ids"]                # what the template renders
    bos = tok.convert_tokens_to_ids("<|begin_of_text|>")
    assert ids[0] == bos and ids.count(bos) == 1 and not cut                      # BOS once, from the template
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    labelled = tok.decode([t for t, m in zip(ids, loss) if m])
    assert labelled == "Yes the cat runs.<|eot_id|>No answer.<|eot_id|>"          # assistant content + end of turn
    assert len(ex["noise_spans"]) == 2
    contents = [tok.decode(ids[s:e]) for s, e in ex["noise_spans"]]
    assert contents == ["Yes the cat runs.", "No answer."]
    for s, e in ex["noise_spans"]:
        assert eot not in ids[s:e] and all(loss[s:e]) and ids[e] == eot          # never on the end-of-turn token


def test_template_without_end_of_turn_gets_eos(tok):
    t = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
    ex, _ = encode_chat(tok, MSGS[1:3], template=t, eos_ids=[7, 8])
    assert ex["input_ids"][-1] == 7 and ex["loss"][-1] == 1
    assert ex["input_ids"][0] != tok.convert_tokens_to_ids("<|begin_of_text|>")   # this template has no BOS


def test_template_that_is_not_prefix_stable_is_refused(tok):
    t = "{% for m in messages %}{{ m['content'] }}{% endfor %}{% if messages|length > 2 %}!{% endif %}"
    with pytest.raises(ChatTemplateError):
        encode_chat(tok, MSGS[1:], template=t)


def test_sharegpt_converter():
    row = dict(id=3, conversations=[dict(**{"from": "human", "value": "hi"}), dict(**{"from": "gpt", "value": "yo"})])
    assert sharegpt_to_messages(row) == dict(id=3, messages=[dict(role="user", content="hi"),
                                                              dict(role="assistant", content="yo")])
    with pytest.raises(ValueError):
        sharegpt_to_messages(dict(conversations=[{"from": "alien", "value": "x"}]))


def test_truncation_is_counted_not_dropped(tok):
    rows = conversations(12, seed=3, long_every=4)
    full, stats0 = encode_rows(tok, rows)
    longest = max(len(e["input_ids"]) for e in full)
    exs, stats = encode_rows(tok, rows, max_len=64)
    assert longest > 64 and stats0["truncated"] == 0
    assert stats["truncated"] == sum(len(e["input_ids"]) > 64 for e in full) >= 3
    assert len(exs) + stats["dropped"] == 12 and all(len(e["input_ids"]) <= 64 for e in exs)
    assert all(e <= 64 for x in exs for _, e in x["noise_spans"])


def test_msn_segment_inside_content_from_own_left_context(chat_base, tok):
    ex, _ = encode_chat(tok, MSGS, eos_ids=eos_token_ids(chat_base, tok))
    for seed in range(200):
        x, (start, length) = msn_corrupt_spans(ex["input_ids"], ex["noise_spans"], 3, random.Random(seed))
        assert length == 3 and any(s <= start and start + 3 <= e for s, e in ex["noise_spans"])
        changed = [i for i, (a, b) in enumerate(zip(x, ex["input_ids"])) if a != b]
        assert all(start <= i < start + 3 for i in changed)


def test_packed_collator_noise_stays_in_each_example(tok):
    exs, _ = encode_rows(tok, conversations(6, seed=5))
    col = SFTCollator("msn", noise_len=4, pad_id=0, seed=1, pack=True)
    b = col([dict(examples=exs[:3]), dict(examples=exs[3:])])
    assert "attention_mask" not in b
    o = 0
    for e in exs[:3]:
        n = len(e["input_ids"])
        x = b["input_ids"][0, o: o + n].tolist()
        assert b["position_ids"][0, o: o + n].tolist() == list(range(n))          # positions restart
        assert b["labels"][0, o] == -100                                          # never predicted across examples
        diff = [i for i in range(n) if x[i] != e["input_ids"][i]]
        assert all(any(s <= i < t for s, t in e["noise_spans"]) for i in diff)
        assert all(x[i] in x[:i] for i in diff)                                   # drawn from its own left context
        o += n


def test_packed_and_unpacked_losses_agree(chat_base, tok):
    """Per-example attention: the summed loss of a packed row equals the sum over the examples alone."""
    model = AutoModelForCausalLM.from_pretrained(chat_base, dtype=torch.float64).eval()
    exs, _ = encode_rows(tok, conversations(5, seed=9))
    sft = SFTCollator("sft", pad_id=0)
    packed = SFTCollator("sft", pad_id=0, pack=True)([dict(examples=exs[:3]), dict(examples=exs[3:])])

    def loss_sum(batch):
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits
        return torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:],
                                                 ignore_index=-100, reduction="sum").item()
    with torch.no_grad():
        alone = sum(loss_sum(sft([e])) for e in exs)
        together = loss_sum(packed)
        causal_only = loss_sum(dict(input_ids=packed["input_ids"], labels=packed["labels"]))  # no per-example mask
    assert together == pytest.approx(alone, rel=1e-9)
    assert abs(causal_only - alone) > 1e-3            # the test can tell: without position ids it differs


def test_pack_examples_fits_and_covers():
    lengths = [random.Random(i).randrange(5, 60) for i in range(50)]
    bins = pack_examples(lengths, 100, seed=0)
    assert sorted(i for b in bins for i in b) == list(range(50))
    assert all(sum(lengths[i] for i in b) <= 100 for b in bins) and len(bins) < 50
