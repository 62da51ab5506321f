"""The batch keys the losses read, in TorchRL's layout (one tuple per kind of batch)."""

from __future__ import annotations

__all__ = ["TRANSITION_KEYS", "TRANSITION_LOSS_KEYS", "PPO_BATCH_KEYS"]

#: What a replay buffer of one-step transitions keeps of a step (TorchRL's key layout).
TRANSITION_KEYS = ("observation", "action", ("next", "observation"), ("next", "reward"), ("next", "done"),
                   ("next", "terminated"))

#: What every one-step transition loss (DQN, SAC, DDPG, TD3) checks its batch for. The networks read
#: more (usually "observation" and ("next", "observation")); they check their own inputs.
#: ``DQN_BATCH_KEYS``, ``SAC_BATCH_KEYS`` and ``DDPG_BATCH_KEYS`` are this tuple.
TRANSITION_LOSS_KEYS = ("action", ("next", "reward"), ("next", "terminated"))

#: What a PPO batch must hold (the actor and critic may read more, e.g. "observation").
PPO_BATCH_KEYS = ("action", "action_log_prob", "advantage", "value_target")
