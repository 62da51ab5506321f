"""The batch keys the losses read, in TorchRL's layout (one tuple per kind of batch)."""

from __future__ import annotations

__all__ = ["TRANSITION_KEYS"]

#: What a replay buffer of one-step transitions keeps of a step (TorchRL's key layout).
TRANSITION_KEYS = ("observation", "action", ("next", "observation"), ("next", "reward"), ("next", "done"),
                   ("next", "terminated"))
