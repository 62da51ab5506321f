"""The ``frl::gae`` custom op: the CPU path, its fake (meta) implementation and its vmap rule.

The op is opaque to torch.compile, so a compiled graph holds one node for it whatever T is. Its CPU
body is the fused C kernel of `frl_triton.cpu` (one pass over memory), or, where no C compiler is
available, the blocked reverse scan of `frl_triton._common.reverse_scan`. CUDA tensors go to the
Triton op in `kernel.py` instead (loaded lazily, so importing frl never imports Triton).
"""

from __future__ import annotations

import torch

from frl_triton._common import (
    acc_dtype,
    as_output,
    call,
    differentiable,
    keep,
    make_vmap_rule,
    out_like,
    scalar_of,
    scan_along,
    scan_coef,
)
from frl_triton.cpu import scan as cpu_scan


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
    fused = cpu_scan.gae(reward, value, next_value, done, terminated, gamma, lmbda, time_dim)
    if fused is not None:
        return fused
    acc = acc_dtype(reward.dtype)
    r_t, v_tm1, v_t = reward.to(acc), value.to(acc), next_value.to(acc)
    # x_t = r_t + gamma_t (1 - terminated_t) v_t - v_tm1 and c_t = gamma_t lambda_t (1 - done_t),
    # computed in the inputs' own layout (fast elementwise ops), then scanned.
    bootstrap = v_t * keep(terminated)
    g = scalar_of(gamma)
    x = torch.add(r_t, bootstrap, alpha=g) if g is not None else torch.addcmul(r_t, gamma, bootstrap)
    x.sub_(v_tm1)
    c = scan_coef(done, gamma, lmbda, acc)
    advantage = scan_along(x, c, time_dim)
    value_target = torch.add(advantage, v_tm1)
    return as_output(advantage, reward, time_dim), as_output(value_target, reward, time_dim)


@gae_op.register_fake
def _(reward, value, next_value, done, terminated, gamma, lmbda, time_dim):
    return out_like(reward, time_dim)[0], out_like(reward, time_dim)[0]


gae_op.register_vmap(make_vmap_rule(gae_op, 7, 2))


# --- autograd -------------------------------------------------------------------------------------
# The outputs are linear in reward, value and next_value. For A = scan(x) with A_t = x_t + c_t A_{t+1},
# dL/dx_t = G_t with the *forward* recurrence G_t = dL/dA_t + c_{t-1} G_{t-1}: the same reverse scan
# run on time-flipped tensors with c shifted by one step. It reuses this op (with zero values, no
# dones, gamma = the shifted c and lambda = 1), so the backward is compilable and vmappable too.
# No gradient flows to gamma or lmbda.


def transposed_scan(grad: torch.Tensor, c: torch.Tensor, time_dim: int) -> torch.Tensor:
    """``G_t = grad_t + c_{t-1} G_{t-1}`` along ``time_dim`` (the adjoint of the reverse scan)."""
    T = grad.shape[time_dim]
    if T == 0:
        return grad
    c_prev = torch.cat([torch.zeros_like(c.narrow(time_dim, 0, 1)), c.narrow(time_dim, 0, T - 1)], time_dim)
    g_rev, c_rev = grad.flip(time_dim), c_prev.flip(time_dim).to(grad.dtype)
    zero = torch.zeros((), dtype=grad.dtype, device=grad.device).expand(grad.shape)
    never = torch.zeros((), dtype=torch.bool, device=grad.device).expand(grad.shape)
    one = torch.ones((), dtype=c_rev.dtype, device=grad.device).expand(grad.shape)
    # Through the Function where a gradient is needed (a double backward, or torch.func.grad).
    out, _ = call(gae_op, GaeFunction, (g_rev, zero, zero, never, never, c_rev, one, time_dim))
    return out.flip(time_dim)


def _setup_context(ctx, inputs, output):
    _, _, _, done, terminated, gamma, lmbda, time_dim = inputs
    ctx.save_for_backward(done, terminated, gamma, lmbda)
    ctx.time_dim = time_dim


def _backward(ctx, grad_advantage, grad_value_target):
    done, terminated, gamma, lmbda = ctx.saved_tensors
    c = (gamma * lmbda).masked_fill(done, 0.0)
    grad_x = transposed_scan(grad_advantage + grad_value_target, c, ctx.time_dim)
    grad_next_value = grad_x * gamma.masked_fill(terminated, 0.0).to(grad_x.dtype)
    return grad_x, grad_value_target - grad_x, grad_next_value, None, None, None, None, None


gae_op.register_autograd(_backward, setup_context=_setup_context)
# For frl.returns, which wraps whichever implementation runs (CPU op or Triton) in a Function.
gae_autograd = (_setup_context, _backward)
GaeFunction = differentiable("GaeFunction", gae_op, *gae_autograd)
