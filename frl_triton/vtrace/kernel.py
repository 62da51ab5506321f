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

from frl_triton._common import make_vmap_rule, out_like, time_major
from frl_triton.gae.kernel import BLOCK_N, CHUNK, add, compose


@triton.jit
def _vtrace_kernel(
    r_ptr, v_ptr, nv_ptr, lr_ptr, d_ptr, term_ptr, g_ptr, vs_ptr, pg_ptr,
    N, T, rho_bar, c_bar,
    s_r_t, s_r_n, s_v_t, s_v_n, s_nv_t, s_nv_n, s_lr_t, s_lr_n, s_d_t, s_d_n,
    s_term_t, s_term_n, s_g_t, s_g_n, s_vs_t, s_vs_n, s_pg_t, s_pg_n,
    BLOCK_N: tl.constexpr, CHUNK: tl.constexpr, F64: tl.constexpr,
):
    acc = tl.float64 if F64 else tl.float32
    n = (tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    cols = tl.arange(0, CHUNK)
    carry = tl.full([BLOCK_N], 0.0, acc)
    n_chunks = (T + CHUNK - 1) // CHUNK
    for i in range(n_chunks):
        t = ((n_chunks - 1 - i) * CHUNK + cols).to(tl.int64)
        m = (n < N)[:, None] & (t < T)[None, :]
        nn, tt = n[:, None], t[None, :]
        r = tl.load(r_ptr + nn * s_r_n + tt * s_r_t, mask=m, other=0).to(acc)
        v = tl.load(v_ptr + nn * s_v_n + tt * s_v_t, mask=m, other=0).to(acc)
        nv = tl.load(nv_ptr + nn * s_nv_n + tt * s_nv_t, mask=m, other=0).to(acc)
        log_rho = tl.load(lr_ptr + nn * s_lr_n + tt * s_lr_t, mask=m, other=0).to(acc)
        g = tl.load(g_ptr + nn * s_g_n + tt * s_g_t, mask=m, other=0).to(acc)
        done = tl.load(d_ptr + nn * s_d_n + tt * s_d_t, mask=m, other=0) != 0
        term = tl.load(term_ptr + nn * s_term_n + tt * s_term_t, mask=m, other=0) != 0
        rho = tl.exp(log_rho)
        rho_c = tl.minimum(rho, rho_bar)
        discount = tl.where(term, 0.0, g)
        x = tl.where(m, rho_c * (r + discount * nv - v), 0.0)
        c = tl.where(m, tl.where(done, 0.0, g * tl.minimum(rho, c_bar)), 1.0)
        c_s, x_s = tl.associative_scan((c, x), 1, compose, reverse=True)
        a = x_s + c_s * carry[:, None]
        tl.store(vs_ptr + nn * s_vs_n + tt * s_vs_t, a + v, mask=m)
        carry = tl.reduce(tl.where(cols[None, :] == 0, a, 0.0), 1, add)
        tl.debug_barrier()
        # vs'_{t+1}: the stored vs one step right, or the next value at a done and at the last step.
        nxt = m & (tt + 1 < T) & (done == 0)
        vs_next = tl.load(vs_ptr + nn * s_vs_n + (tt + 1) * s_vs_t, mask=nxt, other=0).to(acc)
        vs_next = tl.where(nxt, vs_next, nv)
        tl.store(pg_ptr + nn * s_pg_n + tt * s_pg_t, rho_c * (r + discount * vs_next - v), mask=m)


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
    ins = [time_major(x, time_dim) for x in (reward, value, next_value, log_rho, done, terminated, gamma)]
    vs, vs_tm = out_like(reward, time_dim)
    pg, pg_tm = out_like(reward, time_dim)
    T, N = vs_tm.shape
    if N == 0 or T == 0:
        return vs, pg
    strides = [s for x in (*ins, vs_tm, pg_tm) for s in x.stride()]
    grid = (triton.cdiv(N, BLOCK_N),)
    torch.library.wrap_triton(_vtrace_kernel)[grid](
        *ins, vs_tm, pg_tm, N, T, float(rho_bar), float(c_bar), *strides,
        BLOCK_N=BLOCK_N, CHUNK=CHUNK, F64=reward.dtype == torch.float64,
    )
    return vs, pg


vtrace_triton.register_vmap(make_vmap_rule(vtrace_triton, 7, 2))
