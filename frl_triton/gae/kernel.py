"""GAE as one Triton kernel, registered with ``torch.library.triton_op`` (imported lazily, on CUDA).

Each program owns ``BLOCK_N`` sequences and walks time backwards in chunks of ``CHUNK`` steps: it
loads a ``[BLOCK_N, CHUNK]`` tile of every input (through their strides, so batch-major and
time-major layouts are read in place), forms the per-step affine maps ``A -> x_t + c_t A``, composes
them with a reverse ``tl.associative_scan`` inside the tile, applies them to the value carried in
from the chunk on the right, and writes both outputs. Long T costs one loop iteration per chunk.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from frl_triton._common import make_vmap_rule, out_like, time_major

BLOCK_N = 32
CHUNK = 32


@triton.jit
def compose(c_later, x_later, c_earlier, x_earlier):
    """Compose affine maps for a reverse scan: earlier(later(A)) = x_e + c_e (x_l + c_l A).

    In a reverse ``tl.associative_scan`` the first operand is the accumulated later part.
    """
    return c_earlier * c_later, x_earlier + c_earlier * x_later


@triton.jit
def add(a, b):
    return a + b


# The kernels use core builtins only (tl.full, tl.reduce with our own combine, // for cdiv), not
# triton.language's @jit helpers (tl.zeros, tl.sum, tl.cdiv): those are decorated when triton is
# first imported, and if that happened before TRITON_INTERPRET=1 was set they do not run in the
# interpreter.


@triton.jit
def _gae_kernel(
    r_ptr, v_ptr, nv_ptr, d_ptr, term_ptr, g_ptr, l_ptr, adv_ptr, vt_ptr,
    N, T,
    s_r_t, s_r_n, s_v_t, s_v_n, s_nv_t, s_nv_n, s_d_t, s_d_n, s_term_t, s_term_n,
    s_g_t, s_g_n, s_l_t, s_l_n, s_adv_t, s_adv_n, s_vt_t, s_vt_n,
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
        g = tl.load(g_ptr + nn * s_g_n + tt * s_g_t, mask=m, other=0).to(acc)
        lm = tl.load(l_ptr + nn * s_l_n + tt * s_l_t, mask=m, other=0).to(acc)
        done = tl.load(d_ptr + nn * s_d_n + tt * s_d_t, mask=m, other=0) != 0
        term = tl.load(term_ptr + nn * s_term_n + tt * s_term_t, mask=m, other=0) != 0
        x = r + tl.where(term, 0.0, g * nv) - v
        # Padding past T is the identity map (c = 1, x = 0) so the carry passes through it.
        c = tl.where(m, tl.where(done, 0.0, g * lm), 1.0)
        x = tl.where(m, x, 0.0)
        c_s, x_s = tl.associative_scan((c, x), 1, compose, reverse=True)
        a = x_s + c_s * carry[:, None]
        tl.store(adv_ptr + nn * s_adv_n + tt * s_adv_t, a, mask=m)
        tl.store(vt_ptr + nn * s_vt_n + tt * s_vt_t, a + v, mask=m)
        carry = tl.reduce(tl.where(cols[None, :] == 0, a, 0.0), 1, add)


@torch.library.triton_op("frl::gae_triton", mutates_args=())
def gae_triton(
    reward: torch.Tensor,
    value: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor,
    gamma: torch.Tensor,
    lmbda: torch.Tensor,
    time_dim: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE on CUDA (or on CPU tensors under ``TRITON_INTERPRET=1``); see frl.returns.gae."""
    ins = [time_major(x, time_dim) for x in (reward, value, next_value, done, terminated, gamma, lmbda)]
    advantage, adv_tm = out_like(reward, time_dim)
    value_target, vt_tm = out_like(reward, time_dim)
    T, N = adv_tm.shape
    strides = [s for x in (*ins, adv_tm, vt_tm) for s in x.stride()]
    if N == 0 or T == 0:
        return advantage, value_target
    grid = (triton.cdiv(N, BLOCK_N),)
    torch.library.wrap_triton(_gae_kernel)[grid](
        *ins, adv_tm, vt_tm, N, T, *strides,
        BLOCK_N=BLOCK_N, CHUNK=CHUNK, F64=reward.dtype == torch.float64,
    )
    return advantage, value_target


gae_triton.register_vmap(make_vmap_rule(gae_triton, 7, 2))
