"""train/evaluate_quant.py: which weights are replaced, and by exactly the quantize_ref round trip."""
import torch
from transformers import AutoModelForCausalLM

from evaluate_quant import quantize_model_
from quantize_ref import dequantize, quantize


def test_quantize_model_replaces_every_linear_and_the_embedding_once(toy_base):
    ref = AutoModelForCausalLM.from_pretrained(toy_base, dtype=torch.float64).eval()
    model = AutoModelForCausalLM.from_pretrained(toy_base, dtype=torch.float64).eval()
    names = quantize_model_(model, 4, 32)
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    tied = model.lm_head.weight is model.model.embed_tokens.weight
    assert names[0] == "model.embed_tokens"
    assert names[1:] == [n for n in linears if not (tied and n == "lm_head")]
    for name in names:
        w0 = ref.get_submodule(name).weight
        want = dequantize(**quantize(w0.detach().float(), 4, 32)).double()
        got = model.get_submodule(name).weight
        assert torch.equal(got, want), name
        assert not torch.equal(got, w0), name           # random weights do change on the 4-bit grid
        assert (got - w0).abs().max() <= w0.abs().max() / 7 / 2 * 1.01
    # norms stay as they were
    for (n, p), (_, p0) in zip(model.named_parameters(), ref.named_parameters()):
        if "norm" in n:
            assert torch.equal(p, p0), n
