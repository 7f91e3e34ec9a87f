"""Jacobi / tree-proxy decoding (train/evaluate.py): output == greedy; the shipped metrics reproduce."""
import json
import random

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from conftest import TEST_PROMPTS
from evaluate import Decoder, XorShift32, bootstrap
from sft_format import format_sft


def test_xorshift32_reference_values():
    r = XorShift32(1)                      # x ^= x << 13; x ^= x >> 17; x ^= x << 5 (uint32)
    assert [r.next() for _ in range(3)] == [270369, 67634689, 2647435461]
    assert XorShift32(0).x == 1            # zero seed would be a fixed point
    r, pool = XorShift32(1), [10, 20, 30, 40]
    assert [r.choice(pool) for _ in range(3)] == [pool[270369 % 4], pool[67634689 % 4], pool[2647435461 % 4]]


def test_jacobi_equals_greedy_on_a_random_model(toy_base):
    model = AutoModelForCausalLM.from_pretrained(toy_base, dtype=torch.float64).eval()
    dec = Decoder(model, eos_id=0)
    rnd = random.Random(0)
    for i in range(4):
        prompt = [rnd.randrange(2, 4096) for _ in range(5 + 7 * i)]
        g = dec.greedy(prompt, 24)
        j, steps, acc = dec.jacobi(prompt, 24, XorShift32(1 + i))
        assert j == g and 1 <= steps <= len(g) and sum(acc) >= len(g)
        t, t_steps, _ = dec.jacobi(prompt, 24, XorShift32(1 + i), topk=10, truth=g)
        assert t == g and t_steps <= steps


def test_jacobi_on_a_constant_model(toy_base):
    """All logits 0 -> greedy always emits token 0. Drafts drawn from a context of zeros are all right,
    so every step accepts the whole window + the bonus; from a context without 0 the first step cannot."""
    model = AutoModelForCausalLM.from_pretrained(toy_base, dtype=torch.float64).eval()
    with torch.no_grad():
        model.model.norm.weight.zero_()
    dec = Decoder(model, eos_id=-1)        # no end-of-text: run the full budget
    g = dec.greedy([0, 0, 0, 0], 30)
    assert g == [0] * 30
    j, steps, acc = dec.jacobi([0, 0, 0, 0], 30, XorShift32(3), window=5)
    assert j == g and acc == [6] * 5 and steps == 5
    t, t_steps, _ = dec.jacobi([0, 0, 0, 0], 30, XorShift32(3), window=5, topk=10, truth=g)
    assert t == g and t_steps == 5
    j, steps, acc = dec.jacobi([5, 6, 9, 11], 30, XorShift32(3), window=5)
    # step 1 rejects the random drafts; step 2 uses the model's own outputs (all 0) and takes W + 1;
    # after a full acceptance the next draft is random context again (prompt + output, mostly zeros)
    assert dec.greedy([5, 6, 9, 11], 30) == j and acc[:2] == [1, 6] and steps < 30 // 2


def test_bootstrap_ratio():
    v, lo, hi, _ = bootstrap([10, 20, 30], [10, 10, 10])
    assert v == 2.0 and lo <= v <= hi


def test_shipped_metrics_reproduce(shipped_dir):
    """Recompute Jacobi steps for the first prompts with the exported f16 weights (run in float64)."""
    m = json.loads((shipped_dir / "training_metrics.json").read_text())
    rows = {r["id"]: r for r in m["per_prompt"][m.get("mode") or "msn"]}
    tok = AutoTokenizer.from_pretrained(shipped_dir)
    model = AutoModelForCausalLM.from_pretrained(shipped_dir, dtype=torch.float64).eval()
    dec = Decoder(model, eos_id=tok.eos_token_id)
    prompts = [json.loads(l) for l in open(TEST_PROMPTS)]
    checked = 0
    for p in prompts:
        if p["id"] not in rows or checked >= 2:
            continue
        ids = tok.encode(format_sft(p["prompt"]), add_special_tokens=False)
        g = dec.greedy(ids, m["new_tokens"])
        j, steps, _ = dec.jacobi(ids, m["new_tokens"], XorShift32(1 + p["id"]), m["window"])
        assert j == g
        assert (len(g), steps) == (rows[p["id"]]["tokens"], rows[p["id"]]["jacobi_steps"])
        checked += 1
    assert checked == 2
    assert np.isfinite(m["jacobi_mat_msn"]) and m["jacobi_mat_msn"] >= 1.0


def test_evaluate_one_model_on_chat_data(chat_base, tmp_path):
    """evaluate.py --model X --compare Y on chat rows: MAT (tr-jacobi, jacobi, per category), held-out loss on the
    assistant tokens, the greedy check, the top-10 proxy only as a named extra."""
    import evaluate
    from tiny_chat import conversations, write_jsonl
    data = write_jsonl(tmp_path / "val.jsonl", conversations(4, seed=11))
    out = evaluate.main(["--model", str(chat_base), "--compare", str(chat_base), "--data", str(data), "--n-prompts", "4",
                         "--new-tokens", "10", "--extras", "top10-proxy", "--out", str(tmp_path / "m.json")])
    m = out["model"]
    assert m["greedy_equal"] and m["prompts"] == 4 and m["heldout_examples"] == 4
    assert set(m["tr_jacobi_mat_per_category"]) == {"chat", "qa"} and m["tr_jacobi_mat"]["value"] >= 1.0
    assert "top10_proxy_mat" in m and m["eos_token_ids"] == [1, 4]
    assert out["diff_model_minus_compare"]["tr_jacobi_mat"]["value"] == 0.0          # the same model twice
    rows = out["per_prompt"]["model"]
    assert all(r["tokens"] <= 10 and r["tr_jacobi_steps"] <= r["tokens"] for r in rows)
    assert json.loads((tmp_path / "m.json").read_text())["model"]["prompts"] == 4
