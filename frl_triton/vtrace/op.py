"""The ``frl::vtrace`` custom op: CPU path (fused C kernel, or a blocked torch scan), fake, vmap rule.

V-trace is the linear scan ``A_t = delta_t + c_t A_{t+1}`` on ``A = vs - v`` with
``delta_t = rho_t (r_t + gamma_t (1 - terminated_t) v'_t - v_t)`` and
``c_t = gamma_t (1 - done_t) min(c_bar, e^log_rho_t)``.
"""

from __future__ import annotations

import torch

from frl_triton._common import acc_dtype, as_output, keep, make_vmap_rule, mask_coef, out_like, scan_along
from frl_triton.cpu import scan as cpu_scan


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
    fused = cpu_scan.vtrace(reward, value, next_value, log_rho, done, terminated, gamma, rho_bar, c_bar, time_dim)
    if fused is not None:
        return fused
    acc = acc_dtype(reward.dtype)
    T = reward.shape[time_dim]
    if T == 0:
        return out_like(reward, time_dim)[0], out_like(reward, time_dim)[0]
    r_t, v_tm1, v_t = reward.to(acc), value.to(acc), next_value.to(acc)
    rho = log_rho.to(acc).exp()
    rho_clipped = rho.clamp(max=rho_bar)
    # Masks enter as uint8 factors: much faster on the CPU than where / masked_fill with bool masks.
    discount = mask_coef(terminated, gamma, None, acc)
    # delta_t = rho_t (r_t + discount_t v_t - v_tm1); c_t = gamma_t (1 - done_t) min(c_bar, rho_t).
    x = torch.addcmul(r_t, discount, v_t).sub_(v_tm1).mul_(rho_clipped)
    c = rho.clamp_(max=c_bar).mul_(mask_coef(done, gamma, None, acc))
    vs = scan_along(x, c, time_dim).add_(v_tm1)
    # vs'_{t+1}: vs of the next step, or the next value at a done and at the last step.
    vs_next = torch.cat([vs.narrow(time_dim, 1, T - 1), v_t.narrow(time_dim, T - 1, 1)], time_dim)
    vs_next.mul_(keep(done)).addcmul_(v_t, done.view(torch.uint8))
    pg = torch.addcmul(r_t, discount, vs_next).sub_(v_tm1).mul_(rho_clipped)
    return as_output(vs, reward, time_dim), as_output(pg, reward, time_dim)


@vtrace_op.register_fake
def _(reward, value, next_value, log_rho, done, terminated, gamma, rho_bar, c_bar, time_dim):
    return out_like(reward, time_dim)[0], out_like(reward, time_dim)[0]


vtrace_op.register_vmap(make_vmap_rule(vtrace_op, 7, 2))
