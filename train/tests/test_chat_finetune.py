"""Chat-data MSN fine-tuning end to end on a tiny random Llama chat model (own BOS/EOS, chat template):
LoRA + packing and full fine-tuning; the export keeps the template and EOS ids, loads in the runtime
(`npm run generate -- --model <folder>`), and the runtime renders the template as Python does."""
import json
import subprocess

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

import export
import finetune
from conftest import ROOT
from test_runtime_parity import js_runtime
from tiny_chat import conversations, write_jsonl

CHATS = [[dict(role="user", content="Hello world?")],
         [dict(role="system", content="Be brief."), dict(role="user", content="Why?"),
          dict(role="assistant", content="No answer."), dict(role="user", content="How?")]]


@pytest.fixture(scope="module")
def chat_jsonl(tmp_path_factory):
    d = tmp_path_factory.mktemp("chat_data")
    return write_jsonl(d / "chat.jsonl", conversations(48, seed=2, long_every=8))


def run(chat_base, chat_jsonl, out, *extra):
    finetune.main(["--base", str(chat_base), "--data", str(chat_jsonl), "--mode", "msn", "--noise-len", "3",
                   "--out", str(out), "--max-steps", "3", "--batch-size", "2", "--max-len", "128", "--lr", "1e-2",
                   "--warmup-steps", "0", "--save-steps", "100", "--threads", "1", *extra])
    return json.loads((out / "finetune_log.json").read_text())


@pytest.fixture(scope="module")
def lora_out(chat_base, chat_jsonl, tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "lora"
    return out, run(chat_base, chat_jsonl, out, "--lora", "8,16", "--bf16")


def test_lora_packing_msn_finetune_merges_into_a_plain_folder(chat_base, lora_out):
    out, log = lora_out
    assert log["packing"] and log["data"]["format"] == "chat" and log["data"]["packed_rows"] < log["train_pairs"]
    assert log["data"]["train"]["truncated"] >= 4                       # the long conversations, counted
    assert log["lora"] == dict(r=8, alpha=16, targets="all-linear", merged=True) and log["bf16"]
    keys = set()
    for f in out.glob("*.safetensors"):
        with safe_open(f, "pt") as fh:
            keys |= set(fh.keys())
    assert keys and not any("lora" in k or "base_model" in k for k in keys)   # merged: plain Llama weights
    assert not (out / "adapter_config.json").exists()
    base = AutoModelForCausalLM.from_pretrained(chat_base)
    tuned = AutoModelForCausalLM.from_pretrained(out)
    changed = [n for (n, a), (_, b) in zip(base.named_parameters(), tuned.named_parameters()) if not torch.equal(a, b)]
    assert any("q_proj" in n for n in changed) and not any("embed_tokens" in n or "norm" in n for n in changed), changed
    gen = json.loads((out / "generation_config.json").read_text())
    tok = AutoTokenizer.from_pretrained(out)
    assert gen["eos_token_id"] == [tok.convert_tokens_to_ids("<|end_of_text|>"), tok.convert_tokens_to_ids("<|eot_id|>")]
    assert tok.chat_template == AutoTokenizer.from_pretrained(chat_base).chat_template
    assert log["eos_token_ids"] == gen["eos_token_id"] and log["val_response_loss"] > 0


def test_full_finetune_without_packing(chat_base, chat_jsonl, tmp_path):
    log = run(chat_base, chat_jsonl, tmp_path / "full", "--no-packing", "--mode", "sft")
    assert not log["packing"] and log["lora"] is None and log["mode"] == "sft"
    base = AutoModelForCausalLM.from_pretrained(chat_base)
    tuned = AutoModelForCausalLM.from_pretrained(tmp_path / "full")
    assert not torch.equal(base.model.norm.weight, tuned.model.norm.weight)   # every weight trains


def test_export_keeps_template_and_loads_in_the_runtime(lora_out, tmp_path):
    out, _ = lora_out
    export.main(["--model", str(out), "--name", "chat-tiny", "--models-dir", str(tmp_path), "--data", str(tmp_path)])
    d = tmp_path / "chat-tiny"
    src_tok = AutoTokenizer.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(d)
    assert tok.chat_template == src_tok.chat_template
    assert json.loads((d / "generation_config.json").read_text())["eos_token_id"] == \
        json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    assert json.loads((d / "config.json").read_text())["torch_dtype"] == "float16"
    # the runtime renders the template (and tokenises the chat) exactly as transformers does
    js = js_runtime("chat", d, dict(conversations=CHATS))
    for i, msgs in enumerate(CHATS):
        assert js["rendered"][i] == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        assert js["renderedNoGen"][i] == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
        assert js["ids"][i] == tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True,
                                                       return_dict=True)["input_ids"]
    # npm run generate runs the exported folder (chat, tr-jacobi) and stops on an EOS of generation_config
    r = subprocess.run(["npm", "run", "-s", "generate", "--", "--model", str(d), "--chat", "--prompt", "Hello world?",
                        "--max-new-tokens", "12", "--decode", "tr-jacobi", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    ids = tok.apply_chat_template(CHATS[0], tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert res["promptTokens"] == len(ids) and 1 <= res["newTokens"] <= 12
    with torch.no_grad():
        first = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
    assert res["tokenIds"][0] == first                                     # the runtime's first token = PyTorch's
