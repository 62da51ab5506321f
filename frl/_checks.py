"""Argument checks that raise clear errors and are safe under torch.compile and vmap.

Every public function checks its inputs at the top. Shape, dtype and key checks look only at static
metadata, which torch.compile knows at trace time, so they cost nothing in a compiled graph and never
synchronize with the device. Checks on *values* (an action outside its spec, a NaN) go through
`check_values`, a tiny custom op that raises on the host without a graph break and also works under
vmap; they can be switched off for hot loops with `frl.set_value_checks(False)`.

Messages follow torch.func's habit: they start with the public function's name, then the key or
argument, then what was expected, e.g.
``frl.returns.gae: value has shape [4, 7], expected [4, 8] (time_dim=-2)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NoReturn

import torch

from frl._compat import assert_async, is_batched_tensor

__all__ = [
    "FrlKeyError",
    "fail",
    "check_keys",
    "check_shape",
    "check_same_shape",
    "check_dtype",
    "check_floating",
    "check_time_dim",
    "check_key_or_seed",
    "check_values",
    "set_value_checks",
    "value_checks_enabled",
    "fmt_shape",
    "check_key",
]


class FrlKeyError(KeyError):
    """A missing TensorDict key. Unlike KeyError, prints its message without extra quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def fmt_shape(shape: Iterable) -> str:
    return "[" + ", ".join("*" if s is None else str(int(s)) for s in shape) + "]"


def fmt_key(key) -> str:
    return repr(key) if isinstance(key, str) else str(tuple(key))


def fail(fn: str, msg: str, exc: type[Exception] = ValueError) -> NoReturn:
    """Raise ``exc`` with the message ``"{fn}: {msg}"``."""
    raise exc(f"{fn}: {msg}")


def check_keys(fn: str, td, keys: Sequence, what: str = "input") -> None:
    """Raise FrlKeyError naming the first of ``keys`` that ``td`` lacks."""
    for key in keys:
        if key not in td.keys(include_nested=True):
            present = sorted(fmt_key(k) for k in td.keys(include_nested=True, leaves_only=True))
            fail(fn, f"{what} TensorDict has no key {fmt_key(key)} (it has {', '.join(present) or 'none'})",
                 FrlKeyError)


def check_shape(fn: str, name: str, tensor: torch.Tensor, expected: Sequence, note: str = "") -> None:
    """Check ``tensor.shape`` against ``expected``, where ``None`` matches any size."""
    shape = tuple(tensor.shape)
    ok = len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected, strict=True))
    if not ok:
        extra = f" ({note})" if note else ""
        fail(fn, f"{name} has shape {fmt_shape(shape)}, expected {fmt_shape(expected)}{extra}")


def check_same_shape(fn: str, reference_name: str, reference: torch.Tensor, **others: torch.Tensor) -> None:
    """Check that every tensor in ``others`` (skipping None) has the shape of ``reference``."""
    for name, t in others.items():
        if t is not None and not isinstance(t, (int, float)) and t.shape != reference.shape:
            fail(fn, f"{name} has shape {fmt_shape(t.shape)}, expected {fmt_shape(reference.shape)} "
                     f"(the shape of {reference_name})")


def check_dtype(fn: str, name: str, tensor: torch.Tensor, allowed: Sequence[torch.dtype]) -> None:
    if tensor.dtype not in allowed:
        names = ", ".join(str(d).replace("torch.", "") for d in allowed)
        fail(fn, f"{name} has dtype {str(tensor.dtype).replace('torch.', '')}, expected one of {names}",
             TypeError)


def check_floating(fn: str, name: str, tensor: torch.Tensor) -> None:
    if not tensor.is_floating_point():
        fail(fn, f"{name} has dtype {str(tensor.dtype).replace('torch.', '')}, expected a floating dtype",
             TypeError)


def check_time_dim(fn: str, time_dim: int, ndim: int) -> int:
    """Return ``time_dim`` as a non-negative index, or raise if it is out of range for ``ndim``."""
    if not -ndim <= time_dim < ndim:
        fail(fn, f"time_dim={time_dim} is out of range for a tensor with {ndim} dimensions")
    return time_dim % ndim


def check_key_or_seed(fn: str, key, seed, *, required: bool = True) -> None:
    """Check the ``key=`` / ``seed=`` pair of a call that takes one of them (a reset, a collector).

    ``key`` must be an `frl.random` key: an int64 tensor of shape [2] (under vmap, per member). The
    caller turns ``seed`` into a key itself (``frl.random.key(seed)``; frl.random imports this module).

    Args:
        fn: the public function's name, for the messages.
        key: the ``key`` argument, or None.
        seed: the ``seed`` argument, or None.
        required: whether one of them must be given (a host env's reset may take neither).

    Raises:
        TypeError: both are given, neither is given (when ``required``), or ``key`` is not a key.

    Example:
        >>> check_key_or_seed("frl.envs.Pendulum.reset", None, 0)      # fine: seed=0
        >>> check_key_or_seed("frl.envs.Pendulum.reset", None, None)   # TypeError: give a key ...
    """
    if key is not None and seed is not None:
        fail(fn, "give either key or seed, not both", TypeError)
    if key is None:
        if seed is None and required:
            fail(fn, "give a key (frl.random.key(seed)) or seed=<int>", TypeError)
        return
    check_key(fn, key)


def check_key(fn: str, key) -> None:
    """Raise TypeError unless ``key`` is one `frl.random` key: an int64 tensor of shape [2].

    Under vmap the check sees one member's key, so a batch of keys passes where it is vmapped over.
    """
    if not isinstance(key, torch.Tensor):
        fail(fn, f"{_KEY_EXPECTED}, got {type(key).__name__}", TypeError)
    if key.dtype != torch.int64 or tuple(key.shape) != (2,):
        fail(fn, f"{_KEY_EXPECTED}, got {str(key.dtype).replace('torch.', '')} {fmt_shape(key.shape)}", TypeError)


_KEY_EXPECTED = "key must be an int64 tensor of shape [2] (an frl.random key: frl.random.key(seed); vmap over a batch)"


# --- value checks -----------------------------------------------------------------------------

_VALUE_CHECKS = [True]


def set_value_checks(enabled: bool) -> None:
    """Turn the checks on tensor *values* (out-of-spec actions, NaNs) on or off, for all of frl.

    Shape, dtype and key checks always run: they are free. Value checks cost one small host-side op
    per call, which matters only in the tightest compiled loops. The flag is read at trace time, so
    a compiled function must be re-traced (``torch.compiler.reset()``) to see a change.
    """
    _VALUE_CHECKS[0] = bool(enabled)


def value_checks_enabled() -> bool:
    return _VALUE_CHECKS[0]


# The check under vmap. An op with no outputs would be removed from a compiled graph as dead code,
# so the check returns a copy of the tensor it guards and the caller uses that copy: the assert
# then stays in the graph.
@torch.library.custom_op("frl::check_values", mutates_args=())
def _check_values_op(x: torch.Tensor, ok: torch.Tensor, message: str) -> torch.Tensor:
    # assert_async (torch._assert_async) does not synchronize on CUDA; on the CPU it raises at once.
    assert_async(ok.all(), message)
    return x.clone()


@_check_values_op.register_fake
def _(x, ok, message):
    return torch.empty_like(x)


def _check_values_vmap(info, in_dims, x, ok, message):
    # The physical tensors hold every vmapped member at once: check them all in one go.
    x_dim, ok_dim, _ = in_dims
    if x_dim is None:
        x, x_dim = x.unsqueeze(0).expand(info.batch_size, *x.shape), 0
    return _check_values_op(x, ok, message), x_dim


_check_values_op.register_vmap(_check_values_vmap)


def check_values(fn: str, name: str, x: torch.Tensor, ok: torch.Tensor, expected: str) -> torch.Tensor:
    """Return ``x``, raising ``RuntimeError("{fn}: {name} ... expected {expected}")`` if any ``ok`` is False.

    Use the returned tensor in place of ``x`` so the check cannot be dropped by the compiler.
    """
    if not value_checks_enabled():
        return x
    message = f"{fn}: {name} has values outside {expected}"
    if is_batched_tensor(x) or is_batched_tensor(ok):
        # Under vmap: _assert_async has no batching rule, the op's rule checks every member at once.
        return _check_values_op(x, ok, message)
    # Unbatched (eager or compiled): the assert alone. A compiled graph keeps it (it has a side
    # effect), and it costs ~20 us less per call than the op, whose Python kernel a compiled graph
    # calls through the dispatcher.
    assert_async(ok.all(), message)
    return x
