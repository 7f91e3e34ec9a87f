"""
The one SFT prompt/response format, shared by data mining, fine-tuning, evaluation and (re-implemented
in TypeScript) the runtime's completion box and benchmarks.

FORMAT (exact):
  prompt   = [CLASS_HEADER "\\n"] DEF_BLOCK
      CLASS_HEADER  only for methods: the enclosing class statement's header line(s) verbatim
                    (`class Name(Base):`), without class decorators or the class body.
      DEF_BLOCK     the function's source lines verbatim, from its first decorator (or `def`) line
                    through the line that closes its docstring, ending with the closing quotes.
                    No trailing newline.
      Indentation: the block is dedented so the outermost statement (the class header, or the def for a
                    plain function) starts at column 0; a method keeps its indentation relative to its
                    class (usually 4 spaces). Line ends are "\\n" (never CRLF).
  response = "\\n" + the remaining body lines (same dedent, trailing blank lines dropped), no trailing
             newline; during training it is followed by the end-of-text token <|endoftext|>.
  text     = prompt + response + "<|endoftext|>"

Tokenisation: ids = encode(prompt) + encode(response) + [eos_id], no BOS. Because the prompt ends with a
quote character and the response starts with "\\n", the byte-level pre-tokeniser always splits there, so
encode(prompt + response) gives the same ids (tested); the runtime tokenises the prompt alone and
generates until <|endoftext|>. Loss is taken on the response tokens and the end-of-text token only.

Example (method):
    class Stack:
        def push(self, x):
            \"\"\"Push x on the stack.\"\"\"        <- prompt ends here (no newline)
            self.items.append(x)                 <- response = "\\n        self.items.append(x)"
"""
import ast

EOT = "<|endoftext|>"
PAD = "<|pad|>"


def format_sft(prompt: str, response: str | None = None) -> str:
    """The model's input text: the prompt alone (to generate from) or the full training text."""
    assert not prompt.endswith("\n"), "the prompt ends with the docstring's closing quotes, no newline"
    if response is None:
        return prompt
    assert response.startswith("\n") and not response.endswith("\n")
    return prompt + response + EOT


def encode(tok, text: str):
    """Token ids without special tokens; tok is a tokenizers.Tokenizer or an HF (fast) tokenizer."""
    enc = tok.encode(text, add_special_tokens=False)
    return enc.ids if hasattr(enc, "ids") else list(enc)


def eos_id(tok) -> int:
    """<|endoftext|> id; for a foreign HF base model without it, that model's own EOS token."""
    if hasattr(tok, "token_to_id"):                      # tokenizers.Tokenizer
        return tok.token_to_id(EOT)
    return tok.convert_tokens_to_ids(EOT) if EOT in tok.get_vocab() else tok.eos_token_id


def sft_ids(tok, prompt: str, response: str):
    """(ids, n_prompt): encode(prompt) + encode(response) + [eos]."""
    p, r = encode(tok, prompt), encode(tok, response)
    return p + r + [eos_id(tok)], len(p)


# ----------------------------------------------------------------------------------------------
def _dedent(lines, prefix):
    out = []
    for line in lines:
        if line.strip() == "":
            out.append("")
        elif line.startswith(prefix):
            out.append(line[len(prefix):].rstrip())
        else:
            return None  # e.g. a multi-line string at column 0: dedenting would change it
    return out


def extract_pairs(source: str):
    """All (prompt, response) pairs of one file: functions with a docstring and a non-empty body."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = source.split("\n")
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    pairs = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or len(fn.body) < 2:
            continue
        doc = fn.body[0]
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)):
            continue
        if lines[doc.end_lineno - 1][doc.end_col_offset:].strip() or fn.body[1].lineno <= doc.end_lineno:
            continue  # something after the docstring on its closing line
        start = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
        def_line = lines[start - 1]
        prefix = def_line[: len(def_line) - len(def_line.lstrip())]
        if doc.lineno == fn.lineno:
            continue  # `def f(): "doc"` one-liner
        head, body = lines[start - 1: doc.end_lineno], lines[doc.end_lineno: fn.end_lineno]
        cls = parents.get(fn)
        header = []
        if isinstance(cls, ast.ClassDef):
            hend = max([cls.lineno] + [b.end_lineno for b in cls.bases + cls.keywords])
            header = lines[cls.lineno - 1: hend]
            c_line = header[0]
            prefix = c_line[: len(c_line) - len(c_line.lstrip())]
            if not header[-1].rstrip().endswith(":"):
                continue
        head, body, header = _dedent(head, prefix), _dedent(body, prefix), _dedent(header, prefix)
        if head is None or body is None or header is None:
            continue
        while body and body[-1] == "":
            body.pop()
        if not body or not head[-1].rstrip().endswith(("'", '"')):
            continue
        prompt = "\n".join(header + head)
        response = "\n" + "\n".join(body)
        name = f"{cls.name}.{fn.name}" if isinstance(cls, ast.ClassDef) else fn.name
        pairs.append(dict(name=name, prompt=prompt, response=response))
    return pairs
