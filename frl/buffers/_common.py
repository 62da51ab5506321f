"""Checks shared by every buffer: the capacity setting, the sampling key, the empty-buffer guard.

A private module whose names are public within the package: each buffer imports them from here
rather than from another buffer.
"""

from __future__ import annotations

import torch

from frl import random as fr
from frl._checks import check_values, fail

__all__ = ["check_capacity", "as_key", "check_not_empty"]


def check_capacity(fn: str, capacity: int) -> int:
    """Return ``capacity``, or raise ValueError naming ``fn`` unless it is a positive int."""
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        fail(fn, f"capacity must be a positive int, got {capacity!r}")
    return capacity


def as_key(fn: str, key_or_seed, device) -> torch.Tensor:
    """An frl.random key from a key or an int seed (a convenience for scripts)."""
    if isinstance(key_or_seed, int):
        return fr.key(key_or_seed, device=device)
    if not fr.is_key(key_or_seed) or key_or_seed.shape != (2,):
        fail(fn, "key must be an frl.random key (int64 [2]) or an int seed", TypeError)
    return key_or_seed


def check_not_empty(fn: str, x: torch.Tensor, size: torch.Tensor, capacity: int) -> torch.Tensor:
    """Return ``x``, raising RuntimeError naming ``fn`` if the buffer of ``size`` items is empty.

    Sampling an empty buffer has no answer: without this check a ring buffer returns rows of zeros
    and a sum tree's search walks off its leaves. ``size`` is a tensor (a value unknown at trace
    time), so this is a value check (`frl._checks.check_values`): it raises eagerly, under vmap and
    inside a compiled graph without a graph break or a host sync. Use the returned tensor in place
    of ``x``, so that the compiler cannot drop the check.
    """
    return check_values(fn, "state.size", x, size >= 1,
                        f"[1, {capacity}]: the buffer holds 0 items, expected at least 1 (add before sampling)")
