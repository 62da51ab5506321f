"""Learning-rate schedules: pure functions of the step count, written with tensor ops so they compile.

A schedule maps ``count`` (an int32 tensor of shape [], the number of updates done so far: 0 at the
first update) to a float32 tensor of shape []. It also takes a count of any shape (one value per
element) or a Python int (an exploration schedule read on the host), e.g. an epsilon-greedy
exploration rate annealed over env steps. Branches on the count are ``clamp`` and ``torch.where``,
never a Python ``if`` on a tensor, so a compiled training step never recompiles as the count moves on.
"""

from __future__ import annotations

import math

import torch

from frl._checks import fail
from frl.optim._base import Schedule

__all__ = ["constant_schedule", "linear_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule"]


def _steps(count: torch.Tensor | int) -> torch.Tensor:
    return torch.as_tensor(count).to(torch.float32)


def constant_schedule(value: float) -> Schedule:
    """A schedule that is ``value`` at every step.

    Args:
        value: the constant.

    Returns:
        ``schedule(count) -> value`` as a float32 tensor of ``count``'s shape.

    Example:
        >>> frl.optim.constant_schedule(0.1)(torch.tensor(5))
        tensor(0.1000)
    """
    value = float(value)

    def schedule(count: torch.Tensor | int) -> torch.Tensor:
        return torch.full_like(torch.as_tensor(count), value, dtype=torch.float32)

    return schedule


def linear_schedule(init_value: float, end_value: float, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:
    """Hold ``init_value``, then move linearly to ``end_value`` over ``transition_steps`` steps, then hold.

    Args:
        init_value: the value up to step ``transition_begin``.
        end_value: the value from step ``transition_begin + transition_steps`` on.
        transition_steps: the length of the ramp; 0 gives a constant ``init_value`` (as in optax).
        transition_begin: the step at which the ramp starts.

    Returns:
        ``schedule(count) -> init + (end - init) * clamp((count - begin) / steps, 0, 1)``, float32.

    Example:
        >>> warmup = frl.optim.linear_schedule(0.0, 1.0, transition_steps=4)
        >>> warmup(torch.tensor(1))
        tensor(0.2500)
        >>> epsilon = frl.optim.linear_schedule(1.0, 0.05, 1000)   # also frl.nn.linear_schedule
        >>> epsilon(500)
        tensor(0.5250)

    References:
        optax, ``optax.linear_schedule``; TorchRL's annealing of ``EGreedyModule`` (eps_init, eps_end,
        annealing_num_steps).
    """
    if transition_steps < 0 or transition_begin < 0:
        fail("frl.optim.linear_schedule",
             f"transition_steps={transition_steps} and transition_begin={transition_begin} must be >= 0")
    if transition_steps == 0:
        return constant_schedule(init_value)
    init_value, end_value = float(init_value), float(end_value)

    def schedule(count: torch.Tensor | int) -> torch.Tensor:
        frac = ((_steps(count) - transition_begin) / transition_steps).clamp(0.0, 1.0)
        return init_value + (end_value - init_value) * frac

    return schedule


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """Cosine decay from ``init_value`` to ``alpha * init_value`` over ``decay_steps``, then hold.

    Args:
        init_value: the value at step 0.
        decay_steps: the number of steps of the decay (> 0).
        alpha: the final value as a fraction of ``init_value``.

    Returns:
        ``schedule(count) -> init * ((1 - alpha) * (1 + cos(pi * min(count, steps) / steps)) / 2 + alpha)``.

    Example:
        >>> frl.optim.cosine_decay_schedule(1.0, decay_steps=100)(torch.tensor(50))
        tensor(0.5000)

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.
    """
    if decay_steps <= 0:
        fail("frl.optim.cosine_decay_schedule", f"decay_steps={decay_steps} must be > 0")
    init_value, alpha = float(init_value), float(alpha)

    def schedule(count: torch.Tensor | int) -> torch.Tensor:
        t = _steps(count).clamp(0.0, decay_steps) / decay_steps
        cosine = 0.5 * (1.0 + torch.cos(math.pi * t))
        return init_value * ((1.0 - alpha) * cosine + alpha)

    return schedule


def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                                 end_value: float = 0.0) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    Args:
        init_value: the value at step 0.
        peak_value: the value at step ``warmup_steps``.
        warmup_steps: the length of the warm-up (>= 0).
        decay_steps: the total length of warm-up and decay, as in optax (> ``warmup_steps``); the
            value is ``end_value`` from then on.
        end_value: the final value.

    Returns:
        The schedule, float32.

    Example:
        >>> lr = frl.optim.warmup_cosine_decay_schedule(0.0, 1e-3, warmup_steps=100, decay_steps=10_000)
        >>> opt = frl.optim.adamw(lr)
    """
    if warmup_steps < 0 or decay_steps <= warmup_steps:
        fail("frl.optim.warmup_cosine_decay_schedule",
             f"need 0 <= warmup_steps < decay_steps, got warmup_steps={warmup_steps}, decay_steps={decay_steps}")
    init_value, peak_value, end_value = float(init_value), float(peak_value), float(end_value)
    cosine_steps = decay_steps - warmup_steps

    def schedule(count: torch.Tensor | int) -> torch.Tensor:
        t = _steps(count)
        # max(.., 1) keeps the division finite when there is no warm-up; the branch is then unused.
        warm = init_value + (peak_value - init_value) * (t / max(warmup_steps, 1))
        d = (t - warmup_steps).clamp(0.0, cosine_steps) / cosine_steps
        decay = end_value + (peak_value - end_value) * 0.5 * (1.0 + torch.cos(math.pi * d))
        return torch.where(t < warmup_steps, warm, decay)

    return schedule
