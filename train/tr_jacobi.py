"""
Greedy TR-Jacobi decoding exactly as the runtime does it (src/decode/scheduler.ts, tree.ts,
candidates.ts, retrieval.ts, verify.ts, rng.ts), in PyTorch on any Hugging Face causal LM, so that
train/evaluate.py measures the decoding we ship. Every rule below is the TypeScript one:

TREE (tree.ts): nodes named by template paths of candidate columns (0..9 = Jacobi top-1..top-10 of the
  previous step, 10 = the retrieved token); the paper's tree = root + the 5-deep retrieval chain
  [[10], [10,10], ...] + Medusa's `mc_sim_7b_63` (63 nodes) = 69 nodes; `jacobi` = root + a chain of 5
  top-1 nodes; `retrieval` = root + a chain of as many retrieved tokens as the pool proposed. Paths =
  root-to-leaf slot lists in leaf slot order. Each step the tree is truncated to depth
  dmax = min(5, remaining - 1, context - 1 - P) (an AR step when dmax < 1) and to the first
  max_rows - 1 nodes.
CANDIDATES (candidates.ts): table C[5][11] (-1 = empty). Before a tree step the empty entries the tree
  reads are filled, in slot order, with context[rng.int(len(context))], context = prompt + emitted tokens.
  After a tree step: C is cleared, then row r (depth r + 1) <- the top-10 ids of the slot at index
  accepted + 1 + r of the best path, while that slot exists (the rejected tail). After an AR step the
  Jacobi rows shift one depth towards the root. After every step column 10 <- the retrieval lookup.
RETRIEVAL (retrieval.ts): n-gram index (n = 3, 2, 1) over prompt + emitted tokens; the longest suffix
  match takes the MOST RECENT earlier occurrence, up to 5 following tokens.
VERIFY (verify.ts): a path's draft at slot p[i] is accepted while it equals the argmax at p[i - 1]; the
  best path accepts the most (first on ties); bonus = argmax at its last accepted slot. The KV rows of
  the root and the accepted drafts are kept (here gathered out of the cache at once).
EMIT: tokens of a step are emitted in order, stopping at an EOS id (emitted) or at max_new_tokens.
  steps = decode forwards (prefill of prompt[:-1] not counted); MAT = new tokens / steps.
RNG: `Mulberry32(seed)` is the runtime's createRng (the CLI's --draft-seed, default 24301; one fresh
  generator per generation); `XorShift32` is the Jacobi cross-check's (test/decode/jacobi-crosscheck.test.ts).

The tree forward: tokens [T] at positions P + depth on top of the P cached rows, with a 4D additive mask
(1, 1, T, P + T): every cached row visible, and the tree's ancestor mask among the T new rows.
Top-k ids per row are ordered by value, then by lower id (ties).
"""
import torch
from transformers import DynamicCache

JACOBI_CANDIDATES = 10
RETRIEVAL_COL = JACOBI_CANDIDATES
COLS = JACOBI_CANDIDATES + 1
MAX_DEPTH = 5
CLI_DRAFT_SEED = 24301          # src/cli/args.ts default --draft-seed
MAX_ROWS = 128                  # src/model/memory-plan.ts MAX_ROWS (rows of one forward)
RETRIEVAL_CHAIN = [[RETRIEVAL_COL] * (d + 1) for d in range(MAX_DEPTH)]
MC_SIM_7B_63 = [[0], [0, 0], [1], [0, 1], [2], [0, 0, 0], [1, 0], [0, 2], [3], [0, 3], [4], [0, 4], [2, 0], [0, 5],
                [0, 0, 1], [5], [0, 6], [6], [0, 7], [0, 1, 0], [1, 1], [7], [0, 8], [0, 0, 2], [3, 0], [0, 9], [8],
                [9], [1, 0, 0], [0, 2, 0], [1, 2], [0, 0, 3], [4, 0], [2, 1], [0, 0, 4], [0, 0, 5], [0, 0, 0, 0],
                [0, 1, 1], [0, 0, 6], [0, 3, 0], [5, 0], [1, 3], [0, 0, 7], [0, 0, 8], [0, 0, 9], [6, 0], [0, 4, 0],
                [1, 4], [7, 0], [0, 1, 2], [2, 0, 0], [3, 1], [2, 2], [8, 0], [0, 5, 0], [1, 5], [1, 0, 1],
                [0, 2, 1], [9, 0], [0, 6, 0], [0, 0, 0, 1], [1, 6], [0, 7, 0]]
MODES = ("ar", "jacobi", "retrieval", "tr-jacobi")


class Mulberry32:
    """src/decode/rng.ts createRng: next() uniform in [0, 1), int(n) = floor(next() * n)."""

    def __init__(self, seed: int):
        self.a = seed & 0xFFFFFFFF

    def next_u32(self) -> int:
        self.a = (self.a + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.a
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t = (t ^ (t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF))) & 0xFFFFFFFF
        return (t ^ (t >> 14)) & 0xFFFFFFFF

    def int(self, n: int) -> int:
        return (self.next_u32() * n) >> 32      # exact floor(u32 / 2^32 * n) for n < 2^21


class XorShift32:
    """x ^= x << 13; x ^= x >> 17; x ^= x << 5 (uint32); int(n) = next() % n (the cross-check's Rng)."""

    def __init__(self, seed: int):
        self.x = (seed & 0xFFFFFFFF) or 1

    def next(self) -> int:
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def int(self, n: int) -> int:
        return self.next() % n

    def choice(self, pool):
        return pool[self.next() % len(pool)]


class DraftTree:
    """tree.ts DraftTree: size T, depth/parent/col per slot, root-to-leaf paths, retrieval path index."""

    def __init__(self, template):
        self.template = [list(p) for p in template]
        T = len(template) + 1
        self.size, self.depth, self.parent, self.col = T, [0] * T, [-1] * T, [-1] * T
        slot_of = {(): 0}
        for i, p in enumerate(template):
            j = i + 1
            assert 1 <= len(p) <= MAX_DEPTH and tuple(p) not in slot_of and tuple(p[:-1]) in slot_of, p
            slot_of[tuple(p)] = j
            self.depth[j], self.parent[j], self.col[j] = len(p), slot_of[tuple(p[:-1])], p[-1]
        has_child = [False] * T
        for j in range(1, T):
            has_child[self.parent[j]] = True
        self.paths = []
        for j in range(T):
            if has_child[j]:
                continue
            path, a = [], j
            while a >= 0:
                path.insert(0, a)
                a = self.parent[a]
            self.paths.append(path)
        self.retrieval_path = next((i for i, p in enumerate(self.paths)
                                    if len(p) > 1 and all(self.col[s] == RETRIEVAL_COL for s in p[1:])), -1)
        self.max_depth = max(self.depth)

    @staticmethod
    def paper():
        return DraftTree(RETRIEVAL_CHAIN + MC_SIM_7B_63)

    @staticmethod
    def jacobi_chain(n=MAX_DEPTH):
        return DraftTree([[0] * (i + 1) for i in range(n)])

    @staticmethod
    def retrieval_chain(n):
        return DraftTree(RETRIEVAL_CHAIN[:n])

    def truncate(self, d):
        return self if d >= self.max_depth else DraftTree([p for p in self.template if len(p) <= d])

    def first(self, n):
        """The sub-tree of slots 1..n (tree.ts subtree(1..maxRows-1))."""
        return DraftTree(self.template[:n])

    def mask(self):
        """(T, T) bool: True where row i may see row j (j ancestor-or-self of i)."""
        m = torch.zeros(self.size, self.size, dtype=torch.bool)
        for i in range(self.size):
            a = i
            while a >= 0:
                m[i, a] = True
                a = self.parent[a]
        return m


class RetrievalPool:
    """retrieval.ts: n-gram index over the sequence; lookup = tokens after the most recent earlier match."""

    def __init__(self, max_n=3, max_tokens=MAX_DEPTH):
        self.max_n, self.max_tokens, self.tokens = max_n, max_tokens, []
        self.index = [dict() for _ in range(max_n + 1)]

    def push(self, *ids):
        for t in ids:
            self.tokens.append(t)
            end = len(self.tokens) - 2
            for n in range(1, self.max_n + 1):
                if end - n + 1 < 0:
                    break
                self.index[n][tuple(self.tokens[end - n + 1: end + 1])] = end

    def lookup(self):
        last = len(self.tokens) - 1
        for n in range(min(self.max_n, len(self.tokens)), 0, -1):
            end = self.index[n].get(tuple(self.tokens[last - n + 1: last + 1]))
            if end is not None:
                return self.tokens[end + 1: min(end + 1 + self.max_tokens, len(self.tokens))]
        return []


class CandidateTable:
    """candidates.ts: C[depth - 1][col], -1 empty."""

    def __init__(self):
        self.data = [-1] * (MAX_DEPTH * COLS)

    def get(self, depth, col):
        return self.data[(depth - 1) * COLS + col]

    def clear(self):
        self.data = [-1] * (MAX_DEPTH * COLS)

    def shift(self, n):
        for d in range(1, MAX_DEPTH + 1):
            for c in range(JACOBI_CANDIDATES):
                self.data[(d - 1) * COLS + c] = self.data[(d + n - 1) * COLS + c] if d + n <= MAX_DEPTH else -1

    def set_jacobi(self, depth, ids):
        for c in range(JACOBI_CANDIDATES):
            self.data[(depth - 1) * COLS + c] = ids[c] if c < len(ids) else -1

    def set_retrieval(self, ids):
        for d in range(1, MAX_DEPTH + 1):
            self.data[(d - 1) * COLS + RETRIEVAL_COL] = ids[d - 1] if d <= len(ids) else -1

    def fill_random(self, rng, context, uses):
        for depth, col in uses:
            i = (depth - 1) * COLS + col
            if self.data[i] < 0:
                self.data[i] = context[rng.int(len(context))]


def verify_greedy(tree, tokens, argmax):
    """verify.ts: (best path index, accepted drafts, kept slots, new tokens = accepted drafts + bonus)."""
    best, best_len = 0, -1
    for i, p in enumerate(tree.paths):
        a = 0
        while a + 1 < len(p) and tokens[p[a + 1]] == argmax[p[a]]:
            a += 1
        if a > best_len:
            best, best_len = i, a
    slots = tree.paths[best][: best_len + 1]
    return best, best_len, slots, [tokens[s] for s in slots[1:]] + [argmax[slots[-1]]]


def topk_ids(logits, k):
    """(T, V) -> (T, k) ids by value descending, lower id first on ties."""
    order = torch.sort(logits.float(), dim=-1, descending=True, stable=True).indices   # stable: lower id first
    return order[:, :k]


class RuntimeDecoder:
    """One model; `decode(prompt_ids, max_new_tokens, mode, rng)` -> (tokens, stats) as the runtime."""

    def __init__(self, model, eos_ids, max_rows=MAX_ROWS, context_length=None):
        self.model, self.eos = model, set(int(e) for e in eos_ids)
        self.max_rows = max_rows
        cfg = model.config
        self.context = context_length or min(getattr(cfg, "max_position_embeddings", 4096), 4096)
        self.vocab = cfg.vocab_size
        self.dtype = next(model.parameters()).dtype
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def _forward(self, tokens, positions, cache, P, tree_mask=None):
        """Logits (T, V) of `tokens` on top of the P cached rows (causal, or the tree's mask)."""
        T = len(tokens)
        x = torch.tensor([tokens], device=self.device)
        pos = torch.tensor([positions], device=self.device)
        vis = torch.ones(T, P + T, dtype=torch.bool, device=self.device)
        vis[:, P:] = tree_mask.to(self.device) if tree_mask is not None else torch.tril(torch.ones(T, T, dtype=torch.bool))
        mask = torch.zeros(1, 1, T, P + T, dtype=self.dtype, device=self.device)
        mask.masked_fill_(~vis, torch.finfo(self.dtype).min)
        out = self.model(input_ids=x, position_ids=pos, attention_mask=mask, past_key_values=cache, use_cache=True)
        return out.logits[0].float()

    @staticmethod
    def _keep(cache, P, slots):
        idx = torch.tensor(list(range(P)) + [P + s for s in slots])
        for layer in cache.layers:
            layer.keys = layer.keys.index_select(-2, idx.to(layer.keys.device))
            layer.values = layer.values.index_select(-2, idx.to(layer.values.device))

    def decode(self, prompt, max_new_tokens, mode="tr-jacobi", rng=None):
        """prompt: ids; returns (new token ids, {"steps", "new_tokens", "accepted_histogram", "retrieval_wins"})."""
        assert mode in MODES and len(prompt) >= 1 and max_new_tokens >= 1
        rng = rng or Mulberry32(0x5EED)
        cache = DynamicCache()
        if len(prompt) > 1:
            self._forward(list(prompt[:-1]), list(range(len(prompt) - 1)), cache, 0)
        base = None if mode == "ar" else DraftTree.jacobi_chain() if mode == "jacobi" else \
            DraftTree.retrieval_chain(MAX_DEPTH) if mode == "retrieval" else DraftTree.paper()
        pool = RetrievalPool()
        pool.push(*prompt)
        cand = CandidateTable()
        if base:
            cand.set_retrieval(pool.lookup())
        root, P = prompt[-1], len(prompt) - 1
        k = min(JACOBI_CANDIDATES, self.vocab)
        out, steps, hist, wins = [], 0, {}, 0
        while True:
            remaining = max_new_tokens - len(out)
            tree = base
            if tree is not None and mode == "retrieval":
                n = sum(1 for d in range(1, MAX_DEPTH + 1) if cand.get(d, RETRIEVAL_COL) >= 0)
                tree = DraftTree.retrieval_chain(n) if n > 0 else None
            if tree is not None:
                dmax = min(MAX_DEPTH, remaining - 1, self.context - 1 - P)
                tree = tree.truncate(dmax) if dmax >= 1 else None
                if tree is not None and tree.size > self.max_rows:
                    tree = tree.first(self.max_rows - 1)
                if tree is not None and tree.size <= 1:
                    tree = None
            if tree is None:
                logits = self._forward([root], [P], cache, P)
                new = [int(logits[0].argmax())]
                P += 1
                cand.shift(1)
            else:
                T = tree.size
                cand.fill_random(rng, pool.tokens, [(tree.depth[j], tree.col[j]) for j in range(1, T)])
                tokens = [root] + [cand.get(tree.depth[j], tree.col[j]) for j in range(1, T)]
                logits = self._forward(tokens, [P + d for d in tree.depth], cache, P, tree.mask())
                ids = topk_ids(logits, k).tolist()
                path_i, accepted, slots, new = verify_greedy(tree, tokens, [r[0] for r in ids])
                self._keep(cache, P, slots)
                P += len(slots)
                if path_i == tree.retrieval_path and accepted > 0:
                    wins += 1
                cand.clear()
                path = tree.paths[path_i]
                r = 0
                while accepted + 1 + r < len(path) and r < MAX_DEPTH:
                    cand.set_jacobi(r + 1, ids[path[accepted + 1 + r]])
                    r += 1
            steps += 1
            emit, stop = [], False
            for t in new:
                emit.append(t)
                if t in self.eos or len(out) + len(emit) >= max_new_tokens:
                    stop = True
                    break
            out += emit
            hist[len(emit)] = hist.get(len(emit), 0) + 1
            pool.push(*emit)
            if stop:
                break
            root = new[-1]
            if base is not None:
                cand.set_retrieval(pool.lookup())
        return out, dict(steps=steps, new_tokens=len(out), accepted_histogram=hist, retrieval_wins=wins)
