"""Model card (README.md) for an exported model folder, rendered from training_metrics.json + sources.json."""
import json
import platform


def hardware(device: str = "cpu", threads: int = 2) -> str:
    if device.startswith("cuda"):
        try:
            import torch
            return f"1x {torch.cuda.get_device_name(0)}"
        except Exception:
            return "1x CUDA GPU"
    name = platform.processor() or "CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {threads} threads (shared 2-core machine, no GPU)"


def _ci(m, key, nd=3):
    if key not in m:
        return "n/a"
    lo, hi = m.get(key + "_ci95", [None, None])
    return f"{m[key]:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]" if lo is not None else f"{m[key]:.{nd}f}"


FORMAT = '''The model is a *completion* model for Python functions: give it a function's signature and docstring,
it writes the body. There is no chat template. Exact format (see `train/sft_format.py`):

```
prompt   = [CLASS_HEADER "\\n"] DEF_BLOCK
           CLASS_HEADER: for a method, the enclosing `class Name(Bases):` header line(s), verbatim
           DEF_BLOCK:    decorators + `def` signature + docstring, verbatim, ending with the docstring's
                         closing quotes; NO trailing newline
           dedented so the outermost statement starts at column 0; "\\n" line ends
response = "\\n" + body lines (same dedent), no trailing newline, then <|endoftext|>
ids      = encode(prompt) + encode(response) + [eos]   (no BOS; eos = <|endoftext|> = id 0, pad = <|pad|> = id 1)
```

Example prompt (a correct response would be `"\\n        self.items.append(x)"` and then `<|endoftext|>`; this small model often writes something else):

```python
class Stack:
    def push(self, x):
        """Push x on the stack."""
```
Generation should stop at `<|endoftext|>` (eos_token_id 0).'''


def render_card(name: str, m: dict, sources: dict) -> str:
    tr = m.get("training", {})
    cfg, pre, ft = tr.get("config", {}), tr.get("pretrain", {}), tr.get("finetune", {})
    mode = ft.get("mode", "msn")
    pcfg = pre.get("config", {})
    hw = pre.get("hardware") or hardware(pre.get("device", "cpu"), pre.get("threads", 2))
    lines = [
        "---", "license: apache-2.0", "library_name: transformers", "pipeline_tag: text-generation",
        "tags: [code, python, llama, msn, jacobi-decoding]", "---", "",
        f"# {name}", "",
        f"A {tr.get('params', 0) / 1e6:.2f}M-parameter Llama-architecture Python code model trained from scratch "
        f"by the msn-webgpu project (`train/`), then fine-tuned with "
        + ("**Make Some Noise** (MSN, Wang et al., EMNLP 2024: one segment of "
           f"{ft.get('noise_len', 5)} response tokens per example replaced by tokens drawn from its left context, "
           "clean labels) so that it tolerates wrong tokens in a Jacobi draft."
           if mode == "msn" else "**plain SFT** (no noise): the ablation twin of the MSN model, same data, steps and seed."),
        "It is small: it writes plausible-looking Python but is often wrong. It exists to run the "
        "WebGPU runtime offline and to measure parallel (Jacobi) decoding.", "",
        "## Architecture", "",
        "| field | value |", "|---|---|",
        f"| architecture | `LlamaForCausalLM` (RMSNorm, RoPE θ=10000, SwiGLU, tied embeddings, GQA) |",
        f"| parameters | {tr.get('params', 0):,} |",
        f"| hidden C / FFN F / layers L | {cfg.get('hidden_size')} / {cfg.get('intermediate_size')} / {cfg.get('num_hidden_layers')} |",
        f"| heads H / KV heads Hkv / head dim D | {cfg.get('num_attention_heads')} / {cfg.get('num_key_value_heads')} / "
        f"{cfg.get('hidden_size', 0) // max(1, cfg.get('num_attention_heads', 1))} |",
        f"| vocab V | {cfg.get('vocab_size')} (byte-level BPE, `<|endoftext|>`=0, `<|pad|>`=1) |",
        f"| trained context | {pcfg.get('seq_len', 256)} tokens (max_position_embeddings {cfg.get('max_position_embeddings')}) |",
        "| weights | float16 safetensors |", "",
        "## Prompt format", "", FORMAT, "",
        "## Training", "",
        "| stage | steps | batch | tokens seen | time | hardware |", "|---|---|---|---|---|---|",
        f"| pretraining (raw code, lr {pcfg.get('lr')}, cosine) | {pre.get('steps')} | {pcfg.get('batch_size')}x{pcfg.get('seq_len')} | "
        f"{pre.get('tokens_seen', 0) / 1e6:.2f}M ({pre.get('tokens_seen', 0) / max(1, pre.get('train_tokens', 1)):.2f} epochs) | "
        f"{pre.get('time_s', 0) / 60:.1f} min | {hw} |",
        f"| {mode.upper()} fine-tuning (lr {ft.get('lr')}, cosine, seed {ft.get('seed')}) | {ft.get('max_steps')} | "
        f"{ft.get('batch_size')} pairs | {ft.get('tokens_seen', 0) / 1e6:.2f}M non-pad ({ft.get('epochs')} epochs of "
        f"{ft.get('train_pairs')} pairs) | {ft.get('train_time_s', 0) / 60:.1f} min | {ft.get('hardware', hw)} |", "",
        f"Final pretraining validation loss {pre.get('final_val_loss')}; fine-tuning train loss "
        f"{ft.get('train_loss')}, validation response loss {ft.get('val_response_loss')}.", "",
    ]
    if "heldout_loss_msn" in m:
        d = m.get("jacobi_mat_diff_msn_minus_sft", {})
        t = m.get("tree_mat_diff_msn_minus_sft", {})
        r = m.get("heldout_loss_rel_msn_vs_sft", {})
        lines += [
            "## Evaluation (held-out test split; base, plain-SFT twin and MSN model)", "",
            f"Loss: mean cross-entropy over response tokens of {m.get('heldout_pairs')} test-split pairs (files never "
            f"seen in any stage). MAT: mean tokens accepted per verification step, {m.get('decode_prompts')} test "
            f"prompts x {m.get('new_tokens')} new tokens, window {m.get('window')}, greedy; Jacobi = plain greedy "
            f"Jacobi (draft initialised from random context tokens, output asserted identical to greedy); tree = "
            f"a draft position counts as matched when the true token is among that position's previous "
            f"top-{m.get('tree_topk')}. 95 % bootstrap intervals over prompts/pairs.", "",
            "| metric | base | plain SFT | MSN |", "|---|---|---|---|",
            f"| held-out response loss | {_ci(m, 'heldout_loss_base')} | {_ci(m, 'heldout_loss_sft')} | {_ci(m, 'heldout_loss_msn')} |",
            f"| Jacobi MAT | | {_ci(m, 'jacobi_mat_sft')} | {_ci(m, 'jacobi_mat_msn')} |",
            f"| tree (top-10) MAT | | {_ci(m, 'tree_mat_sft')} | {_ci(m, 'tree_mat_msn')} |", "",
            f"Paired differences MSN - SFT: Jacobi MAT {d.get('value')} {d.get('ci95')}, tree MAT {t.get('value')} "
            f"{t.get('ci95')}; held-out loss MSN/SFT - 1 = {r.get('value')} {r.get('ci95')}.", "",
            "Paper claims checked at this scale: " + ", ".join(f"{k} = {v}" for k, v in m.get("claims", {}).items()) + ".",
            "",
        ]
        if "greedy_distinct4_msn" in m:
            lines += [
                "Repetition check (looping output is easy to draft): mean greedy output length "
                f"{m['greedy_mean_tokens_sft']} (SFT) vs {m['greedy_mean_tokens_msn']} (MSN) tokens of "
                f"{m['new_tokens']}; mean distinct-4-gram ratio {m['greedy_distinct4_sft']} vs "
                f"{m['greedy_distinct4_msn']}. On the {m.get('nonrepetitive_prompts')} prompts where neither "
                "output repeats itself (distinct-4 >= 0.9 for both): Jacobi MAT "
                f"{_ci(m, 'jacobi_mat_sft_nonrepetitive')} vs {_ci(m, 'jacobi_mat_msn_nonrepetitive')}, tree MAT "
                f"{_ci(m, 'tree_mat_sft_nonrepetitive')} vs {_ci(m, 'tree_mat_msn_nonrepetitive')}.", ""]
        if m.get("notes"):
            lines += [m["notes"], ""]
    if m.get("samples"):
        lines += ["## Samples (greedy, MSN model, held-out prompts)", ""]
        for s in m["samples"]:
            lines += ["```python", s["prompt"] + s["completion"].replace("<|endoftext|>", "  # <|endoftext|>"), "```", ""]
    if sources:
        lines += [
            "## Data and licences", "",
            f"{sources.get('files')} Python files, {sources.get('total_bytes', 0) / 1e6:.1f} MB after filtering "
            f"(CPython 3.11 standard library without tests/idlelib, plus permissively licensed pure-Python packages "
            f"installed on the build machine, each capped at {sources.get('per_dist_cap_bytes', 0) / 1e6:.2f} MB; "
            "de-duplicated by content hash and by package path; generated/minified/huge files dropped). "
            f"File-level split by content hash: {json.dumps(sources.get('split_files'))}. Fine-tuning pairs "
            f"(signature + docstring -> body, mined with `ast`): {json.dumps(sources.get('sft_pairs'))}.", "",
            "| source | version | licence (from its metadata) | files | bytes |", "|---|---|---|---|---|",
        ]
        for dist, d in sources.get("distributions", {}).items():
            lines.append(f"| {dist} | {d['version']} | {d['licence']} | {d['files']} | {d['bytes']:,} |")
        skipped = sources.get("skipped_licence", {})
        if skipped:
            lines += ["", "Skipped for their licence (copyleft or unknown): " + ", ".join(
                f"{k} ({v})" for k, v in skipped.items()) + "."]
        lines += ["", "The model weights are released under Apache-2.0; the training data keeps its own licences "
                  "(all permissive, listed above)."]
    lines += ["", "## Reproduce", "", "See `train/README.md` in the msn-webgpu repository (`train/run_tiny.sh`).", ""]
    return "\n".join(lines)
