"""Sum-tree dispatch: the Triton custom ops for trees on CUDA, the pure-torch path everywhere else.

On the CPU the pure-torch functions are called directly rather than through the custom op, so that
torch.compile inlines and fuses them and torch.func.vmap batches them with its own rules. Triton is
imported only when a tree on a CUDA device is first used.
"""

from __future__ import annotations

import importlib.util

import torch

from frl_triton.sumtree import cpu
from frl_triton.sumtree.cpu import Layout

__all__ = ["Layout", "layout", "init", "update", "update_range", "sample", "total", "minimum"]

layout = cpu.layout
init = cpu.init
total = cpu.total
minimum = cpu.minimum

_HAS_TRITON = importlib.util.find_spec("triton") is not None


def _use_triton(t: torch.Tensor) -> bool:
    return _HAS_TRITON and t.device.type == "cuda"


def update(lay: Layout, sum_tree: torch.Tensor, min_tree: torch.Tensor, index: torch.Tensor,
           value: torch.Tensor) -> None:
    """Set leaves ``index`` to ``value`` in place (last write wins) and recompute their ancestors."""
    if _use_triton(sum_tree):
        from frl_triton.sumtree import op

        op.update(sum_tree, min_tree, index, value, lay.capacity, lay.arity)
    else:
        cpu.update(lay, sum_tree, min_tree, index, value)


def update_range(lay: Layout, sum_tree: torch.Tensor, min_tree: torch.Tensor, start: torch.Tensor, n: int,
                 value: torch.Tensor) -> None:
    """Set leaves ``start .. start + n - 1`` (mod capacity) to ``value`` [n] in place (a ring write)."""
    if _use_triton(sum_tree):
        index = torch.remainder(start + torch.arange(n, device=start.device), lay.capacity)
        update(lay, sum_tree, min_tree, index, value)
    else:
        cpu.update_range(lay, sum_tree, min_tree, start, n, value)


def sample(lay: Layout, sum_tree: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Leaves found by prefix search for ``u`` in [0, total): int64, the shape of ``u``."""
    if _use_triton(sum_tree):
        from frl_triton.sumtree import op

        return op.sample(sum_tree, u, lay.capacity, lay.arity)
    return cpu.sample(lay, sum_tree, u)
