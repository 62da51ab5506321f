"""The building blocks that the optimizers in `frl.optim` chain together.

Every block flattens its inputs once and works on lists of leaves; a block with per-parameter state
checks the incoming updates against that state first (same keys, same shapes). The ``name`` argument
of the ``named_*`` constructors (shared with the aliases in ``_alias.py``) is the public name errors
should carry: ``adam``'s pieces report ``frl.optim.adam.update``, not the name of the piece that noticed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from frl._checks import fail
from frl._compat import foreach_ops
from frl.optim import _lists as L
from frl.optim._base import EmptyState, GradientTransformation, Schedule
from frl.optim._tree import flatten, leaves_like, unflatten

__all__ = [
    "ScaleByAdamState", "ScaleByAmsgradState", "TraceState", "ScaleByScheduleState",
    "scale", "scale_by_schedule", "scale_by_learning_rate", "add_decayed_weights", "trace",
    "scale_by_adam", "clip_by_global_norm", "global_norm",
]


class ScaleByAdamState(NamedTuple):
    """State of `scale_by_adam`.

    Attributes:
        count: int32 tensor, shape []: updates done so far (the bias corrections use ``count + 1``).
        mu: first-moment estimate, the structure, shapes and dtypes of the params.
        nu: second-moment estimate, likewise.
    """

    count: torch.Tensor
    mu: Any
    nu: Any


class ScaleByAmsgradState(NamedTuple):
    """State of `scale_by_adam` with ``amsgrad=True``: `ScaleByAdamState` plus the running maximum of ``nu``."""

    count: torch.Tensor
    mu: Any
    nu: Any
    nu_max: Any


class TraceState(NamedTuple):
    """State of `trace`.

    Attributes:
        count: int32 tensor, shape []: updates done so far (the first one sets the trace to the
            update, as torch.optim.SGD does, which matters when ``dampening > 0``).
        trace: the momentum buffer, the structure, shapes and dtypes of the params.
    """

    count: torch.Tensor
    trace: Any


class ScaleByScheduleState(NamedTuple):
    """State of `scale_by_schedule`: ``count``, an int32 tensor of shape [], the updates done so far."""

    count: torch.Tensor


def _count_like(leaves: list) -> torch.Tensor:
    # The count lives on the params' device, so a compiled step never moves it across devices.
    device = leaves[0].device if leaves else None
    return torch.zeros((), dtype=torch.int32, device=device)


def _check_range(fn: str, **values) -> None:
    for name, (value, low, high) in values.items():
        if not (low <= value < high):
            hi = "inf)" if high == float("inf") else f"{high})"
            fail(fn, f"{name}={value} is outside [{low}, {hi}")


_INF = float("inf")


# --- stateless scalings -------------------------------------------------------------------------

def _scale(step_size: float) -> GradientTransformation:
    step_size = float(step_size)

    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        leaves, spec = flatten(updates)
        return unflatten(L.mul(L.use_foreach(leaves), leaves, step_size), spec), state

    return GradientTransformation(init, update)


def scale(step_size: float) -> GradientTransformation:
    """Multiply the updates by a constant.

    Args:
        step_size: the factor.

    Returns:
        A stateless GradientTransformation (`EmptyState`).

    Example:
        >>> sgd = frl.optim.scale(-0.1)   # plain gradient descent with learning rate 0.1
    """
    return _scale(step_size)


def _scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    def init(params):
        return ScaleByScheduleState(_count_like(flatten(params)[0]))

    def update(updates, state, params=None):
        leaves, spec = flatten(updates)
        s = step_size_fn(state.count)
        foreach = L.use_foreach(leaves)
        if foreach and isinstance(s, torch.Tensor):
            # One dtype: cast the schedule's float32 value to it, as the loop's type promotion does.
            s = s.to(leaves[0].dtype)
        return unflatten(L.mul(foreach, leaves, s), spec), ScaleByScheduleState(state.count + 1)

    return GradientTransformation(init, update)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    """Multiply the updates by ``step_size_fn(count)``, where ``count`` is the number of updates so far.

    Args:
        step_size_fn: a schedule: int32 tensor [] -> float tensor [] (see `linear_schedule`).

    Returns:
        A GradientTransformation with state `ScaleByScheduleState`.

    Example:
        >>> t = frl.optim.scale_by_schedule(frl.optim.linear_schedule(-1e-3, 0.0, 10_000))
    """
    if not callable(step_size_fn):
        fail("frl.optim.scale_by_schedule", f"step_size_fn must be callable, got {type(step_size_fn).__name__}",
             TypeError)
    return _scale_by_schedule(step_size_fn)


def named_scale_by_learning_rate(name: str, learning_rate: float | Schedule, flip_sign: bool = True
                            ) -> GradientTransformation:
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return _scale_by_schedule(lambda count: sign * learning_rate(count))
    if not isinstance(learning_rate, (int, float)) or learning_rate < 0:
        fail(f"frl.optim.{name}", f"learning rate must be a float >= 0 or a schedule, got {learning_rate!r}")
    return _scale(sign * float(learning_rate))


def scale_by_learning_rate(learning_rate: float | Schedule, *, flip_sign: bool = True) -> GradientTransformation:
    """Multiply the updates by ``-learning_rate`` (a float, or a schedule of the step count).

    Args:
        learning_rate: a float >= 0, or a schedule ``count -> lr``.
        flip_sign: negate, so that adding the updates descends the loss (the default).

    Returns:
        `scale` for a float, `scale_by_schedule` for a schedule.

    Example:
        >>> t = frl.optim.scale_by_learning_rate(frl.optim.cosine_decay_schedule(1e-3, 10_000))
    """
    return named_scale_by_learning_rate("scale_by_learning_rate", learning_rate, flip_sign)


def named_add_decayed_weights(name: str, weight_decay: float) -> GradientTransformation:
    weight_decay = float(weight_decay)
    _check_range(f"frl.optim.{name}", weight_decay=(weight_decay, 0.0, _INF))

    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        fn = f"frl.optim.{name}.update"
        if params is None:
            fail(fn, "params are needed for weight decay; call update(updates, state, params)")
        p, spec = flatten(params)
        u = leaves_like(fn, "updates", updates, params, p, spec, "the params")
        return unflatten(L.add(L.use_foreach(u, p), u, p, alpha=weight_decay), spec), state

    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float) -> GradientTransformation:
    """Add ``weight_decay * params`` to the updates.

    Before `scale_by_adam` this is L2 regularization (``torch.optim.Adam(weight_decay=...)``); after it,
    decoupled weight decay (``torch.optim.AdamW``).

    Args:
        weight_decay: the coefficient, >= 0.

    Returns:
        A stateless GradientTransformation; its ``update`` needs ``params``.

    Example:
        >>> opt = frl.optim.chain(frl.optim.scale_by_adam(), frl.optim.add_decayed_weights(1e-2),
        ...                       frl.optim.scale_by_learning_rate(1e-3))   # = adamw(1e-3)
    """
    return named_add_decayed_weights("add_decayed_weights", weight_decay)


# --- momentum -------------------------------------------------------------------------------------

def named_trace(name: str, decay: float, nesterov: bool = False, dampening: float = 0.0) -> GradientTransformation:
    decay, dampening = float(decay), float(dampening)
    _check_range(f"frl.optim.{name}", momentum=(decay, 0.0, _INF), dampening=(dampening, 0.0, _INF))
    if nesterov and (decay <= 0 or dampening != 0):
        fail(f"frl.optim.{name}", "nesterov momentum needs momentum > 0 and dampening = 0")

    def init(params):
        leaves, spec = flatten(params)
        return TraceState(_count_like(leaves), unflatten([torch.zeros_like(x) for x in leaves], spec))

    def update(updates, state, params=None):
        fn = f"frl.optim.{name}.update"
        t, spec = flatten(state.trace)
        u = leaves_like(fn, "updates", updates, state.trace, t, spec)
        foreach = L.use_foreach(t, u)
        # A zero buffer makes the first step decay * 0 + u = u, torch.optim.SGD's first buffer.
        new_t = L.add(foreach, L.mul(foreach, t, decay), u, alpha=1.0 - dampening)
        if dampening != 0.0:
            # With dampening torch.optim.SGD starts the buffer at the undamped update: a where on the
            # count, not a Python if, so that compiled steps do not recompile.
            first = state.count == 0
            new_t = [torch.where(first, ui, nt) for ui, nt in zip(u, new_t, strict=True)]
        out = L.add(foreach, u, new_t, alpha=decay) if nesterov else new_t
        return unflatten(out, spec), TraceState(state.count + 1, unflatten(new_t, spec))

    return GradientTransformation(init, update)


def trace(decay: float, nesterov: bool = False, dampening: float = 0.0) -> GradientTransformation:
    """Momentum, as in ``torch.optim.SGD``: ``buf = decay * buf + (1 - dampening) * u``.

    The first update sets ``buf = u``. The output is ``buf``, or ``u + decay * buf`` with Nesterov.

    Args:
        decay: the momentum coefficient, >= 0.
        nesterov: Nesterov momentum (needs ``decay > 0`` and ``dampening == 0``).
        dampening: the fraction of the update left out of the buffer after the first step.

    Returns:
        A GradientTransformation with state `TraceState`.

    Example:
        >>> opt = frl.optim.chain(frl.optim.trace(0.9), frl.optim.scale_by_learning_rate(0.01))

    References:
        Sutskever et al., "On the importance of initialization and momentum in deep learning", ICML 2013.
    """
    return named_trace("trace", decay, nesterov, dampening)


# --- Adam -----------------------------------------------------------------------------------------

def named_scale_by_adam(name: str, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                   amsgrad: bool = False) -> GradientTransformation:
    b1, b2, eps = float(b1), float(b2), float(eps)
    _check_range(f"frl.optim.{name}", b1=(b1, 0.0, 1.0), b2=(b2, 0.0, 1.0), eps=(eps, 0.0, _INF))

    def init(params):
        leaves, spec = flatten(params)
        zeros = lambda: unflatten([torch.zeros_like(x) for x in leaves], spec)  # noqa: E731
        if amsgrad:
            return ScaleByAmsgradState(_count_like(leaves), zeros(), zeros(), zeros())
        return ScaleByAdamState(_count_like(leaves), zeros(), zeros())

    def update(updates, state, params=None):
        fn = f"frl.optim.{name}.update"
        mu, spec = flatten(state.mu)
        nu = flatten(state.nu)[0]
        g = leaves_like(fn, "updates", updates, state.mu, mu, spec)
        count = state.count + 1
        # Bias corrections 1 - b^t, once per dtype among the leaves, in that dtype (float64 params get
        # float64 corrections, which is what makes them match torch.optim to rounding).
        corrections = {}
        for x in mu:
            if x.dtype not in corrections:
                t = count.to(x.dtype)
                corrections[x.dtype] = (1.0 - b1 ** t, torch.sqrt(1.0 - b2 ** t))
        foreach = L.use_foreach(mu, nu, g)
        if foreach:  # one dtype
            bc1, bc2_sqrt = corrections[mu[0].dtype]
        else:
            bc1 = [corrections[x.dtype][0] for x in mu]
            bc2_sqrt = [corrections[x.dtype][1] for x in mu]
        new_mu = L.lerp(foreach, mu, g, 1.0 - b1)
        new_nu = L.addcmul(foreach, L.mul(foreach, nu, b2), g, g, 1.0 - b2)
        if amsgrad:
            new_max = L.maximum(foreach, flatten(state.nu_max)[0], new_nu)
            second = new_max
        else:
            second = new_nu
        # The order of operations is torch.optim.Adam's: (m / bc1) / (sqrt(v) / sqrt(bc2) + eps).
        denom = L.add(foreach, L.div(foreach, L.sqrt(foreach, second), bc2_sqrt), eps)
        out = L.div(foreach, L.div(foreach, new_mu, bc1), denom)
        if amsgrad:
            new_state = ScaleByAmsgradState(count, unflatten(new_mu, spec), unflatten(new_nu, spec),
                                            unflatten(new_max, spec))
        else:
            new_state = ScaleByAdamState(count, unflatten(new_mu, spec), unflatten(new_nu, spec))
        return unflatten(out, spec), new_state

    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, amsgrad: bool = False
                  ) -> GradientTransformation:
    """Rescale updates by Adam's bias-corrected moment estimates: ``m_hat / (sqrt(v_hat) + eps)``.

    Args:
        b1: decay of the first moment, in [0, 1).
        b2: decay of the second moment, in [0, 1).
        eps: added to the denominator, after the square root (as torch.optim.Adam).
        amsgrad: divide by the running maximum of the second moment (Reddi et al.).

    Returns:
        A GradientTransformation with state `ScaleByAdamState` (or `ScaleByAmsgradState`). It does not
        apply the learning rate or its sign: chain `scale_by_learning_rate` after it, or use `adam`.

    Example:
        >>> opt = frl.optim.chain(frl.optim.scale_by_adam(), frl.optim.scale_by_learning_rate(1e-3))

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        Reddi et al., "On the Convergence of Adam and Beyond", ICLR 2018.
    """
    return named_scale_by_adam("scale_by_adam", b1, b2, eps, amsgrad)


# --- clipping -------------------------------------------------------------------------------------

def global_norm(tree: Any) -> torch.Tensor:
    """The L2 norm of all leaves of a pytree taken together, as a tensor of shape [].

    Computed as ``torch.nn.utils.clip_grad_norm_`` does: the norm of the per-leaf norms.

    Example:
        >>> frl.optim.global_norm(grads)
    """
    leaves = flatten(tree)[0]
    if not leaves:
        return torch.zeros(())
    return _global_norm(L.use_foreach(leaves), leaves)


def _global_norm(foreach: bool, leaves: list) -> torch.Tensor:
    norms = foreach_ops.norm(leaves) if foreach else [torch.linalg.vector_norm(x) for x in leaves]
    return torch.linalg.vector_norm(torch.stack(norms))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scale the updates down so that their global L2 norm is at most ``max_norm``.

    The same arithmetic as ``torch.nn.utils.clip_grad_norm_``: the factor is
    ``min(max_norm / (norm + 1e-6), 1)``, applied to every leaf.

    Args:
        max_norm: the largest global norm let through, > 0.

    Returns:
        A stateless GradientTransformation (`EmptyState`).

    Example:
        >>> opt = frl.optim.chain(frl.optim.clip_by_global_norm(0.5), frl.optim.adam(3e-4))

    References:
        Pascanu et al., "On the difficulty of training recurrent neural networks", ICML 2013.
    """
    max_norm = float(max_norm)
    if not max_norm > 0:
        fail("frl.optim.clip_by_global_norm", f"max_norm={max_norm} must be > 0")

    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        leaves, spec = flatten(updates)
        if not leaves:
            return updates, state
        foreach = L.use_foreach(leaves)
        norm = _global_norm(foreach, leaves)
        # 1e-6 and the clamp (not a Python if) are clip_grad_norm_'s: the factor is applied always.
        factor = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        if foreach:
            return unflatten(L.mul(foreach, leaves, factor.to(leaves[0].dtype)), spec), state
        return unflatten([x * factor.to(x.dtype) for x in leaves], spec), state

    return GradientTransformation(init, update)
