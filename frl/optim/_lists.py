"""Elementwise math on lists of tensors: one ``torch._foreach_*`` call eagerly, a loop otherwise.

The transforms write their arithmetic once, on lists of leaves, with these helpers. Eagerly, on
leaves of one dtype and device that no functorch transform wraps, a list op is one foreach call (on
CUDA, one kernel launch for all leaves instead of one per leaf). Under vmap or grad (foreach ops have
no batching rules), under torch.compile (where inductor fuses the per-leaf loop into one kernel per
leaf anyway) and for mixed dtypes, it is a plain loop of the same torch ops.
"""

from __future__ import annotations

import torch

from frl._compat import foreach_ops, is_functorch_wrapped

__all__ = ["use_foreach", "add", "mul", "div", "sqrt", "lerp", "addcmul", "maximum"]

def use_foreach(*lists: list) -> bool:
    """True when ``lists`` can go through ``torch._foreach_*`` ops: see the module docstring."""
    if torch.compiler.is_compiling():
        return False
    first = lists[0][0] if lists and lists[0] else None
    if first is None:
        return False
    for xs in lists:
        for x in xs:
            if (x.dtype != first.dtype or x.device != first.device or x.requires_grad or is_functorch_wrapped(x)):
                return False
    return True


# Each op takes ``foreach`` (the answer of use_foreach for its operands) and lists of the same length;
# a scalar operand is a Python number or a tensor of shape [] (a bias correction, a clip factor).

def add(foreach: bool, xs: list, ys, alpha: float = 1.0) -> list:
    """xs + alpha * ys, where ys is a list or a Python number."""
    if isinstance(ys, (list, tuple)):
        if foreach:
            return foreach_ops.add(xs, ys, alpha=alpha)
        return [torch.add(x, y, alpha=alpha) for x, y in zip(xs, ys, strict=True)]
    if foreach:
        return foreach_ops.add(xs, alpha * ys)
    return [x + alpha * ys for x in xs]


def mul(foreach: bool, xs: list, ys) -> list:
    if foreach:
        return foreach_ops.mul(xs, ys)
    if isinstance(ys, (list, tuple)):
        return [x * y for x, y in zip(xs, ys, strict=True)]
    return [x * ys for x in xs]


def div(foreach: bool, xs: list, ys) -> list:
    if foreach:
        return foreach_ops.div(xs, ys)
    if isinstance(ys, (list, tuple)):
        return [x / y for x, y in zip(xs, ys, strict=True)]
    return [x / ys for x in xs]


def sqrt(foreach: bool, xs: list) -> list:
    return foreach_ops.sqrt(xs) if foreach else [torch.sqrt(x) for x in xs]


def lerp(foreach: bool, xs: list, ys: list, weight: float) -> list:
    if foreach:
        return foreach_ops.lerp(xs, ys, weight)
    return [torch.lerp(x, y, weight) for x, y in zip(xs, ys, strict=True)]


def addcmul(foreach: bool, xs: list, ys: list, zs: list, value: float) -> list:
    """xs + value * ys * zs."""
    if foreach:
        return foreach_ops.addcmul(xs, ys, zs, value=value)
    return [torch.addcmul(x, y, z, value=value) for x, y, z in zip(xs, ys, zs, strict=True)]


def maximum(foreach: bool, xs: list, ys: list) -> list:
    return foreach_ops.maximum(xs, ys) if foreach else [torch.maximum(x, y) for x, y in zip(xs, ys, strict=True)]
