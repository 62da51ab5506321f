"""Advantage and return estimators over time: GAE, TD(0), TD(1), TD(lambda), n-step, V-trace.

All estimators follow TorchRL's conventions for episode ends:

- ``terminated`` (the episode ended in a terminal state) stops bootstrapping: the value of the next
  state is taken to be zero;
- ``done`` (terminated *or* truncated) cuts the trace: no estimate flows back across it. A step that is
  done but not terminated (a time limit) still bootstraps from its own next value.

If ``terminated`` is None it equals ``done``. Tensors have TorchRL's layout ``[*B, T, 1]`` with time at
``time_dim=-2``; any leading batch shape and any ``time_dim`` are allowed, as long as every tensor has
the shape of ``reward``. Arithmetic is done in at least float32 (bfloat16 and float16 inputs are
accumulated in float32 and the results are cast back).
"""

from __future__ import annotations

import torch

from frl._checks import check_floating, check_same_shape, check_time_dim, fail

__all__ = ["gae"]

Scalar = float | torch.Tensor


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    # Half-precision inputs are accumulated in float32; float64 stays float64.
    return torch.promote_types(dtype, torch.float32)


def _check_flag(fn: str, name: str, x: torch.Tensor, ref: torch.Tensor) -> None:
    if x.shape != ref.shape:
        check_same_shape(fn, "reward", ref, **{name: x})
    if x.dtype != torch.bool and x.is_floating_point() is False and x.dtype not in (torch.uint8,
                                                                                    torch.int32,
                                                                                    torch.int64):
        fail(fn, f"{name} has dtype {x.dtype}, expected bool", TypeError)


def _check_coef(fn: str, name: str, x, ref: torch.Tensor) -> None:
    if isinstance(x, torch.Tensor) and x.dim() > 0:
        check_same_shape(fn, "reward", ref, **{name: x})


def _as_acc(x, dtype: torch.dtype):
    return x.to(dtype) if isinstance(x, torch.Tensor) else x


def gae(
    reward: torch.Tensor,
    value: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    gamma: Scalar,
    lmbda: Scalar,
    time_dim: int = -2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation.

    With ``r_t = reward``, ``v_tm1 = value`` (V(s_t)), ``v_t = next_value`` (V(s_{t+1})),
    ``discount_t = gamma * (1 - terminated)`` and trace coefficient ``c_t = gamma * lmbda * (1 - done)``::

        delta_t = r_t + discount_t * v_t - v_tm1
        A_t     = delta_t + c_t * A_{t+1},      A_T = 0
        value_target_t = A_t + v_tm1

    Args:
        reward: ``[*B, T, 1]`` rewards r_t received after the action at step t.
        value: ``[*B, T, 1]`` V(s_t).
        next_value: ``[*B, T, 1]`` V(s_{t+1}) (the value of the observation in ``("next", ...)``).
        done: ``[*B, T, 1]`` bool, the episode ended at this step (terminated or truncated).
        terminated: ``[*B, T, 1]`` bool, the episode reached a terminal state; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape (per-step discount).
        lmbda: GAE lambda, a float or a tensor of reward's shape.
        time_dim: the time dimension of every tensor (default -2, TorchRL's layout).

    Returns:
        ``(advantage, value_target)``, both of reward's shape and dtype.

    Example:
        >>> r = torch.ones(2, 5, 1); v = torch.zeros(2, 5, 1); d = torch.zeros(2, 5, 1, dtype=torch.bool)
        >>> adv, target = gae(r, v, v, d, gamma=0.9, lmbda=1.0)
        >>> adv[0, :, 0]  # 1 + 0.9 + 0.81 + ...
        tensor([4.0951, 3.4390, 2.7100, 1.9000, 1.0000])

    References:
        Schulman et al., "High-Dimensional Continuous Control Using Generalized Advantage
        Estimation", ICLR 2016. https://arxiv.org/abs/1506.02438
    """
    fn = "frl.returns.gae"
    if terminated is None:
        terminated = done
    check_floating(fn, "reward", reward)
    check_same_shape(fn, "reward", reward, value=value, next_value=next_value)
    _check_flag(fn, "done", done, reward)
    _check_flag(fn, "terminated", terminated, reward)
    _check_coef(fn, "gamma", gamma, reward)
    _check_coef(fn, "lmbda", lmbda, reward)
    dim = check_time_dim(fn, time_dim, reward.dim())

    acc = _acc_dtype(reward.dtype)
    r_t = reward.to(acc)
    v_tm1 = value.to(acc)
    v_t = next_value.to(acc)
    gamma_t, lambda_ = _as_acc(gamma, acc), _as_acc(lmbda, acc)
    discount_t = gamma_t * (~terminated.bool()).to(acc)
    c_t = gamma_t * lambda_ * (~done.bool()).to(acc)
    delta = r_t + discount_t * v_t - v_tm1
    c_t = torch.broadcast_to(c_t, delta.shape)

    # A reverse scan over time; each step is one vectorized op over all other dimensions.
    delta_s, c_s = delta.movedim(dim, 0), c_t.movedim(dim, 0)
    if delta_s.shape[0] == 0:
        return reward.clone(), reward.clone()
    steps = []
    a_next = torch.zeros_like(delta_s[0])
    for t in range(delta_s.shape[0] - 1, -1, -1):
        a_next = delta_s[t] + c_s[t] * a_next
        steps.append(a_next)
    advantage = torch.stack(steps[::-1], 0).movedim(0, dim)
    value_target = advantage + v_tm1
    return advantage.to(reward.dtype), value_target.to(reward.dtype)
