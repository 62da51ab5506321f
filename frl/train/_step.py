"""The optimizer step the train-step factories share: transform the gradients, then apply them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from frl.optim import apply_updates, global_norm
from frl.tree import where

__all__ = ["optimizer_step"]


def optimizer_step(optimizer, grads, opt_state, params, grad_transform: Callable | None = None, *,
                   apply: bool | torch.Tensor = True) -> tuple[Any, Any, torch.Tensor]:
    """``(params, opt_state, grad_norm)`` after one ``optimizer`` step on ``grads``.

    ``grad_transform`` (e.g. `frl.train.all_reduce_gradients`) sees the gradients first: the one
    place a data-parallel all-reduce goes. ``grad_norm`` is the global norm of what the optimizer got.

    ``apply`` gates the step: where it is false (a bool, or a bool tensor so that one compiled step
    serves both outcomes), ``params`` and ``opt_state`` come back unchanged, so an optimizer like Adam
    counts only the steps really taken (TD3's delayed actor).
    """
    if grad_transform is not None:
        grads = grad_transform(grads)
    updates, new_state = optimizer.update(grads, opt_state, params)
    new_params = apply_updates(params, updates)
    if apply is not True:
        new_params, new_state = where(apply, new_params, params), where(apply, new_state, opt_state)
    return new_params, new_state, global_norm(grads)
