"""Shared pieces of the reverse-scan ops (GAE, TD(lambda), V-trace). No Triton import here.

Every op solves a reverse linear recurrence over time,

    A_t = x_t + c_t * A_{t+1},      A_T = 0,

where ``x_t`` and ``c_t`` are cheap elementwise functions of the op's inputs. This module holds
the CPU scan, the layout helpers and the vmap rule that all ops share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype arithmetic is done in: at least float32 (bfloat16 / float16 accumulate in float32)."""
    return torch.promote_types(dtype, torch.float32)


def scalar_of(x: torch.Tensor) -> float | None:
    """The value of a coefficient that is one scalar expanded to a full shape (all strides 0), else None.

    Called only in eager CPU bodies of the ops, where reading one value costs nothing.
    """
    if x.numel() > 0 and all(s == 0 for s in x.stride()):
        return float(x.reshape(-1)[0])
    return None


def keep(flag: torch.Tensor) -> torch.Tensor:
    """``1 - flag`` as uint8, a free view after one logical_not.

    Multiplying a float tensor by a uint8 one is several times faster on the CPU than ``where`` or
    ``masked_fill`` with a bool mask, and than converting the mask to float first.
    """
    return flag.logical_not().view(torch.uint8)


def mask_coef(flag: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None, acc: torch.dtype) -> torch.Tensor:
    """``a * b * (1 - flag)`` in ``acc`` (``b`` may be None), fast when ``a`` and ``b`` are scalars."""
    sa = scalar_of(a)
    sb = 1.0 if b is None else scalar_of(b)
    if sa is not None and sb is not None and acc == torch.float32:
        return keep(flag) * (sa * sb)  # uint8 * Python float -> float32
    if b is None:
        return a.to(acc) * keep(flag)  # out of place: ``a`` may be the caller's tensor
    return torch.mul(a, b).to(acc).mul_(keep(flag))


def time_major(x: torch.Tensor, time_dim: int) -> torch.Tensor:
    """View ``x`` as ``[T, N]`` (time first, every other dimension flattened), copying only if needed.

    For TorchRL's batch-major ``[*B, T, 1]`` this is a transposed (strided) view, not a copy.
    """
    x = x.movedim(time_dim, 0)
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def out_like(x: torch.Tensor, time_dim: int, dtype: torch.dtype | None = None):
    """A new output shaped like ``x`` and its ``[T, N]`` time-major *view* (writes go to the output).

    The output takes ``x``'s layout when that layout can be viewed as ``[T, N]`` (TorchRL's
    batch-major and plain time-major layouts both can); otherwise it is allocated time-major.
    """
    dtype = x.dtype if dtype is None else dtype
    out = torch.empty_like(x, dtype=dtype)
    moved = out.movedim(time_dim, 0)
    n = math.prod(moved.shape[1:])
    try:
        return out, moved.view(moved.shape[0], n)
    except RuntimeError:  # x's dims other than time cannot be merged without a copy
        flat = torch.empty(moved.shape[0], n, dtype=dtype, device=x.device)
        return flat.view(moved.shape).movedim(0, time_dim), flat


# --- CPU reverse scan ---------------------------------------------------------------------------
# A serial loop over T costs one small op per step (~5 us of dispatch each), so instead the scan is
# blocked in two levels. Time is cut into n blocks of L steps; every op below acts on all n blocks
# at once ([n, N] slices), so there are about 3L + n ops instead of T, each large enough to amortize
# its overhead:
#   1. within each block, compose the affine maps A -> x_t + c_t A right to left: the block maps
#      A_next -> a_k + p_k A_next (p_k is the product of c over the block);
#   2. run the short recurrence over blocks to get the value entering each block from the right;
#   3. rerun each block's recurrence from that value, writing the result.
# No step divides by a product of c, so an underflowing product (long blocks, small gamma * lambda,
# or a done) just becomes 0, which is the right answer; there is no cumprod / division instability.
#
# Where the time goes (4096 x 256 float32, 1 thread, bench/returns.py): the scan itself is about a
# quarter; the rest is moving batch-major data to time-major rows and back (torch's 2-D transpose
# copy runs at a fraction of copy bandwidth) and the elementwise passes that form x and c. Measured
# alternatives that lost: a serial loop over batch-major columns (strided, ~10x slower), a doubling
# scan along the contiguous time axis (its sliced ops are strided too, ~3x slower), and inductor-
# compiled chunks or prologues (10-14 s of compile on first call, and no faster once compiled).


# Rows at least this wide are scanned by the serial loop (see reverse_scan).
_WIDE = 8192


def _serial(x: torch.Tensor, c: torch.Tensor, out: torch.Tensor, carry: torch.Tensor | None) -> None:
    """``out[t] = x[t] + c[t] * out[t+1]`` for t from the end, entering with ``carry`` (None: 0)."""
    T = x.shape[0]
    if T == 0:
        return
    if carry is None:
        out[T - 1].copy_(x[T - 1])
    else:
        torch.addcmul(x[T - 1], c[T - 1], carry, out=out[T - 1])
    for t in range(T - 2, -1, -1):
        torch.addcmul(x[t], c[t], out[t + 1], out=out[t])


def reverse_scan(x: torch.Tensor, c: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Solve ``A_t = x_t + c_t A_{t+1}`` (``A_T = 0``) for time-major ``[T, N]`` tensors.

    ``out`` may be ``x`` itself (the scan then runs in place). Arithmetic is in ``x``'s dtype.
    """
    T, N = x.shape
    if out is None:
        out = torch.empty_like(x)
    L = max(1, round(math.sqrt(T / 3)))
    n = T // L
    # Short sequences: the serial loop is already only a few ops. Wide rows (N >= _WIDE): each
    # step's op is large enough that its dispatch overhead no longer dominates, and the serial
    # loop's single pass over memory beats the blocked scan's two (measured, see bench/returns.py).
    if n < 4 or N >= _WIDE:
        _serial(x, c, out, None)
        return out
    s = T - n * L  # a head of s < L steps is done serially after the blocked part
    xb = x[s:].view(n, L, N)
    cb = c[s:].view(n, L, N)
    ob = out[s:].view(n, L, N)
    # 1. block maps (a, p), composed right to left inside each block, in place (no allocation
    #    per step).
    a = xb[:, L - 1].clone()
    p = cb[:, L - 1].clone()
    for j in range(L - 2, -1, -1):
        torch.addcmul(xb[:, j], cb[:, j], a, out=a)
        p.mul_(cb[:, j])
    # 2. carry[k]: the value of A just right of block k (0 right of the last block).
    carry = torch.empty_like(a)
    carry[n - 1].zero_()
    for k in range(n - 1, 0, -1):
        torch.addcmul(a[k], p[k], carry[k], out=carry[k - 1])
    # 3. rerun every block from its carry.
    torch.addcmul(xb[:, L - 1], cb[:, L - 1], carry, out=ob[:, L - 1])
    for j in range(L - 2, -1, -1):
        torch.addcmul(xb[:, j], cb[:, j], ob[:, j + 1], out=ob[:, j])
    if s:
        _serial(x[:s], c[:s], out[:s], out[s])
    return out


Coef = torch.Tensor | tuple[torch.Tensor, float]


def scan_coef(flag: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None, acc: torch.dtype) -> Coef:
    """The scan coefficient ``a * b * (1 - flag)`` for `scan_along`, as it is cheapest to move.

    When ``a`` and ``b`` are scalars the result is the pair ``(flag, a * b)``: `scan_along` then moves
    the 1-byte flag into the scan's layout and forms the coefficient there, instead of forming a
    4-byte coefficient and moving that (a transpose costs per byte). Otherwise it is `mask_coef`.
    """
    sa = scalar_of(a)
    sb = 1.0 if b is None else scalar_of(b)
    if sa is not None and sb is not None:
        return flag, sa * sb
    return mask_coef(flag, a, b, acc)


def _coef_rows(c: Coef, rows: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """``c`` in the scan's layout: ``rows`` maps a tensor of x's shape to its ``[T, N]`` time-major rows."""
    if isinstance(c, torch.Tensor):
        return rows(c)
    flag, scale = c
    kept = keep(rows(flag))
    return kept * scale if dtype == torch.float32 else kept.to(dtype).mul_(scale)


def scan_along(x: torch.Tensor, c: Coef, time_dim: int) -> torch.Tensor:
    """Solve ``A_t = x_t + c_t A_{t+1}`` along ``time_dim``, in place in ``x`` (a temporary), and return it.

    ``c`` is a tensor of x's shape or a pair ``(flag, scale)`` meaning ``scale * (1 - flag)`` (see
    `scan_coef`). Elementwise ops are fast only when all operands share a layout, so callers compute
    ``x`` in the inputs' own layout. The scan wants time-major rows: a time-major ``x`` is scanned
    where it is; a batch-major one (TorchRL's ``[*B, T, 1]``) is transposed with ``contiguous()``,
    whose dedicated 2-D transpose kernel is the fastest way torch has to change the layout, and
    transposed back the same way.
    """
    xm = x.movedim(time_dim, 0)
    T = xm.shape[0]
    if T == 0 or x.numel() == 0:
        return x
    if xm.is_contiguous():  # already time-major
        x2 = xm.view(T, -1)
        rows = lambda t: t.movedim(time_dim, 0).reshape(T, -1).contiguous()  # noqa: E731
        reverse_scan(x2, _coef_rows(c, rows, x.dtype), out=x2)
        return x
    xb = x.movedim(time_dim, -1)
    if xb.is_contiguous():  # batch-major: rows of T
        x2 = xb.view(-1, T)
        xt = x2.t().contiguous()
        rows = lambda t: t.movedim(time_dim, -1).reshape(-1, T).t().contiguous()  # noqa: E731
        reverse_scan(xt, _coef_rows(c, rows, x.dtype), out=xt)
        x2.copy_(xt.t())
        return x
    # Any other layout: scan a time-major copy.
    rows = lambda t: t.movedim(time_dim, 0).reshape(T, -1).contiguous()  # noqa: E731
    xt = rows(x)
    reverse_scan(xt, _coef_rows(c, rows, x.dtype), out=xt)
    xm.copy_(xt.view(xm.shape))
    return x


def as_output(y: torch.Tensor, like: torch.Tensor, time_dim: int) -> torch.Tensor:
    """``y`` in ``like``'s dtype and in the layout the op's fake implementation promises."""
    ref, _ = out_like(like, time_dim)
    if y.dtype == ref.dtype and y.stride() == ref.stride():
        return y
    return ref.copy_(y)


# --- vmap ---------------------------------------------------------------------------------------


def make_vmap_rule(op: Callable, n_tensors: int, n_out: int) -> Callable:
    """A vmap rule for an op ``op(*tensors, *static, time_dim)`` whose tensors all share one shape.

    The vmapped dimension of every tensor is moved to the front (unbatched tensors are expanded,
    which is a free view), the op runs once on the whole ensemble, and ``time_dim`` is shifted when
    it counts from the front.
    """

    def rule(info, in_dims: Sequence, *args):
        tensors, rest = list(args[:n_tensors]), list(args[n_tensors:])
        dims = in_dims[:n_tensors]
        size = info.batch_size
        moved = []
        for t, d in zip(tensors, dims, strict=True):
            if d is None:
                moved.append(t.expand(size, *t.shape))
            else:
                moved.append(t.movedim(d, 0))
        time_dim = rest[-1]
        rest[-1] = time_dim + 1 if time_dim >= 0 else time_dim
        out = op(*moved, *rest)
        return out, (0,) * n_out if n_out > 1 else 0

    return rule


# --- autograd that torch.func transforms accept ----------------------------------------------------


def differentiable(name: str, forward: Callable, setup_context: Callable, backward: Callable) -> type:
    """An ``autograd.Function`` running ``forward(*args)`` with an op's autograd formulas.

    ``register_autograd`` alone serves plain autograd but not ``torch.func.grad`` / ``vjp`` /
    ``jacrev``: the Function it generates internally defines no ``setup_context`` staticmethod, and
    functorch refuses such Functions (pytorch/pytorch#168393, #179652). This Function has one, and
    ``generate_vmap_rule`` lets vmap run through it into the op's own vmap rule. ``setup_context``
    and ``backward`` are the ones given to the op's ``register_autograd``.
    """
    return type(name, (torch.autograd.Function,), {
        "forward": staticmethod(forward),
        "setup_context": staticmethod(setup_context),
        "backward": staticmethod(backward),
        "generate_vmap_rule": True,
    })


def call(op: Callable, function: type | None, args: tuple):
    """``op(*args)``, or ``function.apply(*args)`` (its `differentiable` Function) where a gradient is needed.

    Calling the bare op otherwise keeps vmap and compile on the op's own rules.
    """
    if function is not None and torch.is_grad_enabled() and any(
            isinstance(a, torch.Tensor) and a.requires_grad for a in args):
        return function.apply(*args)
    return op(*args)
