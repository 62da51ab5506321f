"""Pytree helpers over TensorDicts, NamedTuples, dicts and tuples of tensors.

Parameters, optimizer states and batches are pytrees whose leaves are tensors; an *ensemble* is the
same pytree with one extra leading dimension on every leaf. `stack` and `unstack` move between a list
of members and an ensemble; `torch.func.vmap` then maps over that leading dimension.

These helpers use torch's own pytree registry (tensordict registers TensorDict there), so they agree
with what `torch.func.vmap`, `torch.func.grad` and `torch.compile` see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from tensordict import TensorDictBase

from frl._compat import pytree

__all__ = ["tree_map", "tree_leaves", "where", "stack", "unstack", "index", "dense", "tree_allclose"]


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` to matching leaves of one or more pytrees of the same structure."""
    return pytree.tree_map(fn, tree, *rest)


def tree_leaves(tree: Any) -> list:
    return pytree.tree_leaves(tree)


def where(condition: torch.Tensor | bool, new: Any, old: Any) -> Any:
    """Per leaf ``torch.where(condition, new, old)`` of two pytrees of the same structure.

    With a scalar bool tensor this picks a whole pytree without a Python branch, so one compiled
    step serves both outcomes (e.g. TD3's delayed actor and target updates, taken every other step).
    """
    condition = torch.as_tensor(condition, dtype=torch.bool)
    return pytree.tree_map(lambda n, o: torch.where(condition, n, o), new, old)


def _is_td(x) -> bool:
    return isinstance(x, TensorDictBase)


def stack(trees: Sequence[Any], dim: int = 0) -> Any:
    """Stack a list of same-structured pytrees into one ensemble pytree (new dimension ``dim``).

    TensorDicts are stacked whole with ``torch.stack``, so their ``batch_size`` gains the new
    dimension too (stacking their leaves one by one would leave it stale).
    """
    if len(trees) == 0:
        raise ValueError("frl.tree.stack: got an empty list of trees")
    return pytree.tree_map(lambda *xs: torch.stack(xs, dim), *trees, is_leaf=_is_td)


def unstack(tree: Any, dim: int = 0) -> list:
    """Inverse of `stack`: split an ensemble pytree into its members along ``dim``."""
    leaves, spec = pytree.tree_flatten(tree, is_leaf=_is_td)
    if not leaves:
        return []
    n = leaves[0].shape[dim]
    return [pytree.tree_unflatten([leaf.select(dim, i) if not _is_td(leaf) else leaf.unbind(dim)[i]
                                   for leaf in leaves], spec) for i in range(n)]


def index(tree: Any, i) -> Any:
    """Index every leaf of an ensemble pytree along its leading dimension."""
    return pytree.tree_map(lambda x: x[i], tree, is_leaf=_is_td)


def dense(tree: Any) -> Any:
    """A copy of ``tree`` whose leaves are dense, contiguous tensors.

    ``torch.vmap`` may return broadcast leaves (stride 0, e.g. an optimizer's step count from an
    init vmapped over seeds), while the steps that follow return dense ones. A compiled step
    guards on strides, so feeding it both layouts recompiles it once; make the initial state dense.
    """
    return pytree.tree_map(lambda t: t.clone(memory_format=torch.contiguous_format), tree)


def tree_allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """True when two pytrees have the same structure and all leaves are close."""
    la, sa = pytree.tree_flatten(a)
    lb, sb = pytree.tree_flatten(b)
    if sa != sb:
        return False
    return all(torch.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True) for x, y in zip(la, lb, strict=True))
