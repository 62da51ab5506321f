"""The collectors' per-env bookkeeping: trajectory ids and episode returns, as pure tensor functions."""

from __future__ import annotations

import math

import torch
from tensordict import TensorDict, TensorDictBase

__all__ = ["init_stats", "track"]


def init_stats(env_td: TensorDictBase) -> tuple[TensorDict, torch.Tensor]:
    """The bookkeeping state of a fresh batch of envs: ``(stats [*B], next_traj_id [])``.

    ``stats`` holds ``"traj_ids"`` [*B] int64 (env i starts trajectory i, in row-major order) and
    ``"episode_return"`` [*B, 1] (zeros, in the dtype of the observation when it is floating).
    """
    batch = tuple(env_td.batch_size)
    n = math.prod(batch)
    obs = env_td.get("observation", None)
    dtype = obs.dtype if isinstance(obs, torch.Tensor) and obs.is_floating_point() else torch.float32
    device = env_td.device if env_td.device is not None else torch.device("cpu")
    stats = TensorDict({
        "traj_ids": torch.arange(n, dtype=torch.int64, device=device).reshape(batch),
        "episode_return": torch.zeros(batch + (1,), dtype=dtype, device=device),
    }, batch_size=batch)
    return stats, torch.tensor(n, dtype=torch.int64, device=device)


def track(td: TensorDictBase, stats: TensorDictBase, next_traj_id: torch.Tensor):
    """Annotate one stepped TensorDict and advance the bookkeeping.

    Adds ``("collector", "traj_ids")`` [*B] (the trajectory each transition belongs to) and
    ``("next", "episode_return")`` [*B, 1] (the return of the episode up to and including this step;
    where ``("next", "done")`` is set it is the episode's return). Envs that are done start a new
    trajectory whose id is the next unused one, given in row-major order of the done envs, so ids
    are unique over the whole collection, as TorchRL's ``("collector", "traj_ids")``.

    Args:
        td: the output of ``env.step`` [*B] (modified in place: the collector owns it).
        stats: ``(traj_ids [*B], episode_return [*B, 1])`` from `init_stats` or the previous call.
        next_traj_id: int64 [], the first unused trajectory id.

    Returns:
        ``(td, stats, next_traj_id)`` for the next step.
    """
    batch = tuple(td.batch_size)
    reward = td.get(("next", "reward"))
    done = td.get(("next", "done"))
    episode_return = stats.get("episode_return") + reward.to(stats.get("episode_return").dtype)
    traj_ids = stats.get("traj_ids")
    td.set(("next", "episode_return"), episode_return)
    td.set(("collector", "traj_ids"), traj_ids)
    done_b = done.reshape(batch)
    flat = done_b.reshape(-1).to(torch.int64)
    # The k-th done env (row-major) gets id next_traj_id + k: cumsum counts the done envs up to each one.
    fresh = (next_traj_id + torch.cumsum(flat, 0) - 1).reshape(batch)
    new_stats = TensorDict({
        "traj_ids": torch.where(done_b, fresh, traj_ids),
        "episode_return": torch.where(done.reshape(batch + (1,)), torch.zeros_like(episode_return), episode_return),
    }, batch_size=batch)
    return td, new_stats, next_traj_id + flat.sum()
