"""Optimizers as pure functions over parameter TensorDicts, in the shape of optax.

An optimizer is a `GradientTransformation`: ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``; `apply_updates` adds the updates to the params.
States are NamedTuples of tensors, so an optimizer vmaps over a stacked ensemble of params and
compiles into a training step. `adam`, `adamw` and `sgd` match their torch.optim namesakes step for
step; the building blocks (`scale_by_adam`, `trace`, `clip_by_global_norm`, ...) chain into others.
"""

from frl.optim._alias import adam, adamw, sgd
from frl.optim._base import EmptyState, GradientTransformation, Schedule, apply_updates, chain, identity
from frl.optim._schedules import constant_schedule, cosine_decay_schedule, linear_schedule, warmup_cosine_decay_schedule
from frl.optim._transforms import (
                                  ScaleByAdamState,
                                  ScaleByAmsgradState,
                                  ScaleByScheduleState,
                                  TraceState,
                                  add_decayed_weights,
                                  clip_by_global_norm,
                                  global_norm,
                                  scale,
                                  scale_by_adam,
                                  scale_by_learning_rate,
                                  scale_by_schedule,
                                  trace,
)

__all__ = [
    # the interface
    "GradientTransformation", "EmptyState", "Schedule", "chain", "identity", "apply_updates",
    # optimizers
    "adam", "adamw", "sgd",
    # building blocks and their states
    "scale", "scale_by_schedule", "scale_by_learning_rate", "add_decayed_weights", "trace",
    "scale_by_adam", "clip_by_global_norm", "global_norm",
    "ScaleByAdamState", "ScaleByAmsgradState", "TraceState", "ScaleByScheduleState",
    # schedules
    "constant_schedule", "linear_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule",
]
