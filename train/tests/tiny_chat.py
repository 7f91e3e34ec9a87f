"""A tiny random Llama-style chat model made by the tests (nothing downloaded): its own byte-level BPE
tokenizer with Llama-3-like special tokens (BOS <|begin_of_text|> added to raw text by the post-processor,
EOS <|end_of_text|>, end of turn <|eot_id|>), a chat template that renders the BOS and ends each turn
with <|eot_id|>, and a generation_config whose eos_token_id lists both EOS ids. Plus synthetic chat data."""
import json
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|pad|>"]
TEMPLATE = ("{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
            "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
            "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
WORDS = ("the a cat dog runs jumps over under quick slow red blue green tree house river code python list "
         "dict value return print loop while for if else yes no maybe hello world answer question why how").split()


def sentence(r: random.Random, n: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n)).capitalize() + "."


def conversations(n=40, seed=0, long_every=0):
    """Synthetic chats: optional system message, 1-2 user/assistant turns; every long_every-th is long."""
    r = random.Random(seed)
    rows = []
    for i in range(n):
        msgs = [dict(role="system", content=sentence(r, 4))] if i % 3 == 0 else []
        for _ in range(1 + i % 2):
            msgs.append(dict(role="user", content=sentence(r, r.randrange(3, 9))))
            k = 120 if long_every and i % long_every == long_every - 1 else r.randrange(4, 14)
            msgs.append(dict(role="assistant", content=" " + sentence(r, k) + " "))   # trimmed by the template
        rows.append(dict(messages=msgs, category=["chat", "qa"][i % 2]))
    return rows


def write_jsonl(path: Path, rows):
    path.write_text("".join(json.dumps(x) + "\n" for x in rows))
    return path


def make_tokenizer(folder: Path):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    text = [m["content"] for c in conversations(200, seed=1) for m in c["messages"]] + ["system user assistant"]
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                       special_tokens=[("<|begin_of_text|>", 0)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   pad_token="<|pad|>")
    fast.chat_template = TEMPLATE
    fast.save_pretrained(folder)
    spec = json.loads((folder / "tokenizer.json").read_text())          # merges as "a b" (runtime form)
    spec["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    return PreTrainedTokenizerFast.from_pretrained(folder)


def make_chat_model(folder: Path, seed=0):
    """Writes the model folder; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(folder)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIALS}
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
                      tie_word_embeddings=False, bos_token_id=ids["<|begin_of_text|>"],
                      eos_token_id=ids["<|end_of_text|>"], pad_token_id=ids["<|pad|>"], initializer_range=0.2)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    GenerationConfig(bos_token_id=cfg.bos_token_id, eos_token_id=[ids["<|end_of_text|>"], ids["<|eot_id|>"]],
                     pad_token_id=cfg.pad_token_id, do_sample=False).save_pretrained(folder)
    return folder
