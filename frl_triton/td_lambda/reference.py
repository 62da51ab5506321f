"""TD(lambda) return reference: a readable reverse loop in float64 (TorchRL's recursion)."""

from __future__ import annotations

import torch


def td_lambda_reference(reward, next_value, done, terminated, gamma, lmbda, time_dim=-2):
    """Return the lambda-returns G_t in float64.

    ``G_t = r_t + gamma_t * [(1 - lambda_t) v_t + lambda_t * (done_t ? v_t : G_{t+1})]`` with
    ``v_t = next_value_t * (1 - terminated_t)``; the last step bootstraps from its next value.
    """
    f64 = torch.float64
    shape = reward.shape
    reward, next_value = (x.to(f64).movedim(time_dim, 0) for x in (reward, next_value))
    done, terminated = (x.bool().movedim(time_dim, 0) for x in (done, terminated))
    gamma = torch.as_tensor(gamma, dtype=f64).broadcast_to(shape).movedim(time_dim, 0)
    lmbda = torch.as_tensor(lmbda, dtype=f64).broadcast_to(shape).movedim(time_dim, 0)
    returns = torch.zeros_like(reward)
    T = reward.shape[0]
    g = torch.zeros(reward.shape[1:], dtype=f64, device=reward.device)  # G_{t+1}; unused at the last step
    for t in reversed(range(T)):
        v_t = torch.where(terminated[t], 0.0, next_value[t])
        following = v_t if t == T - 1 else torch.where(done[t], v_t, g)
        g = reward[t] + gamma[t] * ((1 - lmbda[t]) * v_t + lmbda[t] * following)
        returns[t] = g
    return returns.movedim(0, time_dim)
