"""Sum-tree custom ops: Triton on CUDA, the pure-torch sum tree (`cpu.py`) on the CPU, fake and vmap rules.

``torch.ops.frl_triton.sumtree_sample(sum_tree, u, capacity, arity) -> leaf index``
``torch.ops.frl_triton.sumtree_update(sum_tree, min_tree, index, value, capacity, arity) -> None``
(mutates both trees in place).

Trees are ``[nodes]`` or an ensemble ``[M, nodes]`` with queries ``[B]`` or ``[M, B]``. Both ops are
`torch.library.triton_op`s, so torch.compile traces into the Triton launches (no graph break and no
host synchronization: every launch size is static). The CPU kernel is the pure-torch tree of
`cpu.py`. The vmap rules move the vmapped dimension to the front and call the op on the ensemble,
which the kernels handle by offsetting each member's node indices into one flat tensor.

Importing this module imports triton; frl does so only for trees on CUDA devices.
"""

from __future__ import annotations

import torch
import triton
from torch.library import triton_op, wrap_triton

from frl_triton.sumtree import cpu
from frl_triton.sumtree.kernel import sample_kernel, update_level_kernel

__all__ = ["sample", "update", "launch_sample", "launch_update"]

_BLOCK_B = 64


def _identity(kernel):
    return kernel


def launch_sample(sum_tree: torch.Tensor, u: torch.Tensor, capacity: int, arity: int,
                  wrap=_identity) -> torch.Tensor:
    """Run the Triton prefix search (``wrap`` is wrap_triton inside the op, identity in tests)."""
    lay = cpu.layout(capacity, arity)
    u64 = u.to(torch.float64).contiguous()
    out = torch.empty(u.shape, dtype=torch.int64, device=u.device)
    b = u64.numel()
    grid = (triton.cdiv(b, _BLOCK_B),)
    wrap(sample_kernel)[grid](sum_tree, u64, out, b, u.shape[-1], lay.num_nodes, capacity,
                              NUM_LEVELS=len(lay.offsets), K=arity, BLOCK_B=_BLOCK_B)
    return out


def launch_update(sum_tree: torch.Tensor, min_tree: torch.Tensor, index: torch.Tensor, value: torch.Tensor,
                  capacity: int, arity: int, wrap=_identity) -> None:
    """Write the leaves (last write wins) with torch ops, then one Triton launch per level."""
    lay = cpu.layout(capacity, arity)
    if sum_tree.dim() == 2:  # an ensemble: flatten into one tree with offset leaf indices
        value = torch.vmap(cpu.last_write_values)(index, value.to(sum_tree.dtype))
        flat = (index + torch.arange(index.shape[0], device=index.device).unsqueeze(-1) * lay.num_nodes)
        sum_flat, min_flat = sum_tree.view(-1), min_tree.view(-1)
    else:
        value = cpu.last_write_values(index, value.to(sum_tree.dtype))
        flat, sum_flat, min_flat = index, sum_tree, min_tree
    sum_flat.index_copy_(0, flat.reshape(-1), value.reshape(-1))
    min_flat.index_copy_(0, flat.reshape(-1), torch.where(value > 0, value, float("inf")).reshape(-1))
    index = index.contiguous()
    b = index.numel()
    grid = (triton.cdiv(b, _BLOCK_B),)
    for level in range(len(lay.offsets) - 1):
        wrap(update_level_kernel)[grid](sum_tree, min_tree, index, b, index.shape[-1], lay.num_nodes,
                                        arity ** (level + 1), lay.offsets[level], lay.offsets[level + 1],
                                        K=arity, BLOCK_B=_BLOCK_B)


def _sample_torch(sum_tree, u, capacity, arity):
    fn = lambda t, q: cpu.sample(cpu.layout(capacity, arity), t, q)  # noqa: E731
    return torch.vmap(fn)(sum_tree, u) if sum_tree.dim() == 2 else fn(sum_tree, u)


def _update_torch(sum_tree, min_tree, index, value, capacity, arity):
    lay = cpu.layout(capacity, arity)
    if sum_tree.dim() == 2:
        for member in range(sum_tree.shape[0]):  # in-place updates of views: no vmap needed
            cpu.update(lay, sum_tree[member], min_tree[member], index[member], value[member])
    else:
        cpu.update(lay, sum_tree, min_tree, index, value)


# torch.compile traces into a triton_op's body (it does not dispatch to register_kernel), so the body
# itself picks the torch path for tensors off CUDA: a compiled CPU step then inlines the pure-torch tree.
@triton_op("frl_triton::sumtree_sample", mutates_args=())
def sample(sum_tree: torch.Tensor, u: torch.Tensor, capacity: int, arity: int) -> torch.Tensor:
    if sum_tree.device.type != "cuda":
        return _sample_torch(sum_tree, u, capacity, arity)
    return launch_sample(sum_tree, u, capacity, arity, wrap_triton)


sample.register_kernel("cpu")(_sample_torch)


@sample.register_fake
def _(sum_tree, u, capacity, arity):
    return torch.empty(u.shape, dtype=torch.int64, device=u.device)


def _front(x: torch.Tensor, dim, n: int) -> torch.Tensor:
    return x.movedim(dim, 0) if dim is not None else x.expand(n, *x.shape)


def _sample_vmap(info, in_dims, sum_tree, u, capacity, arity):
    n = info.batch_size
    return sample(_front(sum_tree, in_dims[0], n), _front(u, in_dims[1], n), capacity, arity), 0


sample.register_vmap(_sample_vmap)


@triton_op("frl_triton::sumtree_update", mutates_args={"sum_tree", "min_tree"})
def update(sum_tree: torch.Tensor, min_tree: torch.Tensor, index: torch.Tensor, value: torch.Tensor,
           capacity: int, arity: int) -> None:
    if sum_tree.device.type != "cuda":
        _update_torch(sum_tree, min_tree, index, value, capacity, arity)
        return
    launch_update(sum_tree, min_tree, index, value, capacity, arity, wrap_triton)


update.register_kernel("cpu")(_update_torch)


@update.register_fake
def _(sum_tree, min_tree, index, value, capacity, arity):
    return None


def _update_vmap(info, in_dims, sum_tree, min_tree, index, value, capacity, arity):
    if in_dims[0] is None or in_dims[1] is None:
        raise ValueError("frl_triton.sumtree.update: under vmap the trees must be vmapped too "
                         "(an in-place update cannot write a per-member result into a shared tree)")
    n = info.batch_size
    update(sum_tree.movedim(in_dims[0], 0), min_tree.movedim(in_dims[1], 0), _front(index, in_dims[2], n),
           _front(value, in_dims[3], n), capacity, arity)
    return None, None


update.register_vmap(_update_vmap)
