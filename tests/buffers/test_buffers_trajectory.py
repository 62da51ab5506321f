"""frl.buffers.trajectory: slices stay inside one episode and inside stored data."""

import pytest
import torch

import frl
import frl.buffers as fb
from frl import random as fr


def _episode_ids(done):
    # Episode number of each step in a stream: a new episode starts after every done.
    return torch.cat([torch.zeros(1, dtype=torch.long), done[:-1].long().cumsum(0)])


@pytest.mark.parametrize("pad", [False, True], ids=["strict", "padded"])
def test_slices_never_cross_episode_ends(transitions, pad):
    L, cap = 5, 64
    buf = fb.trajectory(cap, L, pad=pad)
    state = buf.init(transitions(1)[0])
    chunks = [transitions(n, seed=i, done_p=0.15, start=sum((17, 30, 25, 9)[:i]))
              for i, n in enumerate((17, 30, 25, 9))]  # 81 steps through 64 slots: wraps
    for c in chunks:
        state = buf.add(state, c)
    done = torch.cat([c["next", "done"] for c in chunks]).squeeze(-1)  # the whole stream's episode ends
    episode = _episode_ids(done)
    for i in range(10):
        seq, info = buf.sample(state, fr.key(i), 64)
        assert seq.batch_size == torch.Size([64, L])
        step = seq["observation"][..., 0].long()  # the global step number of each row
        mask = info["mask"]
        assert mask[:, 0].all()
        if not pad:
            assert mask.all()
        # Within the mask: consecutive steps of one episode, none overwritten (>= 81 - 64).
        first = step[:, :1]
        assert ((step == first + torch.arange(L)) | ~mask).all()
        assert (episode[step.clamp(max=80)] == episode[first]).logical_or(~mask).all()
        assert (step[mask] >= 81 - cap).all()
        if pad:
            # Masked rows are zeros, and the mask is as long as it can be.
            assert (seq["observation"][~mask] == 0).all()
            for r in range(64):
                s0 = first[r].item()
                want = 1
                while want < L and s0 + want <= 80 and not done[s0 + want - 1]:
                    want += 1
                assert mask[r].sum().item() == want


def test_strict_slices_cover_every_valid_start(transitions):
    L = 3
    buf = fb.trajectory(40, L)
    data = transitions(30, seed=3, done_p=0.2)
    state = buf.add(buf.init(data[0]), data)
    done = data["next", "done"].squeeze(-1)
    ep = _episode_ids(done)
    valid = {s for s in range(30 - L + 1) if ep[s] == ep[s + L - 1]}
    seen = set()
    for i in range(30):
        seq, _ = buf.sample(state, i, 64)
        seen |= set(seq["observation"][:, 0, 0].long().tolist())
    assert seen == valid


def test_add_needs_one_stream(transitions):
    buf = fb.trajectory(16, 4)
    state = buf.init(transitions(1)[0])
    with pytest.raises(ValueError, match=r"frl.buffers.trajectory.add: batch has batch size \[2, 3\]"):
        buf.add(state, transitions(6).reshape(2, 3))


def test_three_ways_ensemble_of_streams(three_ways, transitions):
    buf = fb.trajectory(24, 4)
    args = []
    for seed in (1, 2):
        state = buf.add(buf.init(transitions(1)[0]), transitions(15, seed=seed, done_p=0.2))
        args.append((frl.tree.tree_map(torch.clone, state), transitions(12, seed=seed + 7, done_p=0.2, start=15),
                     fr.key(seed)))

    def add_sample(s, b, k):
        s = frl.tree.tree_map(torch.clone, s)  # add writes in place: each run gets its own copy
        s = buf.add(s, b)
        seq, info = buf.sample(s, k, 6)
        return s, seq, info

    three_ways(add_sample, *args)
