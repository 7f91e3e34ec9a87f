"""
Model sizes for msn-webgpu. The model is transformers' LlamaForCausalLM itself (RMSNorm, RoPE, SwiGLU,
tied embeddings, grouped-query attention), so HF tooling, the WebGPU runtime and the exporter all read
the same config.json. Shape letters follow the project glossary: V vocab, C = H*D hidden, H query heads,
Hkv key/value heads, D head dim, F FFN width, L layers.
"""
from transformers import LlamaConfig, LlamaForCausalLM

VOCAB_SIZE = 4096
EOT_ID, PAD_ID = 0, 1   # <|endoftext|> (also BOS), <|pad|>: fixed by tokenizer.py's special-token order

SIZES = {
    # name:  C (hidden)   F (ffn)               L (layers)          H (heads)              Hkv
    "toy":   dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "tiny":  dict(hidden_size=192, intermediate_size=512, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2),
    "small": dict(hidden_size=384, intermediate_size=832, num_hidden_layers=10, num_attention_heads=6, num_key_value_heads=2),
}
# parameters (tied embeddings): toy ~0.3M, tiny ~3.2M (D=48), small ~15.1M (D=64, ~30 MB in f16)


def make_config(size: str, vocab_size: int = VOCAB_SIZE, max_positions: int = 1024) -> LlamaConfig:
    s = SIZES[size]
    assert s["hidden_size"] % s["num_attention_heads"] == 0
    assert (s["hidden_size"] // s["num_attention_heads"]) % 4 == 0, "runtime wants D % 4 == 0"
    assert s["num_attention_heads"] % s["num_key_value_heads"] == 0
    return LlamaConfig(
        vocab_size=vocab_size, max_position_embeddings=max_positions,
        rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu",
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=EOT_ID, eos_token_id=EOT_ID, pad_token_id=PAD_ID,
        initializer_range=0.02, **s,
    )


def make_model(size: str, **kw) -> LlamaForCausalLM:
    return LlamaForCausalLM(make_config(size, **kw))


def n_params(model) -> int:
    """Unique parameters (the tied embedding counted once)."""
    return sum(p.numel() for p in model.parameters())
