"""HF format: f16 export reloads with identical logits; the shipped folder is complete and consistent."""
import hashlib
import json

import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM

from conftest import MODELS, SHIPPED
from export import save_f16, write_manifest


def test_f16_export_reload_identical_logits(toy_base, tmp_path):
    out = tmp_path / "exported"
    out.mkdir()
    _, cfg = save_f16(toy_base, out)
    assert cfg["torch_dtype"] == "float16" and cfg["architectures"] == ["LlamaForCausalLM"]
    # in-memory reference: the source model with every weight rounded to f16 (what the file holds)
    ref = LlamaForCausalLM.from_pretrained(toy_base, dtype=torch.float32).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(p.half().float())
    reloaded16 = LlamaForCausalLM.from_pretrained(out)                      # float16, as config.json says
    assert next(reloaded16.parameters()).dtype == torch.float16
    sd = reloaded16.state_dict()
    assert all(torch.equal(sd[k], v.half()) for k, v in ref.state_dict().items() if k in sd)
    reloaded = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    x = torch.randint(2, 4096, (2, 37))
    with torch.no_grad():                                 # same f32 arithmetic on both sides
        assert torch.equal(ref(input_ids=x).logits, reloaded(input_ids=x).logits)
    assert reloaded.model.embed_tokens.weight.data_ptr() == reloaded.lm_head.weight.data_ptr()  # tied


def test_manifest(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.bin").write_bytes(b"\x00" * 10)
    man = write_manifest(tmp_path)
    assert [f["path"] for f in man["files"]] == ["a.json", "b.bin"] and man["total_bytes"] == 12
    assert man["files"][1]["sha256"] == hashlib.sha256(b"\x00" * 10).hexdigest()


def check_model_folder(d):
    man = json.loads((d / "manifest.json").read_text())
    on_disk = sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert [f["path"] for f in man["files"]] == on_disk
    for f in man["files"]:
        data = (d / f["path"]).read_bytes()
        assert len(data) == f["size"] and hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
        assert f["size"] <= 15 * 2**20, f"{f['path']} is over the 15 MiB shard limit"
    assert man["total_bytes"] == sum(f["size"] for f in man["files"]) <= 32 * 10**6
    for f in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "README.md",
              "training_metrics.json"):
        assert f in on_disk, f
    assert "model.safetensors" in on_disk or "model.safetensors.index.json" in on_disk
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["torch_dtype"] == "float16"
    assert cfg["eos_token_id"] == 0 and cfg["bos_token_id"] == 0 and cfg["tie_word_embeddings"] is True
    D = cfg["hidden_size"] // cfg["num_attention_heads"]
    assert D % 4 == 0 and cfg["hidden_size"] % 4 == 0 and cfg["num_key_value_heads"] < cfg["num_attention_heads"]
    model = AutoModelForCausalLM.from_pretrained(d)
    with torch.no_grad():
        logits = model.float()(input_ids=torch.tensor([[319, 289, 950]])).logits
    assert torch.isfinite(logits).all()


def test_shipped_models_and_index(shipped_dir):
    index = json.loads((MODELS / "index.json").read_text())
    ids = [m["id"] for m in index["models"]]
    assert SHIPPED in ids and index["default"] in ids          # msn-code-small replaces it as default
    for m in index["models"]:
        assert m["path"] == m["id"] + "/" and m["description"]
        check_model_folder(MODELS / m["id"])
    metrics = json.loads((shipped_dir / "training_metrics.json").read_text())
    for k in ("heldout_loss_base", "heldout_loss_sft", "heldout_loss_msn", "jacobi_mat_sft", "jacobi_mat_msn",
              "tree_mat_sft", "tree_mat_msn"):
        assert isinstance(metrics[k], float) and len(metrics[k + "_ci95"]) == 2, k
    assert metrics["decode_prompts"] >= 50 and metrics["new_tokens"] == 64 and metrics["window"] == 5
