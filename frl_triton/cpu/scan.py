"""Tensor-level calls into the compiled kernels of ``returns.c`` (CPU tensors only).

Each function takes an op's arguments (every tensor of reward's shape, ``gamma`` / ``lmbda`` possibly
expanded scalars) and returns the op's outputs, or None when the compiled library is unavailable, in
which case the caller runs its torch implementation. Inputs are passed in place, as strided ``[T, N]``
views (batch-major and time-major layouts need no copy); only inputs of another dtype than the
accumulation dtype (bfloat16 / float16, or mixed dtypes), or of another layout than the outputs,
are copied first.
"""

from __future__ import annotations

import ctypes

import torch

from frl_triton._common import acc_dtype, out_like, scalar_of, time_major
from frl_triton.cpu.build import library

_DTYPE = {torch.float32: "f32", torch.float64: "f64"}


def _call(name: str, T: int, N: int, acc: torch.dtype, tensors, scalars) -> None:
    """Call ``name`` on ``[T, N]`` views (None for a scalar coefficient) and the scalars."""
    ptrs, strides = [], []
    for x in tensors:
        if x is None:
            ptrs.append(None)
            strides += [0, 0]
            continue
        st, sn = x.stride()
        # A size-1 dimension's stride is arbitrary: make it the one that selects the fast loops.
        ptrs.append(x.data_ptr())
        strides += [1 if T == 1 else st, 1 if N == 1 else sn]
    n = len(tensors)
    dtype = _DTYPE[acc]
    rc = getattr(library(dtype), f"{name}_{dtype}")(
        T, N, (ctypes.c_void_p * n)(*ptrs), (ctypes.c_int64 * (2 * n))(*strides),
        (ctypes.c_double * len(scalars))(*scalars))
    if rc != 0:
        raise RuntimeError(f"frl_triton.cpu: {name} failed with code {rc}")


def _coef(x: torch.Tensor, acc: torch.dtype, time_dim: int) -> tuple[torch.Tensor | None, float]:
    """A coefficient as (None, its value) when it is one expanded scalar, else (its [T, N] view, 0)."""
    s = scalar_of(x)
    if s is not None:
        return None, s
    return time_major(x.to(acc), time_dim), 0.0


def _result(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``y`` (allocated by `out_like`, the layout the op's fake promises) in ``like``'s dtype.

    ``to`` keeps the strides of a dense tensor, so a converted bfloat16 result keeps that layout.
    """
    return y if y.dtype == like.dtype else y.to(like.dtype)


def _fits(x: torch.Tensor, rows: bool) -> bool:
    """Whether the ``[T, N]`` view ``x`` is laid out for the rows (or else columns) loop."""
    T, N = x.shape
    return (T == 1 or x.stride(0) == 1) if rows else (N == 1 or x.stride(1) == 1)


def _run(name: str, reward: torch.Tensor, time_dim: int, values, flags, coefs, scalars=(),
         n_out: int = 1) -> tuple[torch.Tensor, ...] | None:
    """Run kernel ``name`` on ``(*values, *flags, *coefs, *outputs)``; its ``n_out`` outputs, or None without
    the library."""
    acc = acc_dtype(reward.dtype)
    if reward.device.type != "cpu" or acc not in _DTYPE or library(_DTYPE[acc]) is None:
        return None
    tensors: list[torch.Tensor | None] = [time_major(x.to(acc), time_dim) for x in values]
    tensors += [time_major(x.bool(), time_dim) for x in flags]
    coef_scalars = []
    for c in coefs:
        view, value = _coef(c, acc, time_dim)
        tensors.append(view)
        coef_scalars.append(value)
    outs = [out_like(reward, time_dim, acc) for _ in range(n_out)]
    T, N = outs[0][1].shape
    # The kernel has a loop for time-contiguous rows (st = 1) and one for batch-contiguous columns
    # (sn = 1); the outputs have one of those layouts, and any input that differs is copied into it.
    rows = T == 1 or outs[0][1].stride(0) == 1
    tensors = [x if x is None or _fits(x, rows) else (x.t().contiguous().t() if rows else x.contiguous())
               for x in tensors]
    if T and N:
        _call(name, T, N, acc, tensors + [tm for _, tm in outs], [*coef_scalars, *scalars])
    return tuple(_result(out, reward) for out, _ in outs)


def gae(reward, value, next_value, done, terminated, gamma, lmbda,
        time_dim) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(advantage, value_target)`` as `frl_triton.gae.op.gae_op`, or None (no compiled library)."""
    out = _run("frl_gae", reward, time_dim, (reward, value, next_value), (done, terminated), (gamma, lmbda),
               n_out=2)
    return None if out is None else (out[0], out[1])


def td_lambda(reward, next_value, done, terminated, gamma, lmbda, time_dim) -> torch.Tensor | None:
    """Lambda-returns as `frl_triton.td_lambda.op.td_lambda_op`, or None (no compiled library)."""
    out = _run("frl_td_lambda", reward, time_dim, (reward, next_value), (done, terminated), (gamma, lmbda))
    return None if out is None else out[0]


def vtrace(reward, value, next_value, log_rho, done, terminated, gamma, rho_bar, c_bar,
           time_dim) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(vs, pg_advantage)`` as `frl_triton.vtrace.op.vtrace_op`, or None (no compiled library)."""
    out = _run("frl_vtrace", reward, time_dim, (reward, value, next_value, log_rho), (done, terminated),
               (gamma,), (float(rho_bar), float(c_bar)), n_out=2)
    return None if out is None else (out[0], out[1])
