"""The optimizer step the train-step factories share: transform the gradients, then apply them."""

from __future__ import annotations

from collections.abc import Callable

from frl.optim import apply_updates, global_norm


def optimizer_step(optimizer, grads, opt_state, params, grad_transform: Callable | None = None):
    """``(params, opt_state, grad_norm)`` after one ``optimizer`` step on ``grads``.

    ``grad_transform`` (e.g. `frl.train.all_reduce_gradients`) sees the gradients first: the one
    place a data-parallel all-reduce goes. ``grad_norm`` is the global norm of what the optimizer got.
    """
    if grad_transform is not None:
        grads = grad_transform(grads)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return apply_updates(params, updates), opt_state, global_norm(grads)
