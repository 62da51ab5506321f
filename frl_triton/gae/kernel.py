"""GAE as one Triton kernel, registered with ``torch.library.triton_op`` (imported lazily, on CUDA).

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
def _gae_kernel(
    r_ptr, v_ptr, nv_ptr, d_ptr, term_ptr, g_ptr, l_ptr, adv_ptr, vt_ptr,
    N, T,
    s_r_t, s_r_n, s_v_t, s_v_n, s_nv_t, s_nv_n, s_d_t, s_d_n, s_term_t, s_term_n,
    s_g_t, s_g_n, s_l_t, s_l_n, s_adv_t, s_adv_n, s_vt_t, s_vt_n,
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
        v = load_tile(v_ptr, n, t, s_v_n, s_v_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        nv = load_tile(nv_ptr, n, t, s_nv_n, s_nv_t, m, acc, False, WIDE)  # pyright: ignore[reportArgumentType]
        g = load_tile(g_ptr, n, t, s_g_n, s_g_t, m, acc, G_SCALAR, WIDE)
        lm = load_tile(l_ptr, n, t, s_l_n, s_l_t, m, acc, L_SCALAR, WIDE)
        done = load_tile(d_ptr, n, t, s_d_n, s_d_t, m, tl.int8, False, WIDE) != 0  # pyright: ignore[reportArgumentType]
        term = load_tile(term_ptr, n, t, s_term_n, s_term_t, m, tl.int8, False, WIDE) != 0  # pyright: ignore[reportArgumentType]
        x = tl.where(m, r + tl.where(term, 0.0, g * nv) - v, 0.0)
        c = tl.where(m, tl.where(done, 0.0, g * lm), 1.0)
        a, carry = scan_tile(c, x, carry, cols)
        store_tile(adv_ptr, a, n, t, s_adv_n, s_adv_t, m, WIDE)
        store_tile(vt_ptr, a + v, n, t, s_vt_n, s_vt_t, m, WIDE)


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
    advantage, value_target = _tile.launch(_gae_kernel, [reward, value, next_value, done, terminated, gamma, lmbda],
                                           2, time_dim, G_SCALAR=_tile.is_scalar(gamma),
                                           L_SCALAR=_tile.is_scalar(lmbda))
    return advantage, value_target


gae_triton.register_vmap(make_vmap_rule(gae_triton, 7, 2))
