"""Probability distributions as NamedTuples of tensors with pure, compile-friendly methods.

Each distribution is a plain NamedTuple (a pytree), so it can be built inside a compiled or vmapped
function, and its methods are pure functions of its fields and of an explicit `frl.random` key:

* ``sample(key, sample_shape=())``: a draw (reparameterized for the continuous ones);
* ``log_prob(x)``, ``entropy()``, ``mode``;
* ``sample_and_log_prob(key)``: a draw and its log-density in one pass.

Event dimensions follow torch.distributions and TorchRL: `Normal` is elementwise (like
``torch.distributions.Normal``); `IndependentNormal` and `TanhNormal` treat the last dimension as the
event (log_prob and entropy are summed over it, like TorchRL's ``IndependentNormal`` and
``TanhNormal``); `Categorical` and `OneHotCategorical` return one value per batch element.

Example:
    >>> d = frl.nn.TanhNormal(torch.zeros(4, 2), torch.ones(4, 2))
    >>> action, log_prob = d.sample_and_log_prob(frl.random.key(0))
    >>> action.shape, log_prob.shape
    (torch.Size([4, 2]), torch.Size([4]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from frl import random as fr

__all__ = ["Normal", "IndependentNormal", "TanhNormal", "Categorical", "OneHotCategorical"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG2 = math.log(2.0)

# Gauss-Hermite nodes and weights for E[f(u)], u ~ N(m, s): sum_k w_k f(m + sqrt(2) s x_k) / sqrt(pi).
_GH_NODES, _GH_WEIGHTS = (torch.tensor(a, dtype=torch.float64) for a in np.polynomial.hermite.hermgauss(48))
_GH_WEIGHTS = _GH_WEIGHTS / math.sqrt(math.pi)


def _log(x):
    return torch.log(x) if isinstance(x, torch.Tensor) else math.log(x)


def _normal_log_prob(x, loc, scale):
    z = (x - loc) / scale
    return -0.5 * z * z - torch.log(scale) - _HALF_LOG_2PI


class Normal(NamedTuple):
    """Gaussian with mean ``loc`` and standard deviation ``scale``; log_prob and entropy elementwise.

    Args:
        loc: mean, [*B].
        scale: standard deviation, > 0, broadcastable with ``loc``.

    Example:
        >>> d = frl.nn.Normal(torch.zeros(3), torch.ones(3))
        >>> d.log_prob(d.sample(frl.random.key(0))).shape
        torch.Size([3])
    """

    loc: torch.Tensor
    scale: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        """The shape of one draw: loc and scale broadcast together."""
        return torch.broadcast_shapes(self.loc.shape, self.scale.shape)

    def sample(self, key: torch.Tensor, sample_shape: Sequence[int] = ()) -> torch.Tensor:
        """Reparameterized draw ``loc + scale * eps``, shape [*sample_shape, *B]; differentiable."""
        eps = fr.normal(key, tuple(sample_shape) + tuple(self.shape), self.loc.dtype)
        return self.loc + self.scale * eps

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density of ``x``, elementwise: [*B]."""
        return _normal_log_prob(x, self.loc, self.scale)

    def sample_and_log_prob(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.sample(key)
        return x, self.log_prob(x)

    def entropy(self) -> torch.Tensor:
        """Differential entropy ``1/2 + log(2 pi)/2 + log(scale)``, elementwise: [*B]."""
        return (0.5 + _HALF_LOG_2PI + torch.log(self.scale)).expand(self.shape)

    @property
    def mode(self) -> torch.Tensor:
        return self.loc.expand(self.shape)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc.expand(self.shape)

    @property
    def stddev(self) -> torch.Tensor:
        return self.scale.expand(self.shape)


class IndependentNormal(Normal):
    """Diagonal Gaussian whose last dimension is the event: log_prob and entropy are summed over it.

    ``torch.distributions.Independent(Normal(loc, scale), 1)``, TorchRL's ``IndependentNormal``.
    log_prob(x [*B, D]) and entropy() have shape [*B].
    """

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return _normal_log_prob(x, self.loc, self.scale).sum(-1)

    def entropy(self) -> torch.Tensor:
        return Normal.entropy(self).sum(-1)


def _log1m_tanh_sq(u: torch.Tensor) -> torch.Tensor:
    # log(1 - tanh(u)^2) = log(sech(u)^2), written so it neither underflows nor loses precision for
    # large |u| (the naive form is log(0) = -inf once tanh(u) rounds to 1).
    return 2.0 * (_LOG2 - u - F.softplus(-2.0 * u))


class TanhNormal(NamedTuple):
    """Gaussian squashed by tanh into the box [low, high]; the last dimension is the event.

    ``u ~ Normal(loc, scale)``, ``action = low + (high - low) * (tanh(u) + 1) / 2``. This is
    ``TransformedDistribution(Normal(loc, scale), [TanhTransform(), AffineTransform(mid, half)])`` with
    ``Independent(..., 1)``, TorchRL's ``TanhNormal`` (without ``tanh_loc``).

    Args:
        loc: mean of the pre-tanh Gaussian, [*B, D].
        scale: its standard deviation, > 0, [*B, D] (or broadcastable).
        low: lower bound of the action, a float or a tensor broadcastable to [*B, D].
        high: upper bound of the action, as ``low``.

    ``log_prob(action)`` inverts the squashing with ``atanh``, whose argument is clamped to
    ``±(1 - eps)`` with ``eps = finfo(dtype).eps``, so actions exactly at a bound have a finite
    log-prob and finite gradients. ``sample_and_log_prob`` uses the pre-tanh draw directly (exact, and
    the reparameterized gradient SAC wants); ``log_prob(action)`` must recover ``u`` from the rounded
    action, so the two agree to rounding away from the bounds but drift apart as tanh approaches
    ±1 in the dtype (in float32 noticeably from |u| of about 5, and past |u| of about 8.3 the clamp
    takes over). Code that stores a log-prob to compare later (PPO) should take it from
    ``log_prob(action)``, as `probabilistic_actor` does.

    Example:
        >>> d = frl.nn.TanhNormal(torch.zeros(2), torch.ones(2), low=-2.0, high=2.0)
        >>> a, lp = d.sample_and_log_prob(frl.random.key(0))
        >>> torch.allclose(d.log_prob(a), lp)
        True
    """

    loc: torch.Tensor
    scale: torch.Tensor
    low: float | torch.Tensor = -1.0
    high: float | torch.Tensor = 1.0

    @property
    def shape(self) -> torch.Size:
        """The shape of one draw: loc and scale broadcast together."""
        return torch.broadcast_shapes(self.loc.shape, self.scale.shape)

    def _mid_half(self):
        return (self.high + self.low) / 2, (self.high - self.low) / 2

    def _squash(self, u: torch.Tensor) -> torch.Tensor:
        mid, half = self._mid_half()
        return mid + half * torch.tanh(u)

    def _log_prob_u(self, u: torch.Tensor) -> torch.Tensor:
        # Change of variables: log p(a) = log N(u) - log|da/du|, da/du = half * (1 - tanh(u)^2).
        _, half = self._mid_half()
        lp = _normal_log_prob(u, self.loc, self.scale) - _log1m_tanh_sq(u) - _log(half)
        return lp.sum(-1)

    def sample(self, key: torch.Tensor, sample_shape: Sequence[int] = ()) -> torch.Tensor:
        """Reparameterized action draw, [*sample_shape, *B, D]."""
        eps = fr.normal(key, tuple(sample_shape) + tuple(self.shape), self.loc.dtype)
        return self._squash(self.loc + self.scale * eps)

    def sample_and_log_prob(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An action [*B, D] and its log-density [*B] (computed from the pre-tanh draw: exact)."""
        u = self.loc + self.scale * fr.normal(key, tuple(self.shape), self.loc.dtype)
        return self._squash(u), self._log_prob_u(u)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        """Log-density of ``action`` [*B, D], summed over the last dimension: [*B]."""
        mid, half = self._mid_half()
        eps = torch.finfo(action.dtype).eps
        t = ((action - mid) / half).clamp(-1.0 + eps, 1.0 - eps)
        return self._log_prob_u(torch.atanh(t))

    def entropy(self) -> torch.Tensor:
        """Entropy [*B], deterministic: H(u) + E[log|da/du|] with a 48-point Gauss-Hermite rule.

        The tanh-Gaussian has no closed-form entropy. Instead of a noisy one-sample estimate (TorchRL's
        fallback, ``-log_prob(sample)``), the one-dimensional expectation of log(1 - tanh(u)^2) is
        integrated by quadrature: no key, no variance, smooth gradients. Measured against fine
        numerical integration in float64 the absolute error is below 1e-9 for scale <= 1, 2e-5 for
        scale <= 2, 6e-4 for scale <= 3 and about 1e-2 at scale 5 (the integrand's complex poles at
        u = ±i*pi/2 slow the rule's convergence as the scale grows).
        """
        _, half = self._mid_half()
        loc, scale = torch.broadcast_tensors(self.loc, self.scale)
        nodes = _GH_NODES.to(device=loc.device, dtype=loc.dtype)
        weights = _GH_WEIGHTS.to(device=loc.device, dtype=loc.dtype)
        u = loc.unsqueeze(-1) + (math.sqrt(2.0) * scale).unsqueeze(-1) * nodes
        expected_log_jac = (_log1m_tanh_sq(u) * weights).sum(-1) + _log(half)
        return (0.5 + _HALF_LOG_2PI + torch.log(scale) + expected_log_jac).sum(-1)

    @property
    def mode(self) -> torch.Tensor:
        """The deterministic action ``low + (high - low) * (tanh(loc) + 1) / 2``, [*B, D]."""
        return self._squash(self.loc.expand(self.shape))


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    # Clamp -inf (masked actions) to the most negative float so 0 * log(0) terms stay 0, not NaN,
    # in entropy and in their gradients.
    return torch.log_softmax(logits, -1).clamp_min(torch.finfo(logits.dtype).min)


class Categorical(NamedTuple):
    """Distribution over ``n`` classes given unnormalized ``logits`` [*B, n]; samples are int64 [*B].

    Example:
        >>> d = frl.nn.Categorical(torch.zeros(5, 3))
        >>> d.sample(frl.random.key(0)).shape, d.entropy().shape
        (torch.Size([5]), torch.Size([5]))
    """

    logits: torch.Tensor

    @property
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, -1)

    def sample(self, key: torch.Tensor, sample_shape: Sequence[int] = ()) -> torch.Tensor:
        """Class indices (Gumbel-max), int64 [*sample_shape, *B]. Not differentiable."""
        return fr.categorical(key, self.logits, tuple(sample_shape) + tuple(self.logits.shape[:-1]))

    def log_prob(self, index: torch.Tensor) -> torch.Tensor:
        """Log-probability of class ``index`` (int64 [*B], or float holding integers): [*B]."""
        idx = index.long().unsqueeze(-1)
        lsm = torch.log_softmax(self.logits, -1)  # a masked (-inf) class keeps log-prob -inf
        lsm = lsm.expand(*torch.broadcast_shapes(idx.shape[:-1], lsm.shape[:-1]), lsm.shape[-1])
        return lsm.gather(-1, idx.expand(*lsm.shape[:-1], 1)).squeeze(-1)

    def sample_and_log_prob(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.sample(key)
        return index, self.log_prob(index)

    def entropy(self) -> torch.Tensor:
        lsm = _log_softmax(self.logits)
        return -(lsm.exp() * lsm).sum(-1)

    @property
    def mode(self) -> torch.Tensor:
        return torch.argmax(self.logits, -1)


class OneHotCategorical(NamedTuple):
    """`Categorical` whose samples are one-hot vectors [*B, n] in the logits' dtype (TorchRL's "one_hot")."""

    logits: torch.Tensor

    @property
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, -1)

    def _one_hot(self, index: torch.Tensor) -> torch.Tensor:
        return F.one_hot(index, self.logits.shape[-1]).to(self.logits.dtype)

    def sample(self, key: torch.Tensor, sample_shape: Sequence[int] = ()) -> torch.Tensor:
        """One-hot draws [*sample_shape, *B, n]. Not differentiable."""
        return self._one_hot(Categorical(self.logits).sample(key, sample_shape))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probability of one-hot ``x`` [*B, n]: [*B]."""
        # The clamped form keeps 0 * log(0) = 0 for the classes x does not pick.
        return (x * _log_softmax(self.logits)).sum(-1)

    def sample_and_log_prob(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.sample(key)
        return x, self.log_prob(x)

    def entropy(self) -> torch.Tensor:
        return Categorical(self.logits).entropy()

    @property
    def mode(self) -> torch.Tensor:
        return self._one_hot(torch.argmax(self.logits, -1))
