"""Actors and critics over TensorDicts: probabilistic policies, state values and Q-values.

Each factory wraps a network `Module` into an operator that reads its input key(s) from a
TensorDict and returns a *new* TensorDict (a shallow copy of the input plus the output keys), with
TorchRL's key names, so the results drop into TorchRL-shaped losses and buffers. The input is never
modified.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from tensordict import TensorDict, TensorDictBase

from frl._checks import check_keys, fail
from frl.nn.distributions import Categorical, IndependentNormal, OneHotCategorical, TanhNormal
from frl.nn.module import Module

__all__ = [
    "ProbabilisticActor",
    "probabilistic_actor",
    "deterministic_actor",
    "normal_params",
    "value_operator",
    "q_value_operator",
    "q_value_actor",
]

_DISTRIBUTIONS = ("tanh_normal", "normal", "categorical", "one_hot_categorical")


class ProbabilisticActor(NamedTuple):
    """A stochastic policy as pure functions. See `probabilistic_actor`.

    Attributes:
        init: ``(key) -> params`` (the network's parameters).
        apply: ``(params, td, key=None, deterministic=False) -> td`` with the distribution's parameters,
            "action" and "action_log_prob".
        get_dist: ``(params, td) -> distribution`` whose ``log_prob(action)`` and ``entropy()`` both
            have shape [*B] (summed over action dimensions), for losses that re-evaluate stored actions.
    """

    init: Callable[[torch.Tensor], TensorDict]
    apply: Callable[..., TensorDictBase]
    get_dist: Callable[[TensorDict, TensorDictBase], Any]


def _inv_softplus(x: float) -> float:
    # TorchRL / tensordict clamp expm1 at 1e-6 so a bias at or below min_val stays finite.
    return math.log(max(math.expm1(x), 1e-6))


def _scale_mapping(fn: str, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """tensordict's ``mappings``: "biased_softplus_{bias}[_{min_val}]", "softplus", "exp", "relu", "none"."""
    simple = {"softplus": F.softplus, "exp": torch.exp, "relu": torch.relu, "none": lambda x: x}
    if name in simple:
        return simple[name]
    if name.startswith("biased_softplus"):
        try:
            values = [float(part) for part in name.split("_")[2:]]
        except ValueError:
            values = None
        if values is not None and len(values) <= 2:
            bias = values[0] if values else 1.0
            min_val = values[1] if len(values) > 1 else 0.01
            # softplus(x + b) + min_val equals ``bias`` at x = 0 and never drops below min_val.
            shift = _inv_softplus(bias - min_val)
            return lambda x: F.softplus(x + shift) + min_val
    fail(fn, f"unknown scale_mapping {name!r}; expected 'biased_softplus_{{bias}}', "
             "'biased_softplus_{bias}_{min_val}', 'softplus', 'exp', 'relu' or 'none'")


def normal_params(x: torch.Tensor, scale_mapping: str = "biased_softplus_1.0",
                  scale_lb: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a network output [*B, 2D] into ``loc`` [*B, D] and a positive ``scale`` [*B, D].

    The functional form of tensordict's / TorchRL's ``NormalParamExtractor``: the first half is the
    location, the second half goes through ``scale_mapping`` and is clamped below at ``scale_lb``.
    With the default "biased_softplus_1.0" a zero output gives scale 1 and the scale stays above 0.01.

    Example:
        >>> loc, scale = frl.nn.normal_params(torch.zeros(4, 6))
        >>> loc.shape, scale[0, 0].item()
        (torch.Size([4, 3]), 1.0)
    """
    mapping = _scale_mapping("frl.nn.normal_params", scale_mapping)
    return _split_normal(x, mapping, scale_lb)


def _split_normal(x, mapping, scale_lb):
    loc, raw = x.chunk(2, -1)
    # chunk gives a strided view; a contiguous loc makes a batch that went through a buffer (and so
    # was copied) match a fresh one, so a compiled loss does not recompile on a stride guard.
    return loc.contiguous(), mapping(raw).clamp_min(scale_lb)


def _bound(value):
    # Floats stay Python constants (free under compile); tensors follow loc's dtype and device at apply.
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    t = torch.as_tensor(value)
    return t if t.is_floating_point() else t.to(torch.float32)


def probabilistic_actor(net: Module, distribution: str = "tanh_normal", action_low=None, action_high=None,
                        scale_mapping: str = "biased_softplus_1.0", scale_lb: float = 1e-4,
                        in_key="observation") -> ProbabilisticActor:
    """A stochastic policy: network -> distribution parameters -> action and its log-probability.

    The network's output on ``td[in_key]`` is read as ``2 * D`` numbers, location and raw scale
    (split by `normal_params`, like TorchRL's ``NormalParamExtractor``), for "tanh_normal" and
    "normal", or as ``n`` logits for "categorical" and "one_hot_categorical".

    Args:
        net: the network `Module`; its ``apply(params, obs)`` gives [*B, 2D] or [*B, n].
        distribution: "tanh_normal" (`TanhNormal` on [action_low, action_high]), "normal"
            (`IndependentNormal`, unbounded), "categorical" (int64 actions [*B]) or
            "one_hot_categorical" (one-hot actions [*B, n]).
        action_low: lower action bound of "tanh_normal" (float or tensor [D]); default -1.
        action_high: upper action bound of "tanh_normal"; default 1.
        scale_mapping: how the raw scale becomes positive (see `normal_params`).
        scale_lb: lower bound of the scale.
        in_key: the observation key (a string or a nested tuple key).

    Returns:
        `ProbabilisticActor` ``(init, apply, get_dist)``:

        * ``init(key) -> params``: the network's parameters.
        * ``apply(params, td [*B], key=None, deterministic=False) -> td``: a shallow copy of ``td``
          plus "loc" and "scale" [*B, D] (or "logits" [*B, n]), "action" and "action_log_prob" [*B].
          The log-prob is summed over the action dimensions (TorchRL's ClipPPOLoss convention) and
          computed from the action, as ``get_dist(params, out).log_prob(out["action"])`` recomputes
          it (TorchRL does the same). SAC-style code that wants the log-prob of the pre-tanh draw
          can call ``get_dist(params, td).sample_and_log_prob(key)`` instead.
          A key is needed unless ``deterministic=True``, which takes the mode (the squashed ``loc``,
          or the arg-max class) and reports its log-prob.
        * ``get_dist(params, td) -> distribution``: for a loss to re-evaluate stored actions:
          ``dist.log_prob(td["action"])`` [*B] and ``dist.entropy()`` [*B].

    Example:
        >>> actor = frl.nn.probabilistic_actor(frl.nn.mlp(3, 2 * 1), action_low=-2.0, action_high=2.0)
        >>> params = actor.init(frl.random.key(0))
        >>> td = TensorDict(observation=torch.zeros(8, 3), batch_size=[8])
        >>> out = actor.apply(params, td, frl.random.key(1))
        >>> out["action"].shape, out["action_log_prob"].shape
        (torch.Size([8, 1]), torch.Size([8]))

    References:
        Haarnoja et al., 2018, "Soft Actor-Critic", appendix C (the tanh change of variables).
    """
    fn = "frl.nn.probabilistic_actor"
    if distribution not in _DISTRIBUTIONS:
        fail(fn, f"unknown distribution {distribution!r}; expected one of {', '.join(_DISTRIBUTIONS)}")
    low, high = _bound(action_low), _bound(action_high)
    if distribution != "tanh_normal" and (low is not None or high is not None):
        fail(fn, f"action_low / action_high apply only to distribution='tanh_normal', not {distribution!r}")
    # The tanh-Gaussian's box, [-1, 1] by default (the other distributions have no bounds: checked above).
    tanh_low: float | torch.Tensor = -1.0 if low is None else low
    tanh_high: float | torch.Tensor = 1.0 if high is None else high
    if distribution == "tanh_normal":
        if not bool(torch.all(torch.as_tensor(tanh_high) > torch.as_tensor(tanh_low))):
            fail(fn, f"action_high must exceed action_low everywhere; got {action_low} and {action_high}")
    mapping = _scale_mapping(fn, scale_mapping) if distribution in ("tanh_normal", "normal") else None
    continuous = mapping is not None
    apply_name = fn + ".apply"

    def _forward(params, td, name):
        check_keys(name, td, [in_key])
        out = net.apply(params, td.get(in_key))
        if not continuous:
            return {"logits": out}
        if out.shape[-1] % 2:
            fail(name, f"network output has last dimension {out.shape[-1]}, expected an even number "
                       "(loc and scale for each action dimension)")
        loc, scale = _split_normal(out, mapping, scale_lb)
        return {"loc": loc, "scale": scale}

    def _dist(dparams):
        if distribution == "tanh_normal":
            lo = tanh_low.to(dparams["loc"]) if isinstance(tanh_low, torch.Tensor) else tanh_low
            hi = tanh_high.to(dparams["loc"]) if isinstance(tanh_high, torch.Tensor) else tanh_high
            return TanhNormal(dparams["loc"], dparams["scale"], lo, hi)
        if distribution == "normal":
            return IndependentNormal(dparams["loc"], dparams["scale"])
        if distribution == "categorical":
            return Categorical(dparams["logits"])
        return OneHotCategorical(dparams["logits"])

    def apply(params: TensorDict, td: TensorDictBase, key: torch.Tensor | None = None,
              deterministic: bool = False) -> TensorDictBase:
        dparams = _forward(params, td, apply_name)
        dist = _dist(dparams)
        if deterministic:
            action = dist.mode
            log_prob = dist.log_prob(action)
        else:
            if key is None:
                fail(apply_name, "key is None; pass an frl.random key, or deterministic=True for the mode")
            action = dist.sample(key)
            # From the action, not the pre-tanh draw: a loss that re-evaluates the stored action with
            # get_dist gets exactly this number, so PPO's first-epoch ratio is exactly 1 even where a
            # float32 tanh has saturated. (The two agree to rounding elsewhere.)
            log_prob = dist.log_prob(action)
        out = td.copy()
        for k, v in dparams.items():
            out.set(k, v)
        out.set("action", action)
        out.set("action_log_prob", log_prob)
        return out

    def get_dist(params: TensorDict, td: TensorDictBase):
        return _dist(_forward(params, td, fn + ".get_dist"))

    return ProbabilisticActor(net.init, apply, get_dist)


def deterministic_actor(net: Module, action_low=None, action_high=None, in_key="observation") -> Module:
    """A deterministic policy (DDPG, TD3): "action" = ``net(td[in_key])``, squashed into bounds if given.

    With ``action_low`` and ``action_high`` the output goes through
    ``low + (high - low) * (tanh(x) + 1) / 2`` (TorchRL's ``Actor`` followed by ``TanhModule``);
    without them it is used as is. Add exploration noise with `gaussian_noise` or `ou_noise`.

    Returns:
        `Module` with ``init(key) -> params`` and ``apply(params, td [*B]) -> td`` with "action" [*B, D].

    Example:
        >>> pi = frl.nn.deterministic_actor(frl.nn.mlp(3, 2), action_low=-1.0, action_high=1.0)
        >>> td = TensorDict(observation=torch.zeros(8, 3), batch_size=[8])
        >>> pi.apply(pi.init(frl.random.key(0)), td)["action"].shape
        torch.Size([8, 2])
    """
    fn = "frl.nn.deterministic_actor"
    low, high = _bound(action_low), _bound(action_high)
    if (low is None) != (high is None):
        fail(fn, "give both action_low and action_high, or neither")
    bounds = None if low is None or high is None else (low, high)
    if bounds is not None and not bool(torch.all(torch.as_tensor(bounds[1]) > torch.as_tensor(bounds[0]))):
        fail(fn, f"action_high must exceed action_low everywhere; got {action_low} and {action_high}")
    name = fn + ".apply"

    def apply(params: TensorDict, td: TensorDictBase) -> TensorDictBase:
        check_keys(name, td, [in_key])
        action = net.apply(params, td.get(in_key))
        if bounds is not None:
            lo = bounds[0].to(action) if isinstance(bounds[0], torch.Tensor) else bounds[0]
            hi = bounds[1].to(action) if isinstance(bounds[1], torch.Tensor) else bounds[1]
            action = (hi + lo) / 2 + (hi - lo) / 2 * torch.tanh(action)
        out = td.copy()
        out.set("action", action)
        return out

    return Module(net.init, apply)


def _check_last_dim(fn: str, what: str, x: torch.Tensor, expected: int) -> None:
    if x.shape[-1] != expected:
        fail(fn, f"{what} has last dimension {x.shape[-1]}, expected {expected}")


def value_operator(net: Module, in_key="observation", out_key="state_value") -> Module:
    """A state-value critic: writes ``net(td[in_key])`` [*B, 1] to ``out_key`` of a copy of ``td``.

    Args:
        net: a `Module` whose output has last dimension 1.
        in_key: the observation key.
        out_key: TorchRL's "state_value" by default.

    Returns:
        `Module` with ``init(key) -> params`` and ``apply(params, td [*B]) -> td``.

    Example:
        >>> critic = frl.nn.value_operator(frl.nn.mlp(3, 1))
        >>> td = TensorDict(observation=torch.zeros(8, 3), batch_size=[8])
        >>> critic.apply(critic.init(frl.random.key(0)), td)["state_value"].shape
        torch.Size([8, 1])
    """
    name = "frl.nn.value_operator.apply"

    def apply(params: TensorDict, td: TensorDictBase) -> TensorDictBase:
        check_keys(name, td, [in_key])
        value = net.apply(params, td.get(in_key))
        _check_last_dim(name, "network output", value, 1)
        out = td.copy()
        out.set(out_key, value)
        return out

    return Module(net.init, apply)


def q_value_operator(net: Module, in_keys: Sequence = ("observation", "action"),
                     out_key="state_action_value") -> Module:
    """A Q-value critic for continuous actions: ``net(cat(td[k] for k in in_keys))`` [*B, 1].

    The inputs are concatenated along their last dimension in the order of ``in_keys``.

    Returns:
        `Module` with ``init(key) -> params`` and ``apply(params, td [*B]) -> td`` with ``out_key``
        (TorchRL's "state_action_value") [*B, 1].

    Example:
        >>> q = frl.nn.q_value_operator(frl.nn.mlp(3 + 1, 1))
        >>> td = TensorDict(observation=torch.zeros(8, 3), action=torch.zeros(8, 1), batch_size=[8])
        >>> q.apply(q.init(frl.random.key(0)), td)["state_action_value"].shape
        torch.Size([8, 1])
    """
    name = "frl.nn.q_value_operator.apply"
    in_keys = [in_keys] if isinstance(in_keys, str) else list(in_keys)

    def apply(params: TensorDict, td: TensorDictBase) -> TensorDictBase:
        check_keys(name, td, in_keys)
        x = torch.cat([td.get(k) for k in in_keys], -1)
        value = net.apply(params, x)
        _check_last_dim(name, "network output", value, 1)
        out = td.copy()
        out.set(out_key, value)
        return out

    return Module(net.init, apply)


def q_value_actor(net: Module, in_key="observation", action_space: str = "categorical") -> Module:
    """A greedy discrete-action actor from Q-values, like TorchRL's ``QValueActor``.

    Writes "action_value" [*B, n] (the network's output), "action" (the arg-max: int64 [*B] for
    ``action_space="categorical"``, a one-hot [*B, n] for "one_hot") and "chosen_action_value"
    [*B, 1]. Pair it with `epsilon_greedy` to explore.

    Example:
        >>> qa = frl.nn.q_value_actor(frl.nn.mlp(4, 2))
        >>> td = TensorDict(observation=torch.zeros(8, 4), batch_size=[8])
        >>> qa.apply(qa.init(frl.random.key(0)), td)["action"].shape
        torch.Size([8])
    """
    name = "frl.nn.q_value_actor.apply"
    if action_space not in ("categorical", "one_hot"):
        fail("frl.nn.q_value_actor", f"unknown action_space {action_space!r}; expected 'categorical' or 'one_hot'")

    def apply(params: TensorDict, td: TensorDictBase) -> TensorDictBase:
        check_keys(name, td, [in_key])
        q = net.apply(params, td.get(in_key))
        index = torch.argmax(q, -1)
        out = td.copy()
        out.set("action_value", q)
        if action_space == "categorical":
            out.set("action", index)
        else:
            out.set("action", F.one_hot(index, q.shape[-1]).to(q.dtype))
        out.set("chosen_action_value", q.gather(-1, index.unsqueeze(-1)))
        return out

    return Module(net.init, apply)
