"""frl.buffers.without_replacement: each item exactly once per epoch, partial batches, three ways."""

import pytest
import torch

import frl
import frl.buffers as fb
from frl import random as fr


@pytest.mark.parametrize("drop_last", [False, True], ids=["keep_last", "drop_last"])
def test_each_item_once_per_epoch(transitions, drop_last):
    n, b = 23, 5
    buf = fb.without_replacement(32, drop_last=drop_last)
    state = buf.add(buf.init(transitions(1)[0]), transitions(n))
    keys = fr.split(fr.key(0), 40)
    epochs, current = [], []
    for k in keys:
        batch, info, state = buf.sample(state, k, b)
        if info["new_epoch"][0] and current:
            epochs.append(current)
            current = []
        assert (batch["observation"][:, 0].long() == info["index"]).all()
        current += info["index"][info["mask"]].tolist()
        if drop_last:
            assert info["mask"].all()
    assert len(epochs) >= 5
    orders = set()
    for e in epochs:
        if drop_last:  # 23 = 4 * 5 + 3: the last 3 of each epoch are dropped
            assert len(e) == 20 and len(set(e)) == 20 and set(e) <= set(range(n))
        else:
            assert sorted(e) == list(range(n))
        orders.add(tuple(e))
    assert len(orders) == len(epochs), "every epoch should have its own order"


def test_partial_last_batch_is_masked(transitions):
    buf = fb.without_replacement(16)
    state = buf.add(buf.init(transitions(1)[0]), transitions(7))
    masks = []
    for i in range(2):
        _, info, state = buf.sample(state, i, 4)
        masks.append(info["mask"].tolist())
    assert masks == [[True] * 4, [True, True, True, False]]


def test_items_added_mid_epoch_wait_for_the_next(transitions):
    buf = fb.without_replacement(16)
    state = buf.add(buf.init(transitions(1)[0]), transitions(4))
    _, info, state = buf.sample(state, 0, 2)
    state = buf.add(state, transitions(4, start=4))
    _, info, state = buf.sample(state, 1, 2)
    assert not info["new_epoch"].any() and info["index"].max() < 4
    _, info, state = buf.sample(state, 2, 8)
    assert info["new_epoch"].all() and sorted(info["index"].tolist()) == list(range(8))


def test_three_ways(three_ways, transitions):
    buf = fb.without_replacement(16)
    args = []
    for seed, taken in ((1, 1), (2, 3)):
        state = buf.add(buf.init(transitions(1)[0]), transitions(10, seed=seed))
        for i in range(taken):  # 4, then 12 of the 10 items taken: mid-epoch, and at the epoch's end
            _, _, state = buf.sample(state, seed + i, 4)
        args.append((state, fr.key(seed)))
    # One member continues its epoch, the other starts a new permutation (both torch.cond branches).
    three_ways(lambda s, k: buf.sample(s, k, 4), *args)
