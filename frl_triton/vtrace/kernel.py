"""V-trace as one Triton kernel (``frl::vtrace_triton``), imported lazily on CUDA.

Same structure as the GAE kernel. The policy-gradient advantage needs ``vs_{t+1}``, the scan output
one step to the right: the kernel stores each ``vs`` tile, synchronizes the program's threads, and
reads ``vs_{t+1}`` back (from cache) before moving left; the tile on the right was stored one
iteration earlier.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from frl_triton import _tile
from frl_triton._common import make_vmap_rule
from frl_triton._tile import chunk, load_tile, scan_tile, store_tile


@triton.jit
def _vtrace_kernel(
    r_ptr, v_ptr, nv_ptr, lr_ptr, d_ptr, term_ptr, g_ptr, vs_ptr, pg_ptr,
    N, T, rho_bar, c_bar,
    s_r_t, s_r_n, s_v_t, s_v_n, s_nv_t, s_nv_n, s_lr_t, s_lr_n, s_d_t, s_d_n,
    s_term_t, s_term_n, s_g_t, s_g_n, s_vs_t, s_vs_n, s_pg_t, s_pg_n,
    BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, F64: tl.constexpr, WIDE: tl.constexpr,
    G_SCALAR: tl.constexpr,
):
    acc = tl.float64 if F64 else tl.float32
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, CHUNK)
    carry = tl.full([BLOCK_N], 0.0, acc)
    for i in range((T + CHUNK - 1) // CHUNK):
        t, m = chunk(i, n, N, T, CHUNK)
        # (pyright reads a `tl.constexpr` parameter annotation as a type; Triton passes literals to it by design.)
        r = load_tile(r_ptr, n, t, s_r_n, s_r_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        v = load_tile(v_ptr, n, t, s_v_n, s_v_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        nv = load_tile(nv_ptr, n, t, s_nv_n, s_nv_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        rho = tl.exp(load_tile(lr_ptr, n, t, s_lr_n, s_lr_t, m, acc, False, WIDE))  # pyright: ignore[reportArgumentType]
        g = load_tile(g_ptr, n, t, s_g_n, s_g_t, m, acc, G_SCALAR, WIDE)
        done = load_tile(d_ptr, n, t, s_d_n, s_d_t, m, tl.int8, False, WIDE) != 0  # pyright: ignore[reportArgumentType]
        term = load_tile(term_ptr, n, t, s_term_n, s_term_t, m, tl.int8, False, WIDE) != 0  # pyright: ignore[reportArgumentType]
        rho_c = tl.minimum(rho, rho_bar)
        discount = tl.where(term, 0.0, g)
        x = tl.where(m, rho_c * (r + discount * nv - v), 0.0)
        c = tl.where(m, tl.where(done, 0.0, g * tl.minimum(rho, c_bar)), 1.0)
        a, carry = scan_tile(c, x, carry, cols)
        store_tile(vs_ptr, a + v, n, t, s_vs_n, s_vs_t, m, WIDE)
        tl.debug_barrier()
        # vs'_{t+1}: the stored vs one step right, or the next value at a done and at the last step.
        nxt = m & (t + 1 < T)[None, :] & (done == 0)
        vs_next = tl.where(nxt, load_tile(vs_ptr, n, t + 1, s_vs_n, s_vs_t, nxt, acc, False, WIDE), nv)  # pyright: ignore[reportArgumentType]
        store_tile(pg_ptr, rho_c * (r + discount * vs_next - v), n, t, s_pg_n, s_pg_t, m, WIDE)


@torch.library.triton_op("frl::vtrace_triton", mutates_args=())
def vtrace_triton(
    reward: torch.Tensor,
    value: torch.Tensor,
    next_value: torch.Tensor,
    log_rho: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor,
    gamma: torch.Tensor,
    rho_bar: float,
    c_bar: float,
    time_dim: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace on CUDA (or CPU tensors under ``TRITON_INTERPRET=1``)."""
    vs, pg_advantage = _tile.launch(_vtrace_kernel, [reward, value, next_value, log_rho, done, terminated, gamma],
                                    2, time_dim, scalars=(float(rho_bar), float(c_bar)),
                                    G_SCALAR=_tile.is_scalar(gamma))
    return vs, pg_advantage


vtrace_triton.register_vmap(make_vmap_rule(vtrace_triton, 7, 2))
