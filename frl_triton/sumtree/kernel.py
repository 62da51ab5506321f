"""Triton kernels of the K-ary sum tree (layout in cpu.py).

* `sample_kernel`: one program per block of BLOCK_B queries walks the tree from the root to a leaf,
  loading the K children of its current node as one [BLOCK_B, K] tile per level.
* `update_level_kernel`: recomputes the parents of the touched leaves at one level from their K
  children (sum and min). Levels depend on each other, so the launcher issues one launch per level
  (five for a million leaves) instead of a grid-wide barrier; duplicated parents in one launch all
  store the same value, so the races between them are benign and the result is deterministic.

Everything here is launched through `torch.library.wrap_triton` in op.py, so torch.compile sees the
kernels and a compiled training step keeps them in its graph. This module imports triton: frl imports
it only when a tree lives on a CUDA device.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["sample_kernel", "update_level_kernel"]


@triton.jit
def sample_kernel(sum_tree_ptr, u_ptr, out_ptr, B, per_member, nodes, capacity,
                  NUM_LEVELS: tl.constexpr, K: tl.constexpr, BLOCK_B: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    k = tl.arange(0, K)
    u = tl.load(u_ptr + rows, mask=row_ok, other=0.0).to(tl.float64)
    # An ensemble of trees is one flat [members * nodes] tensor; queries of member m are rows
    # m * per_member ... (m + 1) * per_member - 1.
    tree = sum_tree_ptr + (rows // per_member).to(tl.int64) * nodes
    node = tl.zeros([BLOCK_B], dtype=tl.int64)
    # Levels from just below the root (NUM_LEVELS - 2) down to the leaves (0).
    # (pyright reads static_range's Python __iter__, which only raises: the Triton compiler unrolls it.)
    for step in tl.static_range(NUM_LEVELS - 1):  # pyright: ignore[reportGeneralTypeIssues]
        level = NUM_LEVELS - 2 - step
        # Offset of ``level`` in the flat tree: the padded sizes of the levels below it (see layout()).
        base = capacity * 0
        n = capacity
        # A runtime loop: Triton's compiler cannot take ``level`` (it changes with ``step``) as a
        # static_range bound, although its interpreter can.
        for _ in range(level):
            padded = (n + K - 1) // K * K
            base += padded
            n = padded // K
        idx = base + node[:, None] * K + k[None, :]
        kids = tl.load(tree[:, None] + idx, mask=row_ok[:, None], other=0.0)
        csum = tl.cumsum(kids, axis=1)
        # The first child with positive mass whose running sum exceeds u. A parallel scan does not
        # promise csum[j] > csum[j - 1] <=> kids[j] > 0, so positivity is tested on kids directly; if
        # rounding puts u at or above the node's mass, take the last child with positive mass.
        stop = (kids > 0) & (csum > u[:, None])
        j_first = tl.min(tl.where(stop, k[None, :], K), axis=1)
        j_last = tl.max(tl.where(kids > 0, k[None, :], 0), axis=1)
        j = tl.where(j_first < K, j_first, j_last).to(tl.int64)
        u = u - tl.sum(tl.where(k[None, :] < j[:, None], kids, 0.0), axis=1)
        u = tl.maximum(u, 0.0)
        node = node * K + j
    tl.store(out_ptr + rows, node, mask=row_ok)


@triton.jit
def update_level_kernel(sum_tree_ptr, min_tree_ptr, index_ptr, B, per_member, nodes, divisor,
                        child_offset, parent_offset,
                        K: tl.constexpr, BLOCK_B: tl.constexpr):
    pid = tl.program_id(0)
    rows = pid * BLOCK_B + tl.arange(0, BLOCK_B)
    row_ok = rows < B
    k = tl.arange(0, K)
    leaf = tl.load(index_ptr + rows, mask=row_ok, other=0)
    parent = leaf // divisor  # the ancestor of ``leaf`` at the parent level: divisor = K ** (level + 1)
    member = (rows // per_member).to(tl.int64) * nodes  # start of this row's tree (see sample_kernel)
    idx = member[:, None] + child_offset + parent[:, None] * K + k[None, :]
    kids_sum = tl.load(sum_tree_ptr + idx, mask=row_ok[:, None], other=0.0)
    kids_min = tl.load(min_tree_ptr + idx, mask=row_ok[:, None], other=float("inf"))
    dst = member + parent_offset + parent
    tl.store(sum_tree_ptr + dst, tl.sum(kids_sum, axis=1), mask=row_ok)
    tl.store(min_tree_ptr + dst, tl.min(kids_min, axis=1), mask=row_ok)
