"""RewardSum: the return of the current episode, carried in the TensorDict."""

from __future__ import annotations

import torch

from frl._checks import check_keys, fail
from frl.envs.specs import Unbounded
from frl.envs.transforms._base import Transform, as_keys, td_device

__all__ = ["RewardSum"]


class RewardSum(Transform):
    """Accumulate the reward of each episode in ``"episode_reward"`` [*B, 1]; a new episode starts at 0.

    At a reset the sum is 0; each step writes ``("next", "episode_reward") = td["episode_reward"] +
    ("next", "reward")``, so at an episode's last step it holds the episode's return. On auto-reset
    only the envs that start a new episode go back to 0.

    Args:
        in_keys: the reward entries to sum (``["reward"]``).
        out_keys: where to write the sums (``["episode_reward"]``).

    Example:
        >>> env = TransformedEnv(frl.envs.make("CartPole-v1"), RewardSum())
        >>> traj = frl.envs.rollout(env, None, env.reset(seed=0, batch_size=(4,)), steps=50)
        >>> returns = traj["next", "episode_reward"][traj["next", "done"]]   # one per finished episode

    References:
        TorchRL, ``torchrl.envs.transforms.RewardSum``.
    """

    def __init__(self, in_keys=None, out_keys=None):
        super().__init__()
        self.in_keys = as_keys(in_keys, ("reward",))
        default_out = ["episode_reward"] if len(self.in_keys) == 1 else [
            f"episode_{k if isinstance(k, str) else '_'.join(k)}" for k in self.in_keys]
        self.out_keys = as_keys(out_keys, default_out)
        if len(self.out_keys) != len(self.in_keys):
            fail(self.name, f"got {len(self.in_keys)} in_keys and {len(self.out_keys)} out_keys; "
                            "give one out_key per in_key")

    def _spec(self):
        parent = self._need_parent()
        return parent.reward_spec

    def _reset(self, td, prev):
        out = td.copy()
        spec = self._spec()
        zero = torch.zeros(tuple(td.batch_size) + tuple(spec.shape), dtype=spec.dtype,
                           device=td_device(td))
        for ko in self.out_keys:
            out.set(ko, zero.clone())
        return out

    def _step(self, td, next_td):
        check_keys(self.name, td, self.out_keys, "step's input")
        out = next_td.copy()
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            check_keys(self.name, next_td, (ki,), "step's next")
            out.set(ko, td.get(ko) + next_td.get(ki))
        return out

    def transform_observation_spec(self, specs):
        specs = dict(specs)
        spec = self._spec()
        for ko in self.out_keys:
            specs[ko] = Unbounded(spec.shape, spec.dtype, spec.device)
        return specs

    def __repr__(self) -> str:
        return f"RewardSum(in_keys={self.in_keys}, out_keys={self.out_keys})"
