"""Offline datasets as buffers: D4RL-layout HDF5 files and Minari dataset folders.

Both become one TensorDict ``[N]`` of transitions in frl's (TorchRL's) key layout, in file order, with
the episode boundaries in ``("next", "done")`` (= terminated or truncated), ready for any buffer's
``add`` (`fill` does init + add). h5py is an optional dependency (``pip install frl[offline]``),
imported only by these functions.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tensordict import TensorDict

from frl._checks import fail

if TYPE_CHECKING:  # h5py is optional: imported at run time only by the readers (see _h5py)
    import h5py as h5py_types

__all__ = ["d4rl", "minari", "fill"]


def _h5py(fn: str):
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - depends on the environment
        fail(fn, "reading HDF5 files needs h5py: pip install h5py (or frl[offline])", ImportError)
        raise e
    return h5py


def _dataset(fn: str, h5py, parent, name: str) -> np.ndarray:
    """The array stored at ``parent[name]``; fails unless that is an HDF5 dataset (not a group)."""
    node = parent[name]
    if not isinstance(node, h5py.Dataset):
        fail(fn, f"{name!r} in {parent.file.filename} is a {type(node).__name__}, expected an HDF5 dataset",
             TypeError)
    return node[()]


def _group(fn: str, h5py, parent, name: str) -> h5py_types.Group:
    """The HDF5 group at ``parent[name]``; fails unless that is a group."""
    node = parent[name]
    if not isinstance(node, h5py.Group):
        fail(fn, f"{name!r} in {parent.file.filename} is a {type(node).__name__}, expected an HDF5 group",
             TypeError)
    return node


def _tensor(x, dtype=None) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.to(dtype) if dtype is not None else t


def _transitions(obs, action, next_obs, reward, terminated, truncated) -> TensorDict:
    n = reward.shape[0]
    terminated = terminated.reshape(n, 1).to(torch.bool)
    truncated = truncated.reshape(n, 1).to(torch.bool)
    return TensorDict({
        "observation": obs,
        "action": action,
        "next": {
            "observation": next_obs,
            "reward": reward.reshape(n, 1).to(torch.float32),
            "done": terminated | truncated,
            "terminated": terminated,
            "truncated": truncated,
        },
    }, batch_size=[n])


def d4rl(path: str | os.PathLike) -> TensorDict:
    """Read a D4RL-layout HDF5 file into a TensorDict [N] of transitions.

    The file holds ``observations`` [N, ...], ``actions`` [N, ...], ``rewards`` [N], ``terminals``
    [N] and ``timeouts`` [N], and usually ``next_observations`` [N, ...]. Without
    ``next_observations``, the next observation is the following row's, and the rows where that is
    wrong (the last step of an episode that ended by a timeout or by the end of the file) are dropped,
    as D4RL's own ``qlearning_dataset`` does, and the step before each dropped one is marked truncated.

    Returns:
        TensorDict [N] with "observation", "action", ("next", "observation" / "reward" / "done" /
        "terminated" / "truncated"); reward and the flags are [N, 1].

    References:
        Fu et al., "D4RL: Datasets for Deep Data-Driven Reinforcement Learning", 2020.
    """
    fn = "frl.buffers.offline.d4rl"
    h5py = _h5py(fn)
    with h5py.File(os.fspath(path), "r") as f:
        for k in ("observations", "actions", "rewards", "terminals"):
            if k not in f:
                fail(fn, f"{path} has no dataset {k!r} (it has {', '.join(sorted(f.keys()))})", KeyError)
        obs = _tensor(_dataset(fn, h5py, f, "observations"))
        action = _tensor(_dataset(fn, h5py, f, "actions"))
        reward = _tensor(_dataset(fn, h5py, f, "rewards"))
        terminated = _tensor(_dataset(fn, h5py, f, "terminals"), torch.bool)
        n = reward.shape[0]
        if "timeouts" in f:
            truncated = _tensor(_dataset(fn, h5py, f, "timeouts"), torch.bool)
        else:
            truncated = torch.zeros(n, dtype=torch.bool)
        next_obs = _tensor(_dataset(fn, h5py, f, "next_observations")) if "next_observations" in f else None
    if next_obs is None:
        # Row t's next observation is row t + 1's, except at a timeout or the end of the file,
        # where it is unknown: drop those rows (a terminal row keeps its own, unused, observation).
        keep = ~truncated | terminated
        keep[-1] = bool(terminated[-1])
        next_obs = torch.cat([obs[1:], obs[-1:]])
        # The kept row before a dropped one is where its episode now ends: mark it truncated.
        cut = keep & ~torch.cat([keep[1:], torch.tensor([False])]) & ~terminated
        truncated = truncated | cut
        obs, action, reward, next_obs, terminated, truncated = (
            x[keep] for x in (obs, action, reward, next_obs, terminated, truncated))
    else:
        # The file ends an episode wherever it ends: mark its last step truncated unless terminal.
        truncated = truncated.clone()
        truncated[-1] = truncated[-1] | ~terminated[-1]
    return _transitions(obs, action, next_obs, reward, terminated, truncated)


def _read_group(g: Any) -> torch.Tensor | dict:
    # A Minari observation is an array, or a (nested) dict of arrays stored as an HDF5 group.
    if hasattr(g, "keys"):
        return {k: _read_group(g[k]) for k in g.keys()}
    return _tensor(g[()])


def _slice(x, a, b):
    return {k: _slice(v, a, b) for k, v in x.items()} if isinstance(x, dict) else x[a:b]


def _cat(xs):
    if isinstance(xs[0], dict):
        return {k: _cat([x[k] for x in xs]) for k in xs[0]}
    return torch.cat(xs)


def minari(path: str | os.PathLike) -> TensorDict:
    """Read a Minari dataset folder (``<path>/data/main_data.hdf5``) into a TensorDict [N].

    Each HDF5 group ``episode_<i>`` holds ``observations`` [T + 1, ...] (an array or a group of
    arrays), ``actions`` [T, ...], ``rewards`` [T], ``terminations`` [T] and ``truncations`` [T]. The
    episodes are concatenated in index order; transition ``t`` of an episode has observations ``t``
    and ``t + 1``, and the episode's last step is marked truncated if it is neither terminated nor
    truncated in the file (so episodes never join).

    References:
        Minari, Farama Foundation: https://minari.farama.org (dataset format).
    """
    fn = "frl.buffers.offline.minari"
    h5py = _h5py(fn)
    file = os.path.join(os.fspath(path), "data", "main_data.hdf5")
    if not os.path.exists(file):
        fail(fn, f"{path} is not a Minari dataset folder: {file} is missing", FileNotFoundError)
    parts = []
    with h5py.File(file, "r") as f:
        names = sorted((k for k in f.keys() if k.startswith("episode_")), key=lambda k: int(k.split("_")[1]))
        if not names:
            fail(fn, f"{file} holds no episode_<i> groups")
        for name in names:
            ep = _group(fn, h5py, f, name)
            obs = _read_group(ep["observations"])
            reward = _tensor(_dataset(fn, h5py, ep, "rewards"))
            t = reward.shape[0]
            terminated = _tensor(_dataset(fn, h5py, ep, "terminations"), torch.bool)
            truncated = _tensor(_dataset(fn, h5py, ep, "truncations"), torch.bool).clone()
            truncated[-1] = truncated[-1] | ~terminated[-1]
            parts.append(dict(obs=_slice(obs, 0, t), next_obs=_slice(obs, 1, t + 1),
                              action=_read_group(ep["actions"]), reward=reward,
                              terminated=terminated, truncated=truncated))
    data = {k: _cat([p[k] for p in parts]) for k in parts[0]}
    return _transitions(data["obs"], data["action"], data["next_obs"], data["reward"], data["terminated"],
                        data["truncated"])


def fill(buffer, data: TensorDict, device=None, path=None):
    """``buffer.add(buffer.init(data, device, path), data)``: a buffer holding a whole dataset.

    Example:
        >>> data = frl.buffers.offline.d4rl("hopper-medium-v2.hdf5")
        >>> buf = frl.buffers.uniform(capacity=data.batch_size[0])
        >>> state = frl.buffers.offline.fill(buf, data)
    """
    state = buffer.init(data, device=device, path=path)
    return buffer.add(state, data.to(device) if device is not None else data)
