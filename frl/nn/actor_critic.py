"""Actor and critic sharing a trunk, with the policy and the critic usable on their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_keys
from frl.nn.actor import ProbabilisticActor
from frl.nn.module import Module

__all__ = ["ActorCritic", "actor_critic"]


class ActorCritic(NamedTuple):
    """A shared-trunk actor-critic. See `actor_critic`.

    Attributes:
        init: ``(key) -> TensorDict(trunk=..., actor=..., critic=...)``.
        apply: ``(params, td, key=None, deterministic=False) -> td`` with the hidden features, the
            actor's outputs and the critic's value, the trunk evaluated once.
        policy: a `ProbabilisticActor` (trunk + actor head) over the same full params: the
            standalone policy to collect data or deploy (TorchRL's ``get_policy_operator``).
        critic: a `Module` (trunk + value head) over the same full params (``get_value_operator``).
    """

    init: Callable[[torch.Tensor], TensorDict]
    apply: Callable[..., TensorDictBase]
    policy: ProbabilisticActor
    critic: Module

    def get_policy_operator(self) -> ProbabilisticActor:
        """The standalone policy (TorchRL's name for it); the same as ``self.policy``."""
        return self.policy

    def get_value_operator(self) -> Module:
        """The standalone critic (TorchRL's name for it); the same as ``self.critic``."""
        return self.critic


def actor_critic(trunk: Module, actor_head: ProbabilisticActor, value_head: Module, in_key="observation",
                 hidden_key="hidden") -> ActorCritic:
    """Compose a shared trunk with an actor head and a value head (TorchRL's ``ActorValueOperator``).

    Args:
        trunk: a network `Module` mapping ``td[in_key]`` to features [*B, H].
        actor_head: a `probabilistic_actor` built with ``in_key=hidden_key``.
        value_head: a `value_operator` (or `q_value_operator`) built with ``in_key=hidden_key``.
        in_key: the observation key read by the trunk.
        hidden_key: where the trunk's features are written.

    Returns:
        `ActorCritic` ``(init, apply, policy, critic)``. All three functions take the full params
        ``TensorDict(trunk=..., actor=..., critic=...)``, so gradients of an actor loss and of a value
        loss both reach the trunk.

    Example:
        >>> trunk = frl.nn.mlp(3, 64, (64,), activate_last=True)
        >>> ac = frl.nn.actor_critic(
        ...     trunk,
        ...     frl.nn.probabilistic_actor(frl.nn.mlp(64, 2, ()), in_key="hidden"),
        ...     frl.nn.value_operator(frl.nn.mlp(64, 1, ()), in_key="hidden"))
        >>> params = ac.init(frl.random.key(0))
        >>> td = TensorDict(observation=torch.zeros(8, 3), batch_size=[8])
        >>> sorted(ac.apply(params, td, frl.random.key(1)).keys())
        ['action', 'action_log_prob', 'hidden', 'loc', 'observation', 'scale', 'state_value']
        >>> ac.policy.apply(params, td, deterministic=True)["action"].shape
        torch.Size([8, 1])
    """

    def init(key: torch.Tensor) -> TensorDict:
        k_trunk, k_actor, k_critic = fr.split(key, 3)
        return TensorDict(trunk=trunk.init(k_trunk), actor=actor_head.init(k_actor),
                          critic=value_head.init(k_critic))

    def _hidden(params: TensorDict, td: TensorDictBase, name: str) -> TensorDictBase:
        check_keys(name, td, [in_key])
        out = td.copy()
        out.set(hidden_key, trunk.apply(params["trunk"], td.get(in_key)))
        return out

    def apply(params: TensorDict, td: TensorDictBase, key: torch.Tensor | None = None,
              deterministic: bool = False) -> TensorDictBase:
        h = _hidden(params, td, "frl.nn.actor_critic.apply")
        out = actor_head.apply(params["actor"], h, key, deterministic)
        return value_head.apply(params["critic"], out)

    def policy_apply(params: TensorDict, td: TensorDictBase, key: torch.Tensor | None = None,
                     deterministic: bool = False) -> TensorDictBase:
        return actor_head.apply(params["actor"], _hidden(params, td, "frl.nn.actor_critic.policy.apply"),
                                key, deterministic)

    def policy_get_dist(params: TensorDict, td: TensorDictBase):
        return actor_head.get_dist(params["actor"], _hidden(params, td, "frl.nn.actor_critic.policy.get_dist"))

    def critic_apply(params: TensorDict, td: TensorDictBase) -> TensorDictBase:
        return value_head.apply(params["critic"], _hidden(params, td, "frl.nn.actor_critic.critic.apply"))

    return ActorCritic(init, apply, ProbabilisticActor(init, policy_apply, policy_get_dist),
                       Module(init, critic_apply))
