"""TD(lambda) returns as one Triton kernel (``frl::td_lambda_triton``), imported lazily on CUDA.

The tiles, the scan and the launch layout are shared with the other reverse scans (frl_triton._tile).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from frl_triton import _tile
from frl_triton._common import make_vmap_rule
from frl_triton._tile import chunk, load_tile, scan_tile, store_tile


@triton.jit
def _td_lambda_kernel(
    r_ptr, nv_ptr, d_ptr, term_ptr, g_ptr, l_ptr, out_ptr,
    N, T,
    s_r_t, s_r_n, s_nv_t, s_nv_n, s_d_t, s_d_n, s_term_t, s_term_n,
    s_g_t, s_g_n, s_l_t, s_l_n, s_o_t, s_o_n,
    BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, F64: tl.constexpr, WIDE: tl.constexpr,
    G_SCALAR: tl.constexpr, L_SCALAR: tl.constexpr,
):
    acc = tl.float64 if F64 else tl.float32
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, CHUNK)
    carry = tl.full([BLOCK_N], 0.0, acc)
    for i in range((T + CHUNK - 1) // CHUNK):
        t, m = chunk(i, n, N, T, CHUNK)
        # (pyright reads a `tl.constexpr` parameter annotation as a type; Triton passes literals to it by design.)
        r = load_tile(r_ptr, n, t, s_r_n, s_r_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        nv = load_tile(nv_ptr, n, t, s_nv_n, s_nv_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        g = load_tile(g_ptr, n, t, s_g_n, s_g_t, m, acc, G_SCALAR, WIDE)
        lm = load_tile(l_ptr, n, t, s_l_n, s_l_t, m, acc, L_SCALAR, WIDE)
        done = load_tile(d_ptr, n, t, s_d_n, s_d_t, m, tl.int8, False, WIDE) != 0  # pyright: ignore[reportArgumentType]
        term = load_tile(term_ptr, n, t, s_term_n, s_term_t, m, tl.int8, False, WIDE) != 0  # pyright: ignore[reportArgumentType]
        cut = done | (t == T - 1)[None, :]  # the last step bootstraps from its next value
        boot = tl.where(term, 0.0, g * nv)
        x = tl.where(m, r + boot * tl.where(cut, 1.0, 1.0 - lm), 0.0)
        c = tl.where(m, tl.where(cut, 0.0, g * lm), 1.0)
        ret, carry = scan_tile(c, x, carry, cols)
        store_tile(out_ptr, ret, n, t, s_o_n, s_o_t, m, WIDE)


@torch.library.triton_op("frl::td_lambda_triton", mutates_args=())
def td_lambda_triton(
    reward: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor,
    gamma: torch.Tensor,
    lmbda: torch.Tensor,
    time_dim: int,
) -> torch.Tensor:
    """Lambda-returns on CUDA (or CPU tensors under ``TRITON_INTERPRET=1``)."""
    (returns,) = _tile.launch(_td_lambda_kernel, [reward, next_value, done, terminated, gamma, lmbda], 1, time_dim,
                              G_SCALAR=_tile.is_scalar(gamma), L_SCALAR=_tile.is_scalar(lmbda))
    return returns


td_lambda_triton.register_vmap(make_vmap_rule(td_lambda_triton, 6, 1))
