"""Target networks: slowly-moving copies of parameters, updated by pure functions."""

from __future__ import annotations

import torch

from frl.tree import tree_map

__all__ = ["soft_update"]


def soft_update(target, params, tau: float):
    """Polyak averaging ``target <- (1 - tau) * target + tau * params``; returns the new target.

    ``tau=1`` copies ``params`` (a hard update). Pure: neither input is modified.

    References:
        Lillicrap et al., "Continuous control with deep reinforcement learning" (2016).
    """
    return tree_map(lambda t, p: torch.lerp(t, p.detach(), tau), target, params)
