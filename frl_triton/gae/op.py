"""The ``frl::gae`` custom op: the CPU path, its fake (meta) implementation and its vmap rule.

The op is opaque to torch.compile, so a compiled graph holds one node for it whatever T is; its CPU
body is the blocked reverse scan of `frl_triton._common.reverse_scan`. CUDA tensors go to the
Triton op in `kernel.py` instead (loaded lazily, so importing frl never imports Triton).
"""

from __future__ import annotations

import torch

from frl_triton._common import acc_dtype, make_vmap_rule, out_like, reverse_scan, time_major


@torch.library.custom_op("frl::gae", mutates_args=())
def gae_op(
    reward: torch.Tensor,
    value: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor,
    gamma: torch.Tensor,
    lmbda: torch.Tensor,
    time_dim: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over tensors of one shape (gamma and lmbda may be expanded views); see frl.returns.gae."""
    acc = acc_dtype(reward.dtype)
    advantage, adv_tm = out_like(reward, time_dim)
    value_target, vt_tm = out_like(reward, time_dim)
    r_t, v_tm1, v_t, done_t, term_t, gamma_t, lambda_ = (
        time_major(x, time_dim) for x in (reward, value, next_value, done, terminated, gamma, lmbda))
    # x_t = r_t + gamma_t * (1 - terminated_t) * v_t - v_tm1, computed straight into a time-major
    # buffer (the layout change rides on the first op, no separate transpose).
    x = torch.empty(r_t.shape, dtype=acc, device=reward.device)
    torch.mul(gamma_t, v_t, out=x)
    x.masked_fill_(term_t, 0.0)
    x += r_t
    x -= v_tm1
    # c_t = gamma_t * lambda_t * (1 - done_t): done cuts the trace.
    c = torch.empty_like(x)
    torch.mul(gamma_t, lambda_, out=c)
    c.masked_fill_(done_t, 0.0)
    reverse_scan(x, c, out=x)
    adv_tm.copy_(x)
    torch.add(x, v_tm1, out=vt_tm)
    return advantage, value_target


@gae_op.register_fake
def _(reward, value, next_value, done, terminated, gamma, lmbda, time_dim):
    return out_like(reward, time_dim)[0], out_like(reward, time_dim)[0]


gae_op.register_vmap(make_vmap_rule(gae_op, 7, 2))
