"""Sampling an empty buffer fails with an error naming the function and the size, three ways.

Before, ``frl.buffers.uniform(...).sample`` returned rows of zeros silently and the prioritized
buffer raised a bare IndexError; the without-replacement and trajectory buffers returned padding.
"""

import pytest
import torch

import frl
import frl.buffers as fb
from frl import random as fr

FACTORIES = {
    "uniform": lambda: fb.uniform(8),
    "prioritized": lambda: fb.prioritized(8),
    "without_replacement": lambda: fb.without_replacement(8),
    "trajectory": lambda: fb.trajectory(8, 3),
    "trajectory_pad": lambda: fb.trajectory(8, 3, pad=True),
}
MODES = ["eager", "vmap", "compile"]


def _fn_name(name: str) -> str:
    return "frl.buffers." + name.removesuffix("_pad")


def _run(mode: str, buf, states: list, keys: list):
    sample = lambda s, k: buf.sample(s, k, 4)  # noqa: E731
    if mode == "eager":
        return [sample(s, k) for s, k in zip(states, keys, strict=True)]
    if mode == "vmap":
        return torch.vmap(sample, randomness="error")(frl.tree.stack(states), torch.stack(keys))
    torch._dynamo.reset()
    compiled = torch.compile(sample, fullgraph=True)
    return [compiled(s, k) for s, k in zip(states, keys, strict=True)]


def _clone(state):
    return frl.tree.tree_map(torch.clone, state)


def _assert_same(a, b):
    for x, y in zip(frl.tree.tree_leaves(a), frl.tree.tree_leaves(b), strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(FACTORIES))
def test_sampling_an_empty_buffer_raises(transitions, name, mode):
    buf = FACTORIES[name]()
    states = [buf.init(transitions(1)[0]) for _ in range(2)]
    before = [_clone(s) for s in states]
    keys = [fr.key(0), fr.key(1)]
    match = rf"^{_fn_name(name)}\.sample: state\.size .*the buffer holds 0 items, expected at least 1"
    with pytest.raises(RuntimeError, match=match):
        _run(mode, buf, states, keys)
    # Nothing stored was touched, and the buffer works once it holds items.
    for s, b in zip(states, before, strict=True):
        _assert_same(s, b)
    states = [buf.add(s, transitions(5, seed=i)) for i, s in enumerate(states)]
    _run(mode, buf, states, keys)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(FACTORIES))
def test_an_ensemble_with_one_empty_member_raises(transitions, name, mode):
    buf = FACTORIES[name]()
    full = buf.add(buf.init(transitions(1)[0]), transitions(5))
    empty = buf.init(transitions(1)[0])
    with pytest.raises(RuntimeError, match=rf"^{_fn_name(name)}\.sample: .*holds 0 items"):
        _run(mode, buf, [full, empty], [fr.key(0), fr.key(1)])


@pytest.mark.parametrize("mode", MODES)
def test_trajectory_without_a_full_slice_raises(transitions, mode):
    # Two steps stored and slices of three: nothing to sample without padding.
    buf = fb.trajectory(8, 3)
    states = [buf.add(buf.init(transitions(1)[0]), transitions(2, seed=i)) for i in range(2)]
    assert not bool(buf.can_sample(states[0], 1))
    with pytest.raises(RuntimeError, match=r"^frl\.buffers\.trajectory\.sample: .*holds no 3-step slice"):
        _run(mode, buf, states, [fr.key(0), fr.key(1)])


def test_value_checks_off_keeps_the_old_uniform_answer(transitions):
    # The check is a value check: switched off, sampling an empty buffer is not checked (as before).
    buf = fb.uniform(8)
    state = buf.init(transitions(1)[0])
    frl.set_value_checks(False)
    try:
        batch, info = buf.sample(state, 0, 4)
    finally:
        frl.set_value_checks(True)
    assert (info["index"] == 0).all() and (batch["observation"] == 0).all()
