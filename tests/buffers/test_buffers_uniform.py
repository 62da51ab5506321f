"""frl.buffers.uniform: ring-buffer writes, uniform sampling, errors, the three ways to run."""

import pytest
import torch

import frl
import frl.buffers as fb
from frl import random as fr


def test_wraparound_keeps_newest(transitions):
    buf = fb.uniform(10)
    state = buf.init(transitions(1)[0])
    for start in (0, 7, 14):  # 21 rows through 10 slots
        state = buf.add(state, transitions(7, seed=start, start=start))
    assert int(state.size) == 10 and int(state.cursor) == 21 % 10
    stored = sorted(state.storage["observation"][:, 0].tolist())
    assert stored == list(range(11, 21))
    # A batch longer than the capacity keeps only its last `capacity` rows.
    state = buf.add(state, transitions(25, start=100))
    assert sorted(state.storage["observation"][:, 0].tolist()) == list(range(115, 125))


def test_init_from_a_batch_uses_one_items_layout(transitions):
    rollout = transitions(12).reshape(3, 4)
    buf = fb.uniform(8)
    state = buf.init(rollout)
    assert state.storage.batch_size == torch.Size([8])
    assert state.storage["observation"].shape == (8, 3)
    state = buf.add(state, rollout)  # [3, 4] is flattened to 12 rows
    assert int(state.size) == 8


def test_uniform_is_uniform(transitions, chi2_crit):
    n = 50
    buf = fb.uniform(64)
    state = buf.add(buf.init(transitions(1)[0]), transitions(n))
    counts = torch.zeros(64)
    for i in range(40):
        _, info = buf.sample(state, fr.key(i), 1000)
        counts += torch.bincount(info["index"], minlength=64).float()
    assert counts[n:].sum() == 0, "sampled an empty row"
    expected = counts.sum() / n
    chi2 = ((counts[:n] - expected) ** 2 / expected).sum().item()
    assert chi2 < chi2_crit(n - 1), chi2


def test_sample_returns_stored_rows(transitions):
    buf = fb.uniform(32)
    data = transitions(20)
    state = buf.add(buf.init(data[0]), data)
    batch, info = buf.sample(state, 3, 16)  # an int seed is accepted
    assert (batch == data[info["index"]]).all()


@pytest.mark.parametrize("bad", ["missing", "extra", "shape", "dtype"])
def test_mismatched_batch_raises_and_keeps_data(transitions, bad):
    buf = fb.uniform(16)
    state = buf.add(buf.init(transitions(1)[0]), transitions(5))
    before = state.storage.clone()
    batch = transitions(3, seed=9)
    if bad == "missing":
        del batch["action"]
        match, exc = "frl.buffers.uniform.add: batch has no key 'action'", KeyError
    elif bad == "extra":
        batch["foo"] = torch.zeros(3)
        match, exc = "frl.buffers.uniform.add: batch has key 'foo'", KeyError
    elif bad == "shape":
        batch["next", "reward"] = torch.zeros(3, 2)
        match, exc = r"frl.buffers.uniform.add: key \('next', 'reward'\) has item shape \[2\].*expected \[1\]", ValueError
    else:
        batch["action"] = batch["action"].double()
        match, exc = "frl.buffers.uniform.add: key 'action' has dtype float64, expected float32", TypeError
    with pytest.raises(exc, match=match):
        buf.add(state, batch)
    assert (state.storage == before).all()


def test_add_is_in_place_and_returns_the_updated_state(transitions):
    # Contract 2: add writes the storage in place; the returned state is the one to use. The old
    # state's cursor and size are stale, and nothing in frl reads them after the call.
    buf = fb.uniform(8)
    s0 = buf.init(transitions(1)[0])
    s1 = buf.add(s0, transitions(3))
    assert s1.storage is s0.storage
    assert int(s0.size) == 0 and int(s1.size) == 3


def _add_sample(buf, state, batch, key):
    state = buf.add(state, batch)
    out, info = buf.sample(state, key, 6)
    return state, out, info


def test_three_ways(three_ways, transitions):
    buf = fb.uniform(16)
    args = []
    for seed in (1, 2):
        state = buf.add(buf.init(transitions(1)[0]), transitions(10, seed=seed))
        args.append((state, transitions(9, seed=seed + 10), fr.key(seed)))
    three_ways(lambda s, b, k: _add_sample(buf, s, b, k), *args)


def test_sample_is_pure(assert_pure, transitions):
    for buf in (fb.uniform(16), fb.prioritized(16), fb.trajectory(16, 3), fb.trajectory(16, 3, pad=True)):
        state = buf.add(buf.init(transitions(1)[0]), transitions(12, done_p=0.2))
        assert_pure(buf.sample, state, fr.key(0), 5)
    buf = fb.without_replacement(16)
    state = buf.add(buf.init(transitions(1)[0]), transitions(12))
    assert_pure(buf.sample, state, fr.key(0), 5)  # returns a new state, leaves the old one
