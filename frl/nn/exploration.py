"""Exploration as pure functions: epsilon-greedy, additive Gaussian noise, Ornstein-Uhlenbeck noise.

Each takes an explicit `frl.random` key. Annealed quantities (epsilon, sigma) are plain arguments,
computed from a step counter with `linear_schedule` (``frl.optim.linear_schedule``, optax's
signature: one linear schedule for learning rates and exploration), so nothing is hidden in module state; the
Ornstein-Uhlenbeck process, which does need memory, keeps it in the TensorDict it returns.
Switching between exploring and acting deterministically is the caller's choice of function:
``actor.apply(params, td, deterministic=True)`` or skipping the noise.
"""

from __future__ import annotations

import math

import torch
from tensordict import TensorDictBase

from frl import random as fr
from frl._checks import check_keys
from frl.optim._schedules import linear_schedule

__all__ = ["linear_schedule", "epsilon_greedy", "gaussian_noise", "ou_noise"]


def epsilon_greedy(key: torch.Tensor, q_values: torch.Tensor, epsilon: float | torch.Tensor) -> torch.Tensor:
    """With probability ``epsilon`` a uniformly random action, otherwise the arg-max of ``q_values``.

    Args:
        key: an `frl.random` key.
        q_values: action values [*B, n] (TorchRL's "action_value").
        epsilon: exploration probability, a float or a tensor broadcastable to [*B].

    Returns:
        int64 action indices [*B].

    Example:
        >>> frl.nn.epsilon_greedy(frl.random.key(0), torch.tensor([[0.0, 1.0]]), 0.0)
        tensor([1])
    """
    k_explore, k_action = fr.split(key)
    batch = tuple(q_values.shape[:-1])
    explore = fr.uniform(k_explore, batch) < epsilon
    random_action = fr.randint(k_action, batch, 0, q_values.shape[-1])
    return torch.where(explore, random_action, torch.argmax(q_values, -1))


def gaussian_noise(key: torch.Tensor, action: torch.Tensor, sigma: float | torch.Tensor, low=None,
                   high=None, mean: float = 0.0) -> torch.Tensor:
    """``action + N(mean, sigma^2)`` clamped to [low, high] (TorchRL's ``AdditiveGaussianModule``).

    Args:
        key: an `frl.random` key.
        action: deterministic action [*B, D].
        sigma: noise scale, a float or a tensor broadcastable to the action (anneal it with
            `linear_schedule`).
        low, high: optional bounds (floats or tensors [D]).
        mean: noise mean.

    Returns:
        the noisy action [*B, D].
    """
    noisy = action + mean + sigma * fr.normal(key, tuple(action.shape), action.dtype)
    if low is not None or high is not None:
        noisy = noisy.clamp(low, high)
    return noisy


def ou_noise(key: torch.Tensor, td: TensorDictBase, theta: float = 0.15, sigma: float = 0.2, mu: float = 0.0,
             dt: float = 0.01, sigma_min: float | None = None, n_steps_annealing: int = 1000, low=None,
             high=None, action_key="action", is_init_key="is_init") -> TensorDictBase:
    """Add temporally correlated Ornstein-Uhlenbeck noise to ``td[action_key]`` (as DDPG).

    ``noise_t = noise_{t-1} + theta * (mu - noise_{t-1}) * dt + sigma_t * sqrt(dt) * N(0, 1)``, the
    recursion of TorchRL's ``OrnsteinUhlenbeckProcessModule``, with sigma annealed linearly from
    ``sigma`` to ``sigma_min`` over ``n_steps_annealing`` steps when ``sigma_min`` is given. The process
    state travels in the returned TensorDict as "_ou_prev_noise" [*B, D] and "_ou_steps" [*B, 1]
    (TorchRL's keys); carry them to the next step's TensorDict (missing keys start a fresh process).
    Where ``td[is_init_key]`` (bool [*B, 1]) is True, the process restarts from zero.

    Args:
        key: an `frl.random` key.
        td: a TensorDict [*B] with ``action_key`` [*B, D] and, from the second step, the OU keys.
        theta, sigma, mu, dt: the process' parameters.
        sigma_min: final sigma of the annealing (None: no annealing).
        n_steps_annealing: steps over which sigma is annealed.
        low, high: optional bounds on the noisy action.
        action_key: the action to perturb.
        is_init_key: the reset flag.

    Returns:
        a shallow copy of ``td`` with the noisy action and the updated "_ou_prev_noise", "_ou_steps".

    References:
        Lillicrap et al., 2016, "Continuous control with deep reinforcement learning".
    """
    check_keys("frl.nn.ou_noise", td, [action_key])
    action = td.get(action_key)
    prev = td.get("_ou_prev_noise", None)
    steps = td.get("_ou_steps", None)
    prev = torch.zeros_like(action) if prev is None else prev
    steps = torch.zeros(*action.shape[:-1], 1, dtype=torch.int64, device=action.device) if steps is None else steps
    if is_init_key in td.keys():
        is_init = td.get(is_init_key)
        prev = torch.where(is_init, torch.zeros_like(prev), prev)
        steps = torch.where(is_init, torch.zeros_like(steps), steps)
    if sigma_min is None:
        sigma_t = sigma
    else:
        slope = -(sigma - sigma_min) / n_steps_annealing
        sigma_t = (slope * steps + sigma).clamp_min(sigma_min).to(action.dtype)
    noise = (prev + theta * (mu - prev) * dt
             + sigma_t * math.sqrt(dt) * fr.normal(key, tuple(action.shape), action.dtype))
    noisy = action + noise
    if low is not None or high is not None:
        noisy = noisy.clamp(low, high)
    out = td.copy()
    out.set(action_key, noisy)
    out.set("_ou_prev_noise", noise)
    out.set("_ou_steps", steps + 1)
    return out
