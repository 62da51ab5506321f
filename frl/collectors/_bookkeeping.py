"""The collectors' per-env bookkeeping: trajectory ids and episode returns, as pure tensor functions."""

from __future__ import annotations

import math

import torch
from tensordict import TensorDictBase

from frl.envs.episode_return import track_episode_return

__all__ = ["init_stats", "track"]


def init_stats(env_td: TensorDictBase) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The bookkeeping state of a fresh batch of envs: ``((traj_ids, episode_return), next_traj_id [])``.

    ``traj_ids`` [*B] int64: env i starts trajectory i (row-major order); ``episode_return``
    [*B, 1]: zeros, in the dtype of the observation when it is floating. Plain tensors, not a
    TensorDict: in a host loop this runs eagerly at every step, where TensorDict construction costs.
    """
    batch = tuple(env_td.batch_size)
    n = math.prod(batch)
    obs = env_td.get("observation", None)
    dtype = obs.dtype if isinstance(obs, torch.Tensor) and obs.is_floating_point() else torch.float32
    device = env_td.device if env_td.device is not None else torch.device("cpu")
    stats = (torch.arange(n, dtype=torch.int64, device=device).reshape(batch),
             torch.zeros(batch + (1,), dtype=dtype, device=device))
    return stats, torch.tensor(n, dtype=torch.int64, device=device)


def track(td: TensorDictBase, stats: tuple[torch.Tensor, torch.Tensor], next_traj_id: torch.Tensor):
    """The bookkeeping of one step: what to record for it, and the state for the next step.

    Records ``traj_ids`` [*B] (the trajectory each transition belongs to) and ``episode_return``
    [*B, 1] (the return of the episode up to and including this step; where ``("next", "done")`` is
    set it is the episode's return). Envs that are done start a new trajectory whose id is the next
    unused one, given in row-major order of the done envs, so ids are unique over the whole
    collection, as TorchRL's ``("collector", "traj_ids")``. The collector writes the records into
    the stacked batch once, not into every step's TensorDict (TensorDict writes cost per step).

    Args:
        td: the output of ``env.step`` [*B] (read only).
        stats: ``(traj_ids [*B], episode_return [*B, 1])`` from `init_stats` or the previous call.
        next_traj_id: int64 [], the first unused trajectory id.

    Returns:
        ``((traj_ids, episode_return), stats, next_traj_id)``: this step's records and the state
        for the next step.
    """
    batch = tuple(td.batch_size)
    done = td.get(("next", "done"))
    traj_ids, running = stats
    episode_return, running = track_episode_return(td, running)
    done_b = done.reshape(batch)
    flat = done_b.reshape(-1).to(torch.int64)
    # The k-th done env (row-major) gets id next_traj_id + k: cumsum counts the done envs up to each one.
    fresh = (next_traj_id + torch.cumsum(flat, 0) - 1).reshape(batch)
    new_stats = (torch.where(done_b, fresh, traj_ids), running)
    return (traj_ids, episode_return), new_stats, next_traj_id + flat.sum()
