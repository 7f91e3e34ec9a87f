"""
Collective saving of a (possibly sharded) model as a plain Hugging Face folder.

Under FSDP (torch `fully_shard`, or accelerate's FSDP plugin) and DeepSpeed ZeRO-3 no rank holds the
whole model: gathering the full state dict is a collective that EVERY rank must join (a rank-0-only
save hangs the others forever). So `save_pretrained_collective` is called by all ranks; they all take
part in the gather, rank 0 alone receives the full (CPU) tensors and writes the folder, then all ranks
meet at a barrier, after which the folder is complete and loadable by any rank.

LoRA (peft): the gathered state dict holds the frozen base weights and the adapters; rank 0 rebuilds
the peft model on a float32 copy of the base (no GPU memory), loads the adapters only (the frozen base
may have run in bf16; the fresh copy keeps the base's exact weights), merges the adapters into the
base weights (`merge_and_unload`) and saves a plain folder that any runtime loads without peft.
"""
import os
from pathlib import Path

import torch
import torch.distributed as dist


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0"))


def barrier():
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def unwrap(model):
    while isinstance(model, torch.nn.parallel.DistributedDataParallel) or hasattr(model, "_orig_mod"):
        model = model.module if hasattr(model, "module") else model._orig_mod
    return model


def gather_full_state_dict(model, accelerator=None):
    """Collective (all ranks call it): the full state dict on CPU on rank 0, None on the other ranks.
    FSDP1/FSDP2 (DTensor shards) and plain/DDP models: torch.distributed.checkpoint's get_model_state_dict
    with full_state_dict + cpu_offload; DeepSpeed (ZeRO-3 needs `zero3_save_16bit_model: true`):
    accelerate's get_state_dict. Tensors keep their training dtype."""
    if accelerator is not None and str(getattr(accelerator, "distributed_type", "")).endswith("DEEPSPEED"):
        sd = accelerator.get_state_dict(model)
        return sd if rank() == 0 else None
    m = unwrap(model)
    if dist.is_available() and dist.is_initialized():
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        sd = get_model_state_dict(m, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return sd if rank() == 0 else None
    return {k: v.detach().to("cpu") for k, v in m.state_dict().items()}


def save_pretrained_collective(model, out, accelerator=None, lora_config=None, base=None, max_shard_size="1GB"):
    """Every rank calls this. Rank 0 writes `out` (config.json, generation_config.json, safetensors shards
    of <= max_shard_size); LoRA models (lora_config given) are merged into a float32 copy of `base` (the
    base model folder) first. Returns the saved (merged) model on rank 0, None elsewhere."""
    sd = gather_full_state_dict(model, accelerator)
    saved = None
    if rank() == 0:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        m = unwrap(model)
        if lora_config is not None:
            from peft import get_peft_model
            from transformers import AutoModelForCausalLM
            fresh = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
            pm = get_peft_model(fresh, lora_config)
            # only the trained tensors: the frozen base may have trained in bf16, the fresh copy is exact
            sd = {k: v.float() for k, v in sd.items() if "lora_" in k or "modules_to_save" in k}
            missing, unexpected = pm.load_state_dict(sd, strict=False)
            missing = [k for k in missing if "lora_" in k]
            assert sd and not missing and not unexpected, f"LoRA state dict mismatch: {missing[:3]} {unexpected[:3]}"
            saved = pm.merge_and_unload()
            saved.config.use_cache = True
            saved.save_pretrained(out, max_shard_size=max_shard_size)
        else:
            m.config.use_cache = True
            m.save_pretrained(out, state_dict=sd, max_shard_size=max_shard_size)
            saved = m
        if getattr(m, "generation_config", None) is not None and not (out / "generation_config.json").exists():
            m.generation_config.save_pretrained(out)
    barrier()
    return saved
