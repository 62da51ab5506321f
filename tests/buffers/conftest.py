"""Helpers for the buffer tests: Pendulum-sized transitions in frl's key layout."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict


def make_transitions(n: int, seed: int = 0, done_p: float = 0.0, start: int = 0) -> TensorDict:
    """``n`` transitions whose ``("observation")[:, 0]`` is its global row number ``start + i``."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 3, generator=g)
    obs[:, 0] = torch.arange(start, start + n, dtype=torch.float32)
    done = torch.rand(n, 1, generator=g) < done_p
    return TensorDict({
        "observation": obs,
        "action": torch.randn(n, 1, generator=g),
        "next": {
            "observation": torch.randn(n, 3, generator=g),
            "reward": torch.randn(n, 1, generator=g),
            "done": done,
            "terminated": done.clone(),
            "truncated": torch.zeros(n, 1, dtype=torch.bool),
        },
    }, batch_size=[n])


def chi2_critical(dof: int, z: float = 3.719) -> float:
    """Upper chi-square quantile by the Wilson-Hilferty approximation (z = 3.719: p = 1e-4)."""
    c = 2.0 / (9.0 * dof)
    return dof * (1.0 - c + z * c ** 0.5) ** 3


@pytest.fixture
def transitions():
    return make_transitions


@pytest.fixture
def chi2_crit():
    return chi2_critical
