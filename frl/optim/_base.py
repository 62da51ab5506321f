"""The optimizer interface: a pair of pure functions, and how to chain them and apply their output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from frl.optim import _lists as L
from frl.optim._tree import flatten, leaves_like, unflatten

__all__ = ["GradientTransformation", "EmptyState", "identity", "chain", "apply_updates", "Schedule"]

# A schedule: step count (an int32 tensor, shape []; frl's own schedules also take a Python int or a
# count of any shape) -> value (a float tensor of the count's shape).
Schedule = Callable[[Any], torch.Tensor]


class GradientTransformation(NamedTuple):
    """An optimizer, or a piece of one: two pure functions, as in optax.

    Attributes:
        init: ``init(params) -> state``. ``params`` is a pytree of tensors (usually a TensorDict
            from ``TensorDict.from_module``); the state is a NamedTuple of tensors and pytrees shaped
            like ``params``, so it stacks, vmaps, compiles and saves like any other pytree.
        update: ``update(updates, state, params=None) -> (updates, new_state)``. ``updates`` are the
            gradients on the way in (the pytree structure of ``params``) and the change to *add* to
            the params on the way out: descent directions already carry the minus sign and the
            learning rate. Neither argument is modified.

    Example:
        >>> opt = frl.optim.adam(1e-3)
        >>> state = opt.init(params)
        >>> updates, state = opt.update(grads, state, params)
        >>> params = frl.optim.apply_updates(params, updates)
    """

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    """The state of a transform that keeps none."""


def identity() -> GradientTransformation:
    """A transform that returns the updates unchanged (a placeholder in a chain)."""

    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        return updates, state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transforms one after the other; the state is the tuple of their states.

    Args:
        transforms: the transforms, in the order they see the gradients.

    Returns:
        A GradientTransformation whose state is ``tuple(t.init(params) for t in transforms)``.

    Example:
        >>> opt = frl.optim.chain(frl.optim.clip_by_global_norm(1.0), frl.optim.adam(3e-4))
    """
    transforms = tuple(transforms)

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            n = len(state) if isinstance(state, tuple) else type(state).__name__
            raise ValueError(f"frl.optim.chain.update: state holds {n} states, expected {len(transforms)} "
                             "(one per chained transform)")
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: Any, updates: Any) -> Any:
    """Return ``params + updates``, leaf by leaf, in the dtype of each param.

    Args:
        params: a pytree of tensors.
        updates: the output of an optimizer's ``update``: the structure and shapes of ``params``.

    Returns:
        A new pytree of the structure of ``params``; ``params`` itself is not modified.

    Example:
        >>> params = frl.optim.apply_updates(params, updates)
    """
    p, spec = flatten(params)
    u = leaves_like("frl.optim.apply_updates", "updates", updates, params, p, spec, "the params")
    if L.use_foreach(p, u):  # one dtype and device, no functorch wrapper: one foreach add
        return unflatten(L.add(True, p, u), spec)
    return unflatten([pi + ui.to(pi.dtype) for pi, ui in zip(p, u, strict=True)], spec)
