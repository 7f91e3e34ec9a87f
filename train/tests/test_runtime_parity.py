"""evaluate.py's TR-Jacobi (train/tr_jacobi.py) against the runtime itself (Node engine, src/decode/), prompt by
prompt, on the shipped model: where the greedy outputs agree, the fixed-tree and Jacobi step counts must be equal."""
import json
import random
import subprocess
from types import SimpleNamespace

import torch
from transformers import AutoTokenizer

from conftest import ROOT, TEST_PROMPTS
from evaluate import evaluate_model, load_eval_rows
from tr_jacobi import (CLI_DRAFT_SEED, MC_SIM_7B_63, DraftTree, Mulberry32, RetrievalPool, RuntimeDecoder,
                       verify_greedy)

N_PROMPTS, NEW_TOKENS = 6, 48


def js_runtime(cmd, folder, req, timeout=600):
    r = subprocess.run(["node", "train/tests/js_runtime.mjs", cmd, str(folder)], input=json.dumps(req), cwd=ROOT,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_tree_shapes_match_the_runtime():
    t = DraftTree.paper()
    assert t.size == 69 and len(MC_SIM_7B_63) == 63 and t.max_depth == 5
    assert t.paths[t.retrieval_path] == [0, 1, 2, 3, 4, 5]            # the retrieval chain comes first
    assert DraftTree.jacobi_chain().paths == [[0, 1, 2, 3, 4, 5]]
    assert t.truncate(2).size == 1 + 2 + sum(len(p) <= 2 for p in MC_SIM_7B_63)
    m = t.mask()
    assert m[0].sum() == 1 and all(m[j, t.parent[j]] for j in range(1, 69))


def test_mulberry32_is_the_runtime_rng():
    # values of src/decode/rng.ts createRng(24301): Math.floor(next() * 1000003), computed with Node
    r = Mulberry32(24301)
    assert [r.int(1000003) for _ in range(6)] == [710034, 286337, 951905, 101760, 378415, 654106]


def test_retrieval_pool_most_recent_match_and_verify():
    p = RetrievalPool()
    p.push(1, 2, 3, 9, 1, 2, 4, 5, 1, 2)
    assert p.lookup() == [4, 5, 1, 2]                                  # most recent earlier "1 2" -> 4 5 1 2
    tree = DraftTree([[0], [0, 0], [1]])                               # paths [0,1,2] and [0,3]
    best, acc, slots, new = verify_greedy(tree, [7, 8, 9, 5], [8, 9, 4, 6])
    assert (best, acc, slots, new) == (0, 2, [0, 1, 2], [8, 9, 4])


def test_all_modes_equal_greedy_on_the_chat_model(chat_base):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(chat_base, dtype=torch.float32).eval()
    dec = RuntimeDecoder(model, [1, 4])
    rnd = random.Random(0)
    for i in range(3):
        prompt = [rnd.randrange(6, 400) for _ in range(4 + 9 * i)]
        g, st = dec.decode(prompt, 40, "ar")
        assert st["steps"] == len(g)
        for mode in ("jacobi", "retrieval", "tr-jacobi"):
            out, st = dec.decode(prompt, 40, mode, Mulberry32(i))
            assert out == g and st["steps"] <= len(g), mode


def test_evaluate_steps_equal_the_runtime_prompt_by_prompt(shipped_dir):
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(shipped_dir)
    rows = load_eval_rows(tok, TEST_PROMPTS, 200, 120)[:N_PROMPTS]
    args = SimpleNamespace(dtype="float32", device="cpu", new_tokens=NEW_TOKENS, draft_seed=CLI_DRAFT_SEED, extras=[])
    m, per = evaluate_model(shipped_dir, rows, args, tok)
    assert m["greedy_equal"] and m["prompts"] == N_PROMPTS
    prompts = [json.loads(l) for l in open(TEST_PROMPTS)]
    texts = [next(p["prompt"] for p in prompts if p["id"] == r[0]) for r in rows]
    js = js_runtime("steps", shipped_dir, dict(prompts=texts, maxNewTokens=NEW_TOKENS, draftSeed=CLI_DRAFT_SEED,
                                               modes=["tr-jacobi", "jacobi"]))["runs"]
    agree = 0
    for run in js:
        py, (_, _, ids, _, _) = per[run["prompt"]], rows[run["prompt"]]
        assert run["promptIds"] == ids                                    # same prompt encoding
        if run["tokenIds"] != py["greedy"]:
            continue                                                      # f32 GPU vs CPU near-tie: not comparable
        agree += 1
        key = run["mode"].replace("-", "_") + "_steps"
        assert run["steps"] == py[key], f"prompt {py['id']} {run['mode']}: runtime {run['steps']} vs evaluate {py[key]}"
    assert agree >= len(js) - 2, f"only {agree}/{len(js)} runs with the same greedy output"
