"""What the reverse-scan Triton kernels (GAE, TD(lambda), V-trace) share: tiles, the scan, the launch.

Each program owns ``BLOCK_N`` sequences and walks time backwards in chunks of ``CHUNK`` steps. It
loads a ``[BLOCK_N, CHUNK]`` tile of every input through the tensors' strides (so batch-major and
time-major layouts are read in place), forms the per-step affine maps ``A -> x_t + c_t A``, composes
them with a reverse ``tl.associative_scan`` inside the tile, applies them to the value carried in
from the chunk on the right, and writes the outputs. Long T costs one loop iteration per chunk.

Registers decide how fast this runs on a GPU (``python -m frl_triton.gpu_check`` prints them): every
tile element of every tensor needs an address, so offsets are 32-bit unless a tensor spans more
than 2**31 elements, and a coefficient that is one scalar (``gamma=0.99`` arrives as a stride-0
view) is loaded once per program instead of as a tile.

The kernels use core builtins only (``tl.full``, ``tl.reduce`` with our own combine, ``//`` for
cdiv), not triton.language's @jit helpers (``tl.zeros``, ``tl.sum``, ``tl.cdiv``): those are decorated
when triton is first imported, and if that happened before ``TRITON_INTERPRET=1`` was set they do not
run in the interpreter.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from frl_triton._common import out_like, time_major

# Sequences per program and time steps per chunk. 16 x 32 keeps a float32 GAE tile at 4 values per
# thread and tensor (4 warps), and gives 256 programs for 4096 sequences: two per SM on an H100.
BLOCK_N = 16
CHUNK = 32
NUM_WARPS = 4


@triton.jit
def compose(c_later, x_later, c_earlier, x_earlier):
    """Compose affine maps for a reverse scan: earlier(later(A)) = x_e + c_e (x_l + c_l A).

    In a reverse ``tl.associative_scan`` the first operand is the accumulated later part.
    """
    return c_earlier * c_later, x_earlier + c_earlier * x_later


@triton.jit
def add(a, b):
    return a + b


@triton.jit
def chunk(i, n, N, T, CHUNK: tl.constexpr):
    """The steps of the ``i``-th chunk counted from the right end, and the mask of the tile's elements
    that lie inside ``[N, T]``."""
    n_chunks = (T + CHUNK - 1) // CHUNK
    t = (n_chunks - 1 - i) * CHUNK + tl.arange(0, CHUNK)
    return t, (n < N)[:, None] & (t < T)[None, :]


@triton.jit
def load_tile(ptr, n, t, s_n, s_t, mask, dtype, SCALAR: tl.constexpr, WIDE: tl.constexpr):
    """The ``[BLOCK_N, CHUNK]`` tile of a tensor at sequences ``n`` and steps ``t``, as ``dtype``.

    ``SCALAR``: the tensor is one value seen through zero strides; it is read once (a scalar that
    broadcasts). ``WIDE``: offsets need 64 bits.
    """
    # One return statement: Triton checks that all returns agree in shape even under a constexpr if.
    if SCALAR:
        tile = tl.load(ptr).to(dtype)
    elif WIDE:
        tile = tl.load(ptr + n.to(tl.int64)[:, None] * s_n + t.to(tl.int64)[None, :] * s_t, mask=mask,
                       other=0).to(dtype)
    else:
        tile = tl.load(ptr + n[:, None] * s_n + t[None, :] * s_t, mask=mask, other=0).to(dtype)
    return tile


@triton.jit
def store_tile(ptr, value, n, t, s_n, s_t, mask, WIDE: tl.constexpr):
    """Store ``value`` into the ``[BLOCK_N, CHUNK]`` tile at sequences ``n`` and steps ``t``."""
    if WIDE:
        offsets = n.to(tl.int64)[:, None] * s_n + t.to(tl.int64)[None, :] * s_t
    else:
        offsets = n[:, None] * s_n + t[None, :] * s_t
    tl.store(ptr + offsets, value, mask=mask)


@triton.jit
def scan_tile(c, x, carry, cols):
    """Solve ``A_t = x_t + c_t A_{t+1}`` along a tile's time axis, entering with ``carry`` on the right.

    Returns the tile of ``A`` and the carry for the chunk on the left (``A`` at the tile's first step).
    Padding past ``T`` must be the identity map (``c = 1``, ``x = 0``) so the carry passes through it.
    """
    c_s, x_s = tl.associative_scan((c, x), 1, compose, reverse=True)
    a = x_s + c_s * carry[:, None]
    return a, tl.reduce(tl.where(cols[None, :] == 0, a, 0.0), 1, add)


def launch_layout(inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> tuple[list[int], bool]:
    """The flat ``(time, sequence)`` strides of ``[T, N]`` views, and whether offsets need 64 bits."""
    views = [*inputs, *outputs]
    strides = [s for x in views for s in x.stride()]
    reach = max(sum((d - 1) * abs(s) for d, s in zip(x.shape, x.stride(), strict=True)) for x in views)
    return strides, reach + max(BLOCK_N, CHUNK) >= 2**31


def is_scalar(x: torch.Tensor) -> bool:
    """Whether ``x`` is one value seen through zero strides (known from metadata, so compile-safe)."""
    return all(s == 0 for s in x.stride())


def launch(kernel, inputs: list[torch.Tensor], n_out: int, time_dim: int, scalars: tuple = (),
           **flags) -> tuple[torch.Tensor, ...]:
    """Run a reverse-scan kernel and return its ``n_out`` new outputs, each of ``inputs[0]``'s shape and dtype.

    Every kernel takes ``(*input pointers, *output pointers, N, T, *scalars, *strides)`` and the
    constexprs ``BLOCK_N, CHUNK, F64, WIDE`` plus its own ``flags``. The inputs are passed as ``[T, N]``
    views (no copy for batch-major or time-major tensors), the outputs take the first input's layout.
    """
    views = [time_major(x, time_dim) for x in inputs]
    outputs = [out_like(inputs[0], time_dim) for _ in range(n_out)]
    T, N = outputs[0][1].shape
    if N > 0 and T > 0:
        out_views = [view for _, view in outputs]
        strides, wide = launch_layout(views, out_views)
        torch.library.wrap_triton(kernel)[(triton.cdiv(N, BLOCK_N),)](
            *views, *out_views, N, T, *scalars, *strides,
            BLOCK_N=BLOCK_N, CHUNK=CHUNK, F64=inputs[0].dtype == torch.float64, WIDE=wide, num_warps=NUM_WARPS,
            **flags,
        )
    return tuple(out for out, _ in outputs)
