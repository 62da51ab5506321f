"""Buffers on disk: memmap buffers reopened after the writing process exits, save / load, prefetch."""

import os
import subprocess
import sys
import textwrap

import torch

import frl
import frl.buffers as fb
from frl import random as fr

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_WRITER = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    import frl.buffers as fb
    from conftest import make_transitions
    buf = fb.prioritized(50, alpha=0.5)
    state = buf.init(make_transitions(1)[0], path={path!r})
    for i in range(3):
        state = buf.add(state, make_transitions(23, seed=i, start=23 * i))  # 69 rows: wraps
    state = buf.update_priorities(state, torch.tensor([2, 7, 7]), torch.tensor([4.0, 1.0, 9.0]))
    fb.save(state, {path!r})  # records cursor, size and max priority; storage and trees are the files
    torch.save({{"state": tuple(state)}}, {expected!r})
""")


def _same(a, b) -> bool:
    # Leaf by leaf (a loaded TensorDict has device "cpu" where a built one may have None).
    la, lb = frl.tree.tree_leaves(tuple(a)), frl.tree.tree_leaves(tuple(b))
    return len(la) == len(lb) and all(torch.equal(x, y) for x, y in zip(la, lb))


def test_memmap_reopens_after_the_writer_exits(tmp_path):
    path, expected = str(tmp_path / "buf"), str(tmp_path / "expected.pt")
    code = _WRITER.format(root=_ROOT, tests=os.path.dirname(os.path.abspath(__file__)), path=path, expected=expected)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    state = fb.load(path, mmap=True)
    want = fb.PrioritizedState(*torch.load(expected, weights_only=False)["state"])
    assert isinstance(state, fb.PrioritizedState)
    assert type(state.storage["observation"]).__name__ == "MemoryMappedTensor"
    assert int(state.cursor) == 69 % 50 and int(state.size) == 50
    assert _same(state, want)
    assert sorted(state.storage["observation"][:, 0].tolist()) == list(range(19, 69))
    # The reopened buffer keeps working, and what it writes lands in the files.
    buf = fb.prioritized(50, alpha=0.5)
    _, info = buf.sample(state, 0, 16)
    state = buf.add(state, frl.tree.index(want.storage, slice(0, 5)))
    fb.save(state, path)
    again = fb.load(path)
    assert int(again.cursor) == (69 + 5) % 50
    assert torch.equal(again.sum_tree, state.sum_tree)


def test_save_load_in_memory(tmp_path, transitions):
    buf = fb.trajectory(32, 4)
    state = buf.add(buf.init(transitions(1)[0]), transitions(40, done_p=0.2))
    fb.save(state, tmp_path / "t")
    back = fb.load(tmp_path / "t")
    assert isinstance(back, fb.TrajectoryState)
    assert type(back.storage["observation"]) is torch.Tensor
    assert _same(back, state)
    a, _ = buf.sample(state, 1, 8)
    b, _ = buf.sample(back, 1, 8)
    assert (a == b).all()


def test_memmap_existing_state(tmp_path, transitions):
    buf = fb.without_replacement(16)
    state = buf.add(buf.init(transitions(1)[0]), transitions(10))
    mm = fb.memmap(state, tmp_path / "w")
    assert type(mm.storage["action"]).__name__ == "MemoryMappedTensor"
    assert _same(mm, state)


def test_prefetch_gives_the_loop_batches(transitions):
    buf = fb.uniform(64)
    state = buf.add(buf.init(transitions(1)[0]), transitions(50))
    key = fr.key(3)
    with fb.prefetch(buf.sample, state, key, 8, depth=3) as it:
        got = [next(it) for _ in range(5)]
    for i, (batch, info) in enumerate(got):
        want_batch, want_info = buf.sample(state, fr.fold_in(key, i), 8)
        assert torch.equal(info["index"], want_info["index"])
        assert (batch == want_batch).all()


def test_prefetch_reports_errors(transitions):
    def broken(state, key, batch_size):
        raise RuntimeError("boom")

    it = fb.prefetch(broken, None, 0, 4)
    try:
        next(it)
    except RuntimeError as e:
        assert "boom" in str(e)
    else:
        raise AssertionError("the sampler's error was not raised")
    it.close()
