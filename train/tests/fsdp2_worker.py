"""torchrun worker for test_distributed.py: a truly sharded run with torch's own fully_shard (FSDP2) on gloo.
Each rank shards the tiny chat model, asserts it holds only its shard, trains 2 MSN steps on packed chat data,
then every rank joins the collective save (collective.save_pretrained_collective); rank 0 writes the folder.

    torchrun --nproc_per_node 2 train/tests/fsdp2_worker.py <base folder> <chat.jsonl> <out folder>
"""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from chat_data import encode_rows, eos_token_ids, read_chat_jsonl  # noqa: E402
from collective import save_pretrained_collective  # noqa: E402
from msn import SFTCollator, pack_examples  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402


def main(base, data, out):
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.config.use_cache = False
    full_numel = {n: p.numel() for n, p in model.named_parameters()}
    mesh = torch.distributed.device_mesh.init_device_mesh("cpu", (world,))
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    local = {n: p.to_local().numel() for n, p in model.named_parameters()}
    sharded = all(isinstance(p, DTensor) for p in model.parameters())
    exs, _ = encode_rows(tok, read_chat_jsonl(data), None, eos_token_ids(base, tok), 128)
    bins = pack_examples([len(e["input_ids"]) for e in exs], 128, seed=0)
    col = SFTCollator("msn", noise_len=3, pad_id=tok.pad_token_id, seed=0, pack=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for step in range(2):
        b = col([dict(examples=[exs[i] for i in bins[(2 * step + rank) % len(bins)]])])   # each rank its own rows
        loss = model(**b).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    full = {n: p.full_tensor().detach().clone() for n, p in model.named_parameters()}   # collective, for checking
    save_pretrained_collective(model, out)                                               # every rank joins
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)            # written by rank 0
    same = all(torch.equal(full[n], p) for n, p in reloaded.named_parameters())
    Path(out, f"rank{rank}.json").write_text(json.dumps(dict(rank=rank, world=world, sharded=sharded, local=local,
                                                             full=full_numel, losses=losses, reload_equal=same)))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
