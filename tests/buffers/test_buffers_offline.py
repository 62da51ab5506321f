"""Offline datasets: D4RL-layout HDF5 files and Minari folders, written here in those layouts."""

import json
import os

import numpy as np
import pytest
import torch

import frl.buffers as fb

h5py = pytest.importorskip("h5py")


def _episodes(rng, lengths, ends):
    """Per-episode arrays: obs [T + 1, 3] whose first entry is the global step number."""
    eps, step = [], 0
    for t, end in zip(lengths, ends):
        obs = rng.normal(size=(t + 1, 3)).astype(np.float32)
        obs[:, 0] = np.arange(step, step + t + 1)
        step += t + 1
        eps.append(dict(obs=obs, act=rng.normal(size=(t, 2)).astype(np.float32),
                        rew=rng.normal(size=t).astype(np.float32),
                        term=np.array([False] * (t - 1) + [end == "term"]),
                        trunc=np.array([False] * (t - 1) + [end == "trunc"])))
    return eps


def test_d4rl_file(tmp_path):
    rng = np.random.default_rng(0)
    eps = _episodes(rng, [4, 3, 5], ["term", "trunc", "none"])
    cat = lambda k, sl=slice(None): np.concatenate([e[k][sl] for e in eps])  # noqa: E731
    path = tmp_path / "d.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.concatenate([e["obs"][:-1] for e in eps])
        f["next_observations"] = np.concatenate([e["obs"][1:] for e in eps])
        f["actions"] = cat("act")
        f["rewards"] = cat("rew")
        f["terminals"] = cat("term")
        f["timeouts"] = cat("trunc")
    td = fb.offline.d4rl(path)
    assert td.batch_size == torch.Size([12])
    assert td["next", "reward"].shape == (12, 1) and td["next", "done"].dtype == torch.bool
    np.testing.assert_array_equal(td["action"].numpy(), cat("act"))
    np.testing.assert_array_equal(td["next", "observation"][:, 0].numpy(),
                                  np.concatenate([e["obs"][1:, 0] for e in eps]))
    # Episode ends: step 3 terminated, step 6 truncated, step 11 cut by the end of the file.
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [3, 6, 11]
    assert td["next", "terminated"].squeeze(-1).nonzero().squeeze(-1).tolist() == [3]
    # Into a buffer whose slices respect those boundaries.
    buf = fb.trajectory(12, 3)
    state = fb.offline.fill(buf, td)
    seq, _ = buf.sample(state, 0, 64)
    starts = set(seq["observation"][:, 0, 0].long().tolist())
    assert starts == {0, 1, 5, 9, 10, 11}  # first observations of the 3-step slices in one episode


def test_d4rl_without_next_observations(tmp_path):
    rng = np.random.default_rng(1)
    eps = _episodes(rng, [3, 4], ["trunc", "term"])
    path = tmp_path / "d.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.concatenate([e["obs"][:-1] for e in eps])
        f["actions"] = np.concatenate([e["act"] for e in eps])
        f["rewards"] = np.concatenate([e["rew"] for e in eps])
        f["terminals"] = np.concatenate([e["term"] for e in eps])
        f["timeouts"] = np.concatenate([e["trunc"] for e in eps])
    td = fb.offline.d4rl(path)
    # The truncated step (its successor is the next episode's first observation) is dropped.
    assert td.batch_size == torch.Size([6])
    obs, nxt = td["observation"][:, 0], td["next", "observation"][:, 0]
    assert (nxt[:-1] == obs[1:]).logical_or(td["next", "done"][:-1, 0]).all()
    assert td["next", "done"][:, 0].nonzero().squeeze(-1).tolist() == [1, 5]
    assert obs.tolist() == [0.0, 1.0, 4.0, 5.0, 6.0, 7.0]


def test_minari_folder(tmp_path):
    rng = np.random.default_rng(2)
    eps = _episodes(rng, [5, 2, 3], ["term", "trunc", "none"])
    os.makedirs(tmp_path / "ds" / "data")
    with h5py.File(tmp_path / "ds" / "data" / "main_data.hdf5", "w") as f:
        for i, e in enumerate(eps):
            g = f.create_group(f"episode_{i}")
            g["observations"] = e["obs"]
            g["actions"] = e["act"]
            g["rewards"] = e["rew"]
            g["terminations"] = e["term"]
            g["truncations"] = e["trunc"]
    with open(tmp_path / "ds" / "data" / "metadata.json", "w") as f:
        json.dump({"total_episodes": 3}, f)
    td = fb.offline.minari(tmp_path / "ds")
    assert td.batch_size == torch.Size([10])
    np.testing.assert_array_equal(td["observation"][:, 0].numpy(),
                                  np.concatenate([e["obs"][:-1, 0] for e in eps]))
    np.testing.assert_array_equal(td["next", "observation"][:, 0].numpy(),
                                  np.concatenate([e["obs"][1:, 0] for e in eps]))
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [4, 6, 9]
    assert td["next", "truncated"].squeeze(-1).nonzero().squeeze(-1).tolist() == [6, 9]
    state = fb.offline.fill(fb.uniform(10), td)
    assert int(state.size) == 10


def test_missing_dataset_names_the_function(tmp_path):
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"] = np.zeros((3, 2))
    with pytest.raises(KeyError, match="frl.buffers.offline.d4rl: .* has no dataset 'actions'"):
        fb.offline.d4rl(path)
    with pytest.raises(FileNotFoundError, match="frl.buffers.offline.minari"):
        fb.offline.minari(tmp_path)
