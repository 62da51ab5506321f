"""The ``frl::vtrace`` custom op: CPU path (blocked reverse scan), fake implementation, vmap rule.

V-trace is the linear scan ``A_t = delta_t + c_t A_{t+1}`` on ``A = vs - v`` with
``delta_t = rho_t (r_t + gamma_t (1 - terminated_t) v'_t - v_t)`` and
``c_t = gamma_t (1 - done_t) min(c_bar, e^log_rho_t)``.
"""

from __future__ import annotations

import torch

from frl_triton._common import acc_dtype, make_vmap_rule, out_like, reverse_scan, time_major


@torch.library.custom_op("frl::vtrace", mutates_args=())
def vtrace_op(
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
    """V-trace targets and policy-gradient advantages; see frl.returns.vtrace."""
    acc = acc_dtype(reward.dtype)
    vs, vs_tm = out_like(reward, time_dim)
    pg, pg_tm = out_like(reward, time_dim)
    r_t, v_tm1, v_t, log_rho_t, done_t, term_t, gamma_t = (
        time_major(x, time_dim) for x in (reward, value, next_value, log_rho, done, terminated, gamma))
    T = r_t.shape[0]
    if T == 0:
        return vs, pg
    rho = log_rho_t.to(acc).exp()
    rho_clipped = rho.clamp(max=rho_bar)
    discount = gamma_t.to(acc).masked_fill(term_t, 0.0)
    # delta_t = rho_t (r_t + discount_t v'_t - v_t)
    x = torch.addcmul(r_t.to(acc), discount, v_t).sub_(v_tm1).mul_(rho_clipped)
    c = (gamma_t.to(acc) * rho.clamp_(max=c_bar)).masked_fill_(done_t, 0.0)
    a = reverse_scan(x, c, out=x)
    a += v_tm1  # a is now vs
    vs_tm.copy_(a)
    # vs'_{t+1}: vs of the next step, or the next value at a done and at the last step.
    vs_next = torch.empty_like(a)
    vs_next[: T - 1] = a[1:]
    vs_next[T - 1] = v_t[T - 1]
    vs_next = torch.where(done_t, v_t.to(acc), vs_next)
    torch.mul(torch.addcmul(r_t.to(acc), discount, vs_next).sub_(v_tm1), rho_clipped, out=pg_tm)
    return vs, pg


@vtrace_op.register_fake
def _(reward, value, next_value, log_rho, done, terminated, gamma, rho_bar, c_bar, time_dim):
    return out_like(reward, time_dim)[0], out_like(reward, time_dim)[0]


vtrace_op.register_vmap(make_vmap_rule(vtrace_op, 7, 2))
