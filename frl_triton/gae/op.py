"""The ``frl::gae`` custom op: the CPU path, its fake (meta) implementation and its vmap rule.

The op is opaque to torch.compile, so a compiled graph holds one node for it whatever T is; its CPU
body is the blocked reverse scan of `frl_triton._common.reverse_scan`. CUDA tensors go to the
Triton op in `kernel.py` instead (loaded lazily, so importing frl never imports Triton).
"""

from __future__ import annotations

import torch

from frl_triton._common import (acc_dtype, as_output, keep, make_vmap_rule, mask_coef, out_like,
                                scalar_of, scan_along)


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
    r_t, v_tm1, v_t = reward.to(acc), value.to(acc), next_value.to(acc)
    # x_t = r_t + gamma_t (1 - terminated_t) v_t - v_tm1 and c_t = gamma_t lambda_t (1 - done_t),
    # computed in the inputs' own layout (fast elementwise ops), then scanned.
    bootstrap = v_t * keep(terminated)
    g = scalar_of(gamma)
    x = torch.add(r_t, bootstrap, alpha=g) if g is not None else torch.addcmul(r_t, gamma, bootstrap)
    x.sub_(v_tm1)
    c = mask_coef(done, gamma, lmbda, acc)
    advantage = scan_along(x, c, time_dim)
    value_target = torch.add(advantage, v_tm1)
    return as_output(advantage, reward, time_dim), as_output(value_target, reward, time_dim)


@gae_op.register_fake
def _(reward, value, next_value, done, terminated, gamma, lmbda, time_dim):
    return out_like(reward, time_dim)[0], out_like(reward, time_dim)[0]


gae_op.register_vmap(make_vmap_rule(gae_op, 7, 2))
