"""The running return of each env's episode, as one pure step: what every loop and collector tracks."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from frl._checks import check_keys, check_shape, fail

__all__ = ["track_episode_return"]


def track_episode_return(td: TensorDictBase, running: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The return of each episode up to and including this step, and the running return for the next.

    Args:
        td: the output of ``env.step`` [*B] (read only): ``("next", "reward")`` and ``("next", "done")``,
            each [*B, 1].
        running: [*B, 1], the return of each env's episode before this step (zeros after a reset).

    Returns:
        ``(episode_return, running)``, each [*B, 1] in ``running``'s dtype: ``episode_return`` is
        ``running + reward``, the episode's whole return where ``("next", "done")`` is set; the new
        ``running`` is the same, zeroed where the episode ended (the env is reset for the next step).

    Example:
        >>> running = torch.zeros(num_envs, 1)
        >>> td = env.step(policy(env_td))
        >>> episode_return, running = track_episode_return(td, running)
        >>> finished = episode_return[td["next", "done"]]  # returns of the episodes that ended

    References:
        TorchRL's ``RewardSum`` transform and ``("next", "episode_reward")`` key hold the same quantity.
    """
    fn = "frl.envs.track_episode_return"
    # get(key, None) rather than check_keys: collectors call this eagerly at every step, and listing the
    # keys costs more than the step's arithmetic.
    reward, done = td.get(("next", "reward"), None), td.get(("next", "done"), None)
    if not isinstance(reward, torch.Tensor) or not isinstance(done, torch.Tensor):
        check_keys(fn, td, [("next", "reward"), ("next", "done")], "td")
        fail(fn, "td's ('next', 'reward') and ('next', 'done') must be tensors")
    check_shape(fn, "running", running, (*td.batch_size, 1))
    episode_return = running + reward.to(running.dtype).reshape(running.shape)
    return episode_return, torch.where(done.reshape(running.shape), torch.zeros_like(episode_return), episode_return)
