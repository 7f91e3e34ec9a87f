"""MSN corruption (train/msn.py): the properties listed in issue 3."""
import random

import pytest
import torch

from msn import SFTCollator, msn_corrupt


def example(n_prompt=7, n_resp=20, seed=0):
    r = random.Random(seed)
    return [r.randrange(2, 4096) for _ in range(n_prompt + n_resp)], n_prompt


@pytest.mark.parametrize("seed", range(200))
def test_segment_inside_response_and_drawn_from_left(seed):
    ids, n_prompt = example(n_prompt=3 + seed % 11, n_resp=6 + seed % 23, seed=seed)
    rng = random.Random(seed)
    x, y, (start, length) = msn_corrupt(ids, n_prompt, 5, rng)
    assert length == 5                                      # exactly L positions form the segment
    assert n_prompt <= start and start + length <= len(ids) - 1   # inside the response, eos untouched
    changed = [i for i in range(len(ids)) if x[i] != ids[i]]
    assert all(start <= i < start + length for i in changed)      # inputs unchanged outside the segment
    for i in range(start, start + length):                  # each replacement comes from the left context
        assert x[i] in x[:i]
    assert y[:n_prompt] == [-100] * n_prompt                # prompt masked
    assert y[n_prompt:] == ids[n_prompt:]                   # labels = the clean response
    assert len(x) == len(y) == len(ids)


def test_replacement_is_in_place_left_context():
    """Replays the RNG: token i is x[randrange(0, i)] of the already-corrupted sequence."""
    ids, n_prompt = example(seed=5)
    x, _, (start, length) = msn_corrupt(ids, n_prompt, 5, random.Random(42))
    rng = random.Random(42)
    s = rng.randrange(n_prompt, len(ids) - 5)
    assert s == start
    ref = list(ids)
    for i in range(s, s + 5):
        ref[i] = ref[rng.randrange(0, i)]
    assert x == ref


def test_start_is_uniform_over_the_response():
    ids, n_prompt = example(n_prompt=4, n_resp=10)
    rng = random.Random(0)
    starts = [msn_corrupt(ids, n_prompt, 5, rng)[2][0] for _ in range(4000)]
    allowed = range(n_prompt, len(ids) - 5)                 # 9 start positions
    counts = [starts.count(s) for s in allowed]
    assert set(starts) == set(allowed)
    assert min(counts) > 0.7 * 4000 / len(allowed)


@pytest.mark.parametrize("n_resp,expect", [(1, 0), (2, 1), (3, 2), (5, 4), (6, 5)])
def test_short_responses_clip_the_segment(n_resp, expect):
    ids, n_prompt = example(n_prompt=6, n_resp=n_resp)
    x, y, (start, length) = msn_corrupt(ids, n_prompt, 5, random.Random(1))
    assert length == expect and start == n_prompt
    assert x[-1] == ids[-1] and x[:n_prompt] == ids[:n_prompt]
    assert y == [-100] * n_prompt + ids[n_prompt:]


def test_noise_len_configurable_and_zero():
    ids, n_prompt = example(n_resp=30)
    assert msn_corrupt(ids, n_prompt, 9, random.Random(0))[2][1] == 9
    x, _, (_, length) = msn_corrupt(ids, n_prompt, 0, random.Random(0))
    assert length == 0 and x == ids


def test_input_not_mutated_and_seeded():
    ids, n_prompt = example()
    keep = list(ids)
    a = msn_corrupt(ids, n_prompt, 5, random.Random(7))
    b = msn_corrupt(ids, n_prompt, 5, random.Random(7))
    assert ids == keep and a == b


def test_collator_redraws_noise_and_masks():
    ids, n_prompt = example(n_resp=40)
    feats = [dict(input_ids=ids, n_prompt=n_prompt), dict(input_ids=ids[:20], n_prompt=n_prompt)]
    col = SFTCollator("msn", noise_len=5, pad_id=1, seed=0)
    b1, b2 = col(feats), col(feats)
    assert not torch.equal(b1["input_ids"], b2["input_ids"])          # new noise each time it is seen
    assert torch.equal(b1["labels"], b2["labels"])                    # clean labels
    assert b1["labels"][1, 20:].eq(-100).all() and b1["input_ids"][1, 20:].eq(1).all()
    assert b1["attention_mask"][1].sum() == 20
    sft = SFTCollator("sft", pad_id=1)(feats)
    assert torch.equal(sft["input_ids"][0], torch.tensor(ids))       # plain SFT: no noise
    assert torch.equal(sft["labels"], b1["labels"])
