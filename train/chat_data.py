"""
Chat data for MSN fine-tuning: JSONL of {"messages": [{"role", "content"}, ...]} (OpenAI roles: system,
user, assistant, tool), or ShareGPT's {"conversations": [{"from", "value"}, ...]} (converted by
`sharegpt_to_messages`), rendered with the model's own chat template (transformers'
`apply_chat_template`), with the loss on the assistant tokens only.

Assistant spans are found by rendering prefix by prefix (most templates have no generation tags):
for assistant message i, A = render(messages[:i], add_generation_prompt=True) and
B = render(messages[:i+1]); the assistant's tokens are those whose text starts in [len(A), len(B))
of the full rendering (its content and the template's end-of-turn text, e.g. "<|eot_id|>" or "</s>"),
and its *content* (where MSN noise may go) is the message text located inside B[len(A):]. Every
rendering must be a prefix of the next (ChatTemplateError otherwise). Tokens come from one tokenisation
of the full text (offsets mapping of a fast tokenizer), so training sees exactly what the template gives.

Special tokens (never hard-coded names):
  BOS: chat data gets exactly what the template renders (e.g. "{{ bos_token }}"), tokenised without
       adding special tokens, as transformers' apply_chat_template(tokenize=True) and the runtime's
       chat encoding do; raw text (the code pairs, a raw prompt) gets the tokens the tokenizer adds in
       front of any text (`bos_prefix`, add_special_tokens=True), as the runtime's raw-prompt encoding.
  EOS: `eos_token_ids(folder, tok)` = generation_config.json eos_token_id (int or list) + config.json
       eos_token_id + the tokenizer's eos_token, in that order, without duplicates. When an example ends
       with an assistant message whose span holds none of them (a template without an end-of-turn
       token), the tokenizer's EOS is appended as a label so the model learns to stop.
"""
import json
from pathlib import Path

ROLE_MAP = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
            "bing": "assistant", "bard": "assistant", "model": "assistant", "system": "system", "tool": "tool",
            "function": "tool", "function_call": "assistant", "observation": "tool"}


class ChatTemplateError(ValueError):
    """The chat template cannot be split into assistant spans (renderings are not prefixes of each other)."""


def sharegpt_to_messages(row: dict) -> dict:
    """{"conversations": [{"from", "value"}]} -> {"messages": [{"role", "content"}]} (other keys kept).
    @throws ValueError on an unknown `from`."""
    out = {k: v for k, v in row.items() if k != "conversations"}
    msgs = []
    for turn in row["conversations"]:
        role = ROLE_MAP.get(str(turn.get("from", "")).lower())
        if role is None:
            raise ValueError(f"ShareGPT turn with unknown 'from': {turn.get('from')!r}")
        msgs.append(dict(role=role, content=turn["value"]))
    out["messages"] = msgs
    return out


def read_chat_jsonl(path) -> list[dict]:
    """Rows with "messages" (ShareGPT rows converted). Rows without an assistant message are skipped."""
    rows = []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        r = json.loads(line)
        if "messages" not in r and "conversations" in r:
            r = sharegpt_to_messages(r)
        if "messages" not in r:
            raise ValueError(f"{path}: a row without 'messages' or 'conversations': {line[:80]!r}")
        if any(m["role"] == "assistant" for m in r["messages"]):
            rows.append(r)
    return rows


def is_chat_file(path) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                return "messages" in r or "conversations" in r
    return False


def eos_token_ids(folder, tok=None) -> list[int]:
    """All EOS ids of a model folder: generation_config.json, then config.json, then the tokenizer."""
    ids = []

    def add(v):
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, int) and x not in ids:
                ids.append(x)
    for name in ("generation_config.json", "config.json"):
        p = Path(folder, name) if folder else None
        if p is not None and p.is_file():
            add(json.loads(p.read_text()).get("eos_token_id"))
    if tok is not None:
        add(tok.eos_token_id)
    return ids


def bos_prefix(tok) -> list[int]:
    """The special tokens the tokenizer puts in front of any text (e.g. [BOS]); [] for none."""
    a = tok("a", add_special_tokens=True)["input_ids"]
    b = tok("a", add_special_tokens=False)["input_ids"]
    i = 0
    while i < len(a) and (a[i:i + len(b)] != b):
        i += 1
    return list(a[:i]) if i < len(a) else []


def _render(tok, messages, template, gen):
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen, chat_template=template)


def encode_chat(tok, messages, template=None, eos_ids=None, max_len=None):
    """One conversation -> (example, truncated). example = {"input_ids", "loss", "noise_spans"} (see msn.py)
    or None when no assistant token survives truncation; truncated = it was longer than max_len.
    @throws ChatTemplateError when prefix renderings are not prefixes of the full rendering."""
    full = _render(tok, messages, template, False)
    spans = []                                   # (assistant start, content start, content end, end) in chars
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tok, messages[:i], template, True) if i else ""
        upto = _render(tok, messages[: i + 1], template, False)
        if not (full.startswith(upto) and upto.startswith(before)):
            raise ChatTemplateError(
                f"the chat template does not render message {i} as a prefix of the conversation, so the assistant "
                "tokens cannot be found by rendering prefix by prefix (pass --chat-template with a template that does)")
        seg = upto[len(before):]
        content = m["content"] if isinstance(m["content"], str) else ""
        c = seg.find(content) if content else -1
        if c < 0 and content.strip():
            content = content.strip()
            c = seg.find(content)
        c0, c1 = (len(before) + c, len(before) + c + len(content)) if c >= 0 else (len(upto), len(upto))
        spans.append((len(before), c0, c1, len(upto)))
    enc = tok(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offs = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    loss = [0] * len(ids)
    noise = []
    for a0, c0, c1, a1 in spans:
        in_content = []
        for t, (s, e) in enumerate(offs):
            if e > s and a0 <= s < a1:
                loss[t] = 1
                if s >= c0 and e <= c1:
                    in_content.append(t)
        if in_content:
            noise.append([in_content[0], in_content[-1] + 1])
    eos_ids = eos_ids or ([tok.eos_token_id] if tok.eos_token_id is not None else [])
    if spans and messages[-1]["role"] == "assistant" and eos_ids:
        last = [t for t, (s, _) in enumerate(offs) if loss[t] and s >= spans[-1][0]]
        if not any(ids[t] in eos_ids for t in last):
            ids.append(eos_ids[0])
            loss.append(1)
    truncated = bool(max_len) and len(ids) > max_len
    if truncated:
        ids, loss = ids[:max_len], loss[:max_len]
        noise = [[s, min(e, max_len)] for s, e in noise if s < max_len]
    if not any(loss):
        return None, truncated
    return dict(input_ids=ids, loss=loss, noise_spans=noise), truncated


def encode_rows(tok, rows, template=None, eos_ids=None, max_len=None):
    """encode_chat over rows -> (examples, stats {"conversations", "truncated", "dropped"})."""
    out, truncated, dropped = [], 0, 0
    for r in rows:
        ex, cut = encode_chat(tok, r["messages"], template, eos_ids, max_len)
        truncated += cut
        if ex is None:
            dropped += 1
            continue
        if "category" in r:
            ex["category"] = r["category"]
        out.append(ex)
    return out, dict(conversations=len(rows), truncated=truncated, dropped=dropped)
