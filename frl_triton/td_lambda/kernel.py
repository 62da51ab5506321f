"""TD(lambda) returns as one Triton kernel (``frl::td_lambda_triton``), imported lazily on CUDA.

Same structure as the GAE kernel: ``[BLOCK_N, CHUNK]`` tiles walked backwards in time, a reverse
``tl.associative_scan`` of affine maps inside each tile, a carry between tiles.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from frl_triton._common import make_vmap_rule, out_like, time_major
from frl_triton.gae.kernel import BLOCK_N, CHUNK, add, compose


@triton.jit
def _td_lambda_kernel(
    r_ptr, nv_ptr, d_ptr, term_ptr, g_ptr, l_ptr, out_ptr,
    N, T,
    s_r_t, s_r_n, s_nv_t, s_nv_n, s_d_t, s_d_n, s_term_t, s_term_n,
    s_g_t, s_g_n, s_l_t, s_l_n, s_o_t, s_o_n,
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
        nv = tl.load(nv_ptr + nn * s_nv_n + tt * s_nv_t, mask=m, other=0).to(acc)
        g = tl.load(g_ptr + nn * s_g_n + tt * s_g_t, mask=m, other=0).to(acc)
        lm = tl.load(l_ptr + nn * s_l_n + tt * s_l_t, mask=m, other=0).to(acc)
        done = tl.load(d_ptr + nn * s_d_n + tt * s_d_t, mask=m, other=0) != 0
        term = tl.load(term_ptr + nn * s_term_n + tt * s_term_t, mask=m, other=0) != 0
        cut = done | (tt == T - 1)  # the last step bootstraps from its next value
        boot = tl.where(term, 0.0, g * nv)
        x = r + boot * tl.where(cut, 1.0, 1.0 - lm)
        c = tl.where(m, tl.where(cut, 0.0, g * lm), 1.0)
        x = tl.where(m, x, 0.0)
        c_s, x_s = tl.associative_scan((c, x), 1, compose, reverse=True)
        ret = x_s + c_s * carry[:, None]
        tl.store(out_ptr + nn * s_o_n + tt * s_o_t, ret, mask=m)
        carry = tl.reduce(tl.where(cols[None, :] == 0, ret, 0.0), 1, add)


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
    ins = [time_major(x, time_dim) for x in (reward, next_value, done, terminated, gamma, lmbda)]
    returns, ret_tm = out_like(reward, time_dim)
    T, N = ret_tm.shape
    if N == 0 or T == 0:
        return returns
    strides = [s for x in (*ins, ret_tm) for s in x.stride()]
    grid = (triton.cdiv(N, BLOCK_N),)
    torch.library.wrap_triton(_td_lambda_kernel)[grid](
        *ins, ret_tm, N, T, *strides,
        BLOCK_N=BLOCK_N, CHUNK=CHUNK, F64=reward.dtype == torch.float64,
    )
    return returns


td_lambda_triton.register_vmap(make_vmap_rule(td_lambda_triton, 6, 1))
