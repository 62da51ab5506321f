"""The ``frl::td_lambda`` custom op: CPU path (fused C kernel, or a blocked torch scan), fake, vmap rule.

TorchRL's recursion ``G_t = r_t + gamma_t [(1 - lambda_t) v_t + lambda_t (done_t ? v_t : G_{t+1})]``
(``v_t`` the next value, zeroed where terminated; the last step bootstraps) is the linear scan
``G_t = x_t + c_t G_{t+1}`` with ``x_t = r_t + gamma_t v_t (1 - lambda_t + lambda_t done'_t)`` and
``c_t = gamma_t lambda_t (1 - done'_t)``, where ``done'`` is ``done`` with the last step set.
"""

from __future__ import annotations

import torch

from frl_triton._common import (
    acc_dtype,
    as_output,
    make_vmap_rule,
    mask_coef,
    out_like,
    scalar_of,
    scan_along,
    scan_coef,
)
from frl_triton.cpu import scan as cpu_scan
from frl_triton.gae.op import transposed_scan


@torch.library.custom_op("frl::td_lambda", mutates_args=())
def td_lambda_op(
    reward: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor,
    gamma: torch.Tensor,
    lmbda: torch.Tensor,
    time_dim: int,
) -> torch.Tensor:
    """Lambda-returns over tensors of one shape; see frl.returns.td_lambda_return."""
    fused = cpu_scan.td_lambda(reward, next_value, done, terminated, gamma, lmbda, time_dim)
    if fused is not None:
        return fused
    acc = acc_dtype(reward.dtype)
    T = reward.shape[time_dim]
    if T == 0:
        return out_like(reward, time_dim)[0]
    # done'_t: the sequence end is a cut too (the last step bootstraps from its next value).
    cut = done.clone()
    cut.select(time_dim, T - 1).fill_(True)
    # x_t = r_t + gamma_t v_t (1 - lambda_t + lambda_t done'_t), with v_t zeroed where terminated.
    # Masks enter as uint8 factors: much faster on the CPU than where / masked_fill with bool masks.
    bootstrap = next_value.to(acc).mul(mask_coef(terminated, gamma, None, acc))
    cut_u8 = cut.view(torch.uint8)
    lam = scalar_of(lmbda)
    if lam is not None and acc == torch.float32:
        weight = cut_u8 * lam + (1.0 - lam)
    else:
        weight = torch.addcmul(1.0 - lmbda, lmbda, cut_u8)
    x = torch.addcmul(reward.to(acc), bootstrap, weight)
    c = scan_coef(cut, gamma, lmbda, acc)
    return as_output(scan_along(x, c, time_dim), reward, time_dim)


@td_lambda_op.register_fake
def _(reward, next_value, done, terminated, gamma, lmbda, time_dim):
    return out_like(reward, time_dim)[0]


td_lambda_op.register_vmap(make_vmap_rule(td_lambda_op, 6, 1))


# --- autograd: returns = scan(x) is linear in reward and next_value (see frl_triton.gae.op) ------


def _setup_context(ctx, inputs, output):
    _, _, done, terminated, gamma, lmbda, time_dim = inputs
    ctx.save_for_backward(done, terminated, gamma, lmbda)
    ctx.time_dim = time_dim


def _backward(ctx, grad_returns):
    done, terminated, gamma, lmbda = ctx.saved_tensors
    T = done.shape[ctx.time_dim]
    cut = done.clone()
    cut.select(ctx.time_dim, T - 1).fill_(True)
    c = (gamma * lmbda).masked_fill(cut, 0.0)
    grad_x = transposed_scan(grad_returns, c, ctx.time_dim)
    weight = torch.where(cut, 1.0, 1.0 - lmbda)
    grad_next_value = grad_x * (gamma.masked_fill(terminated, 0.0) * weight).to(grad_x.dtype)
    return grad_x, grad_next_value, None, None, None, None, None


td_lambda_op.register_autograd(_backward, setup_context=_setup_context)
td_lambda_autograd = (_setup_context, _backward)
