"""Advantage and return estimators over time: GAE, TD(0), TD(1), TD(lambda), n-step, V-trace.

All estimators follow TorchRL's conventions for episode ends:

- ``terminated`` (the episode reached a terminal state) stops bootstrapping: the value of the next
  state counts as zero;
- ``done`` (terminated *or* truncated) cuts the trace: nothing flows back across it. A step that is
  done but not terminated (a time limit) still bootstraps from its own next value.

If ``terminated`` is None it equals ``done``. Tensors have TorchRL's layout ``[*B, T, 1]`` with time
at ``time_dim=-2``; any leading batch shape and any ``time_dim`` work, as long as every tensor has
the shape of ``reward``. ``gamma`` and ``lmbda`` are floats, 0-d tensors or tensors of reward's shape
(per-step values). Arithmetic is done in at least float32 (bfloat16 / float16 inputs accumulate in
float32); results have reward's dtype.

The reverse scans (GAE, TD(lambda), TD(1), V-trace) run as one custom op each: a Triton kernel for
CUDA tensors (`frl_triton`, imported on first use) and, on the CPU, a fused C kernel compiled on
first use (`frl_triton.cpu`; a blocked torch scan where no C compiler is available). Either way a
compiled graph holds a single node whatever T is, `torch.func.vmap` batches the op directly, and
GAE / TD(lambda) / TD(1) are differentiable in reward, value and next_value, with
``torch.autograd`` and with ``torch.func.grad``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import torch

from frl._checks import check_floating, check_same_shape, check_time_dim, check_values, fail
from frl_triton._common import acc_dtype, call, differentiable
from frl_triton.gae.op import gae_autograd, gae_op
from frl_triton.td_lambda.op import td_lambda_autograd, td_lambda_op
from frl_triton.vtrace.op import vtrace_op

__all__ = ["gae", "td0_return", "td1_return", "td_lambda_return", "n_step_return", "vtrace"]

Scalar = float | torch.Tensor

# Whether the Triton kernels can be used for CUDA tensors; found without importing triton. Without
# Triton, CUDA tensors take the generic op (the same torch code as on the CPU).
_HAS_TRITON = importlib.util.find_spec("triton") is not None


def _use_triton(x: torch.Tensor) -> bool:
    return x.is_cuda and _HAS_TRITON


def _gae_impl(*args):
    if _use_triton(args[0]):
        from frl_triton.gae.kernel import gae_triton

        return gae_triton(*args)
    return gae_op(*args)


def _td_lambda_impl(*args):
    if _use_triton(args[0]):
        from frl_triton.td_lambda.kernel import td_lambda_triton

        return td_lambda_triton(*args)
    return td_lambda_op(*args)


def _vtrace_impl(*args):
    if _use_triton(args[0]):
        from frl_triton.vtrace.kernel import vtrace_triton

        return vtrace_triton(*args)
    return vtrace_op(*args)


# op name -> (implementation, autograd.Function around it or None: V-trace has no gradient)
_OPS: dict[str, tuple[Callable, type | None]] = {
    "gae": (_gae_impl, differentiable("GAE", _gae_impl, *gae_autograd)),
    "td_lambda": (_td_lambda_impl, differentiable("TDLambda", _td_lambda_impl, *td_lambda_autograd)),
    "vtrace": (_vtrace_impl, None),
}


# --- argument handling ----------------------------------------------------------------------------


def _check_common(fn: str, reward: torch.Tensor, time_dim: int, **tensors: torch.Tensor | None) -> None:
    check_floating(fn, "reward", reward)
    check_same_shape(fn, "reward", reward, **{name: x for name, x in tensors.items() if x is not None})
    for name, x in tensors.items():
        if x is None:
            continue
        if name in ("done", "terminated"):
            if x.is_floating_point() or x.is_complex():
                fail(fn, f"{name} has dtype {str(x.dtype).replace('torch.', '')}, expected bool", TypeError)
        else:
            check_floating(fn, name, x)
    check_time_dim(fn, time_dim, reward.dim())


def _coef(fn: str, name: str, x: Scalar, reward: torch.Tensor) -> torch.Tensor:
    """A coefficient in [0, 1] as a tensor of reward's shape in the accumulation dtype (a free view if scalar).

    A number is checked on the host; a tensor through `check_values`, which raises eagerly, under
    vmap and in a compiled graph alike (a discount above 1 or a negative lambda would give finite
    but meaningless returns, so they are rejected rather than computed).
    """
    acc = acc_dtype(reward.dtype)
    if not isinstance(x, torch.Tensor):
        # `not 0 <= x <= 1` also rejects NaN.
        if not 0.0 <= float(x) <= 1.0:
            fail(fn, f"{name}={x!r}, expected a value in [0, 1]")
        return torch.tensor(float(x), dtype=acc, device=reward.device).expand(reward.shape)
    if x.dim() != 0 and x.shape != reward.shape:
        fail(fn, f"{name} has shape {list(x.shape)}, expected a scalar or {list(reward.shape)} "
                 f"(the shape of reward)")
    x = check_values(fn, name, x, (x >= 0) & (x <= 1), "[0, 1]")
    return x.to(acc).expand(reward.shape) if x.dim() == 0 else x.to(acc)


def _flags(done: torch.Tensor, terminated: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    done = done.bool()
    # A view, not done itself: dynamo cannot trace an autograd.Function given one tensor twice.
    return done, done.view(done.shape) if terminated is None else terminated.bool()


def _checked(fn: str, reward: torch.Tensor, time_dim: int, done: torch.Tensor, terminated: torch.Tensor | None,
             **tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check every argument of estimator ``fn``; return ``(done, terminated)`` as bool tensors."""
    _check_common(fn, reward, time_dim, **tensors, done=done, terminated=terminated)
    return _flags(done, terminated)


def _scan(op: str, fn: str, reward: torch.Tensor, tensors: dict, done: torch.Tensor,
          terminated: torch.Tensor | None, coefs: dict, time_dim: int, extra: tuple = ()):
    """Check the arguments of estimator ``fn`` and run the reverse-scan op ``op`` on them.

    The op's arguments are ``(reward, *tensors, done, terminated, *coefs, *extra, time_dim)``. Where
    a gradient is needed the op runs inside its autograd.Function (which torch.func.grad accepts);
    otherwise it is called directly, so vmap and compile see the bare op.
    """
    done, terminated = _checked(fn, reward, time_dim, done, terminated, **tensors)
    args = (reward, *tensors.values(), done, terminated,
            *(_coef(fn, name, x, reward) for name, x in coefs.items()), *extra, time_dim)
    impl, function = _OPS[op]
    return call(impl, function, args)


# --- estimators -----------------------------------------------------------------------------------


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
    ``discount_t = gamma_t (1 - terminated_t)`` and ``lambda_ = lmbda``::

        delta_t = r_t + discount_t v_t - v_tm1
        A_t     = delta_t + gamma_t lambda_t (1 - done_t) A_{t+1},      A_T = 0
        value_target_t = A_t + v_tm1

    Args:
        reward: ``[*B, T, 1]`` rewards r_t received after the action at step t.
        value: ``[*B, T, 1]`` V(s_t).
        next_value: ``[*B, T, 1]`` V(s_{t+1}) (the value of ``("next", "observation")``).
        done: ``[*B, T, 1]`` bool, the episode ended at this step (terminated or truncated).
        terminated: ``[*B, T, 1]`` bool, the episode reached a terminal state; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape.
        lmbda: GAE lambda, a float or a tensor of reward's shape.
        time_dim: the time dimension of every tensor (default -2, TorchRL's layout).

    Returns:
        ``(advantage, value_target)``, both of reward's shape and dtype.

    Example:
        >>> r, v = torch.ones(2, 5, 1), torch.zeros(2, 5, 1)
        >>> d = torch.zeros(2, 5, 1, dtype=torch.bool)
        >>> adv, target = gae(r, v, v, d, gamma=0.9, lmbda=1.0)
        >>> adv[0, :, 0]  # 1 + 0.9 + 0.81 + ...
        tensor([4.0951, 3.4390, 2.7100, 1.9000, 1.0000])

    References:
        Schulman et al., "High-Dimensional Continuous Control Using Generalized Advantage
        Estimation", ICLR 2016. https://arxiv.org/abs/1506.02438
    """
    return _scan("gae", "frl.returns.gae", reward, dict(value=value, next_value=next_value), done, terminated,
                 dict(gamma=gamma, lmbda=lmbda), time_dim)


def td0_return(
    reward: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    gamma: Scalar,
    time_dim: int = -2,
) -> torch.Tensor:
    """One-step TD target ``G_t = r_t + gamma_t (1 - terminated_t) v_t``.

    Args:
        reward: ``[*B, T, 1]`` rewards r_t.
        next_value: ``[*B, T, 1]`` v_t = V(s_{t+1}).
        done: ``[*B, T, 1]`` bool (only used as ``terminated`` when that is None).
        terminated: ``[*B, T, 1]`` bool, no bootstrap where set; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape.
        time_dim: the time dimension (default -2).

    Returns:
        ``[*B, T, 1]`` targets, reward's dtype.

    Example:
        >>> td0_return(torch.ones(1, 2, 1), torch.full((1, 2, 1), 2.0),
        ...            torch.tensor([False, True]).view(1, 2, 1), gamma=0.5)[0, :, 0]
        tensor([2., 1.])

    References:
        Sutton, "Learning to predict by the methods of temporal differences", Machine Learning 1988.
    """
    fn = "frl.returns.td0_return"
    done, terminated = _checked(fn, reward, time_dim, done, terminated, next_value=next_value)
    acc = acc_dtype(reward.dtype)
    discount_t = _coef(fn, "gamma", gamma, reward).masked_fill(terminated, 0.0)
    return torch.addcmul(reward.to(acc), discount_t, next_value.to(acc)).to(reward.dtype)


def td_lambda_return(
    reward: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    gamma: Scalar,
    lmbda: Scalar,
    time_dim: int = -2,
) -> torch.Tensor:
    """TD(lambda) returns, TorchRL's recursion.

    With ``v_t = next_value_t (1 - terminated_t)``::

        G_t = r_t + gamma_t [(1 - lambda_t) v_t + lambda_t (done_t ? v_t : G_{t+1})]

    and the last step bootstraps from its next value (``G_T = v_{T-1}``).

    Args:
        reward: ``[*B, T, 1]`` rewards r_t.
        next_value: ``[*B, T, 1]`` V(s_{t+1}).
        done: ``[*B, T, 1]`` bool, cuts the trace.
        terminated: ``[*B, T, 1]`` bool, no bootstrap where set; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape.
        lmbda: lambda in [0, 1], a float or a tensor of reward's shape.
        time_dim: the time dimension (default -2).

    Returns:
        ``[*B, T, 1]`` lambda-returns, reward's dtype.

    Example:
        >>> r, v = torch.ones(1, 3, 1), torch.zeros(1, 3, 1)
        >>> td_lambda_return(r, v, v.bool(), gamma=0.5, lmbda=1.0)[0, :, 0]
        tensor([1.7500, 1.5000, 1.0000])

    References:
        Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed., section 12.1.
    """
    return _scan("td_lambda", "frl.returns.td_lambda_return", reward, dict(next_value=next_value), done,
                 terminated, dict(gamma=gamma, lmbda=lmbda), time_dim)


def td1_return(
    reward: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    gamma: Scalar,
    time_dim: int = -2,
) -> torch.Tensor:
    """Discounted Monte Carlo return, bootstrapped at truncation and at the end of the sequence.

    ``G_t = r_t + gamma_t (done_t ? (1 - terminated_t) v_t : G_{t+1})``, i.e. TD(lambda=1).

    Args:
        reward: ``[*B, T, 1]`` rewards r_t.
        next_value: ``[*B, T, 1]`` V(s_{t+1}), used only where an episode is cut short.
        done: ``[*B, T, 1]`` bool, cuts the sum.
        terminated: ``[*B, T, 1]`` bool, no bootstrap where set; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape.
        time_dim: the time dimension (default -2).

    Returns:
        ``[*B, T, 1]`` returns, reward's dtype.

    Example:
        >>> r = torch.ones(1, 3, 1)
        >>> td1_return(r, torch.full((1, 3, 1), 4.0), torch.zeros(1, 3, 1, dtype=torch.bool),
        ...            gamma=0.5)[0, :, 0]  # the last step bootstraps 0.5 * 4
        tensor([2.2500, 2.5000, 3.0000])

    References:
        Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed., chapter 5.
    """
    return _scan("td_lambda", "frl.returns.td1_return", reward, dict(next_value=next_value), done, terminated,
                 dict(gamma=gamma, lmbda=1.0), time_dim)


def n_step_return(
    reward: torch.Tensor,
    next_value: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    gamma: Scalar,
    n: int,
    time_dim: int = -2,
) -> torch.Tensor:
    """n-step bootstrapped returns.

    ``G_t = sum_{k<m} (prod_{j<k} gamma_{t+j}) r_{t+k} + (prod_{j<m} gamma_{t+j}) (1 - terminated) v_{t+m-1}``
    where ``m <= n`` stops early at a done or at the end of the sequence. Recursively,
    ``G^(1) = r_t + gamma_t (1 - terminated_t) v_t`` and
    ``G^(k)_t = r_t + gamma_t (1 - terminated_t) (done'_t ? v_t : G^(k-1)_{t+1})``, ``done'`` being
    ``done`` with the last step set.

    Args:
        reward: ``[*B, T, 1]`` rewards r_t.
        next_value: ``[*B, T, 1]`` V(s_{t+1}).
        done: ``[*B, T, 1]`` bool, cuts the sum.
        terminated: ``[*B, T, 1]`` bool, no bootstrap where set; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape.
        n: the number of steps, at least 1 (n=1 is TD(0); n >= T is TD(1)).
        time_dim: the time dimension (default -2).

    Returns:
        ``[*B, T, 1]`` returns, reward's dtype.

    Example:
        >>> r, v = torch.ones(1, 4, 1), torch.full((1, 4, 1), 10.0)
        >>> n_step_return(r, v, v < 0, gamma=0.5, n=2)[0, :, 0]  # 1 + 0.5 (1 + 0.5 * 10)
        tensor([4., 4., 4., 6.])

    References:
        Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed., chapter 7.
    """
    fn = "frl.returns.n_step_return"
    done, terminated = _checked(fn, reward, time_dim, done, terminated, next_value=next_value)
    if not isinstance(n, int) or n < 1:
        fail(fn, f"n={n!r}, expected an int >= 1")
    acc = acc_dtype(reward.dtype)
    dim = time_dim % reward.dim()
    T = reward.shape[dim]
    r_t = reward.to(acc)
    v_t = next_value.to(acc)
    discount_t = _coef(fn, "gamma", gamma, reward).masked_fill(terminated, 0.0)
    # done'_t: the end of the sequence cuts too.
    last = torch.arange(T, device=reward.device) == T - 1
    cut = done | last.view([T if i == dim else 1 for i in range(reward.dim())])
    returns = torch.addcmul(r_t, discount_t, v_t)
    for _ in range(min(n, max(T, 1)) - 1):
        # G^(k-1)_{t+1}, shifted left along time; its last entry is never used (cut there).
        following = torch.cat([returns.narrow(dim, 1, T - 1), v_t.narrow(dim, T - 1, 1)], dim)
        returns = torch.addcmul(r_t, discount_t, torch.where(cut, v_t, following))
    return returns.to(reward.dtype)


def vtrace(
    reward: torch.Tensor,
    value: torch.Tensor,
    next_value: torch.Tensor,
    log_rho: torch.Tensor,
    done: torch.Tensor,
    terminated: torch.Tensor | None = None,
    *,
    gamma: Scalar,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    time_dim: int = -2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace targets and policy-gradient advantages (IMPALA).

    With ``rho_t = min(rho_bar, pi/mu)``, ``c_t = min(c_bar, pi/mu)``, ``v_tm1 = value``,
    ``v_t = next_value`` and ``discount_t = gamma_t (1 - terminated_t)``::

        delta_t = rho_t (r_t + discount_t v_t - v_tm1)
        vs_t    = v_tm1 + delta_t + gamma_t (1 - done_t) c_t (vs_{t+1} - v_{t+1})
        pg_t    = rho_t (r_t + discount_t vs'_{t+1} - v_tm1)

    where ``vs'_{t+1}`` is ``vs_{t+1}``, or ``next_value_t`` at a done and at the last step.

    Args:
        reward: ``[*B, T, 1]`` rewards r_t.
        value: ``[*B, T, 1]`` V(s_t) under the current value function.
        next_value: ``[*B, T, 1]`` V(s_{t+1}).
        log_rho: ``[*B, T, 1]`` log importance ratios ``log pi(a_t|s_t) - log mu(a_t|s_t)`` (target
            policy over behaviour policy).
        done: ``[*B, T, 1]`` bool, cuts the trace.
        terminated: ``[*B, T, 1]`` bool, no bootstrap where set; None means ``done``.
        gamma: discount, a float or a tensor of reward's shape.
        rho_bar: clipping threshold of the importance weights in the TD errors (and the pg term).
        c_bar: clipping threshold of the trace coefficients.
        time_dim: the time dimension (default -2).

    Returns:
        ``(vs, pg_advantage)``: value targets and policy-gradient advantages, reward's shape and dtype.

    Example:
        >>> r, v = torch.ones(1, 3, 1), torch.zeros(1, 3, 1)
        >>> vs, pg = vtrace(r, v, v, v, v.bool(), gamma=0.5)  # on-policy: vs is the TD(1) return
        >>> vs[0, :, 0]
        tensor([1.7500, 1.5000, 1.0000])

    References:
        Espeholt et al., "IMPALA: Scalable Distributed Deep-RL with Importance Weighted
        Actor-Learner Architectures", ICML 2018. https://arxiv.org/abs/1802.01561
    """
    return _scan("vtrace", "frl.returns.vtrace", reward, dict(value=value, next_value=next_value, log_rho=log_rho),
                 done, terminated, dict(gamma=gamma), time_dim, extra=(float(rho_bar), float(c_bar)))
