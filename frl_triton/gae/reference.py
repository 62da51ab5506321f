"""GAE reference: a readable reverse loop in float64, the ground truth for the kernels and tests."""

from __future__ import annotations

import torch


def gae_reference(reward, value, next_value, done, terminated, gamma, lmbda, time_dim=-2):
    """Return ``(advantage, value_target)`` in float64, looping over time one step at a time.

    ``gamma`` and ``lmbda`` are floats or tensors of reward's shape; ``done`` and ``terminated`` bool.
    Follows TorchRL's ``generalized_advantage_estimate``: ``terminated`` zeroes the bootstrap from
    ``next_value``, ``done`` cuts the trace.
    """
    f64 = torch.float64
    shape = reward.shape
    reward, value, next_value = (x.to(f64).movedim(time_dim, 0) for x in (reward, value, next_value))
    done, terminated = (x.bool().movedim(time_dim, 0) for x in (done, terminated))
    gamma = torch.as_tensor(gamma, dtype=f64).broadcast_to(shape).movedim(time_dim, 0)
    lmbda = torch.as_tensor(lmbda, dtype=f64).broadcast_to(shape).movedim(time_dim, 0)
    advantage = torch.zeros_like(reward)
    running = torch.zeros(reward.shape[1:], dtype=f64, device=reward.device)  # A_{t+1}, 0 past the end
    for t in reversed(range(reward.shape[0])):
        bootstrap = torch.where(terminated[t], 0.0, gamma[t] * next_value[t])
        delta = reward[t] + bootstrap - value[t]
        running = delta + torch.where(done[t], 0.0, gamma[t] * lmbda[t] * running)
        advantage[t] = running
    return advantage.movedim(0, time_dim), (advantage + value).movedim(0, time_dim)
