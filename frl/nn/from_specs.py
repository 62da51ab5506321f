"""Actors and critics sized from an environment's specs: the distribution and widths follow the env."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import torch
from tensordict import NestedKey, TensorDict
from torch import nn

from frl import random as fr
from frl._checks import fail
from frl.envs.specs import Bounded, Categorical, Composite, OneHot, Spec, Unbounded
from frl.nn.actor import (
    ProbabilisticActor,
    deterministic_actor,
    probabilistic_actor,
    q_value_actor,
    q_value_operator,
    value_operator,
)
from frl.nn.convnet import convnet
from frl.nn.from_torch import from_torch
from frl.nn.mlp import mlp
from frl.nn.module import Module

__all__ = ["make_actor", "make_critic", "make_q", "observation_key"]


def _specs(fn: str, env: Any) -> tuple[Spec, Spec]:
    obs, act = getattr(env, "observation_spec", None), getattr(env, "action_spec", None)
    if not isinstance(obs, Spec) or not isinstance(act, Spec):
        fail(fn, f"env ({type(env).__name__}) has no frl specs; expected an object with "
                 "observation_spec and action_spec (an frl env, GymEnv or DMControlEnv)", TypeError)
    return obs, act


def observation_key(env: Any) -> tuple[NestedKey, Spec]:
    """The key a network reads and its spec: "pixels" where the env has pixels, else "observation"."""
    return _observation("frl.nn.observation_key", env)


def _observation(fn: str, env: Any) -> tuple[NestedKey, Spec]:
    obs, _ = _specs(fn, env)
    if isinstance(obs, Composite):
        for k in ("pixels", "observation"):
            if k in obs:
                return k, obs[k]
        fail(fn, f"observation_spec has keys {sorted(obs.keys())}, expected 'pixels' or 'observation'")
    return "observation", obs


def _encoder(fn: str, spec: Spec) -> tuple[Module | None, int]:
    """A convnet for image observations [C, H, W] (with its feature count), or None and the vector size."""
    shape = tuple(spec.shape)
    if len(shape) == 1:
        return None, shape[0]
    if len(shape) == 3:
        if spec.dtype == torch.uint8:
            fail(fn, f"the observation is a uint8 image of shape {list(shape)}; networks read float images "
                     "[C, H, W]: add frl.envs.transforms.ToTensorImage to the env first")
        enc = convnet(shape[0])
        # The flattened size depends on H and W through each stride: read it off a zero image.
        features = enc.apply(enc.init(fr.key(0)), torch.zeros(1, *shape)).shape[-1]
        return enc, int(features)
    fail(fn, f"observation has shape {list(shape)}, expected a vector [D] or an image [C, H, W] (or pass net)")


def _network(fn: str, spec: Spec, out_features: int, extra_in: int, net: Any, num_cells: Sequence[int],
             activation: str | Callable, init: str, last_gain: float | None) -> Module:
    if net is not None:
        if isinstance(net, nn.Module):
            wrapped = from_torch(net)
            if wrapped.returns_state:
                fail(fn, f"net ({type(net).__name__}) has buffers that it returns as new state; wrap it as "
                         "frl.nn.from_torch(net, return_state=False) to use it in an actor or critic")
            return wrapped
        if not isinstance(net, Module):
            fail(fn, f"net is a {type(net).__name__}, expected an frl Module or a torch.nn.Module", TypeError)
        return net
    enc, features = _encoder(fn, spec)
    head = mlp(features + extra_in, out_features, num_cells, activation=activation, init=init,
               last_gain=last_gain)
    if enc is None:
        return head
    if extra_in:
        fail(fn, "a Q-value of image observations and continuous actions needs a net that reads both; pass net")
    encoder = enc

    def init_fn(key: torch.Tensor) -> TensorDict:
        k_enc, k_head = fr.split(key, 2)
        return TensorDict(encoder=encoder.init(k_enc), head=head.init(k_head))

    def apply(params: TensorDict, x: torch.Tensor) -> torch.Tensor:
        return head.apply(params["head"], encoder.apply(params["encoder"], x))

    return Module(init_fn, apply)


# Typed so that a checker knows the common case is a `ProbabilisticActor` (with ``get_dist``).
@overload
def make_actor(env: Any, num_cells: Sequence[int] = ..., activation: str | Callable = ..., net: Any = ..., *,
               distribution: Literal["deterministic"], init: str = ..., last_gain: float | None = ...,
               in_key: NestedKey | None = ...) -> Module: ...
@overload
def make_actor(env: Any, num_cells: Sequence[int] = ..., activation: str | Callable = ..., net: Any = ...,
               distribution: str | None = ..., init: str = ..., last_gain: float | None = ...,
               in_key: NestedKey | None = ...) -> ProbabilisticActor: ...
def make_actor(env: Any, num_cells: Sequence[int] = (64, 64), activation: str | Callable = "tanh",
               net: Any = None, distribution: str | None = None, init: str = "torch",
               last_gain: float | None = None, in_key: NestedKey | None = None) -> ProbabilisticActor | Module:
    """A policy whose distribution and output size follow the env's action spec.

    ============================  ======================  ===========================
    action spec                   distribution            network output
    ============================  ======================  ===========================
    ``Categorical(n)``            "categorical"           ``n`` logits
    ``OneHot(n)``                 "one_hot_categorical"   ``n`` logits
    ``Bounded(low, high, (D,))``  "tanh_normal" on bounds ``2 D`` (loc, scale)
    ``Unbounded((D,))``           "normal"                ``2 D`` (loc, scale)
    ============================  ======================  ===========================

    ``distribution="deterministic"`` gives a `deterministic_actor` (squashed into the bounds of a
    `Bounded` spec), for DDPG / TD3. The network is ``net`` if given (an frl `Module` or a
    ``torch.nn.Module``, mapping the observation to the output size above), else an `mlp` of
    ``num_cells``, after a `convnet` for image observations [C, H, W] ("pixels").

    Args:
        env: an env with ``observation_spec`` and ``action_spec``.
        num_cells: hidden widths of the mlp.
        activation: the mlp's activation.
        net: a network to use instead of the mlp.
        distribution: override the choice above (any of `probabilistic_actor`'s, or "deterministic").
        init: the mlp's init ("torch" or "orthogonal").
        last_gain: orthogonal init's gain of the output layer (CleanRL uses 0.01 for a policy).
        in_key: the observation key; defaults to "pixels" where the env has pixels, else "observation".

    Returns:
        `ProbabilisticActor` (or, for "deterministic", a `Module` over TensorDicts).

    Example:
        >>> actor = frl.nn.make_actor(frl.envs.Pendulum())
        >>> td = TensorDict(observation=torch.zeros(8, 3), batch_size=[8])
        >>> actor.apply(actor.init(frl.random.key(0)), td, frl.random.key(1))["action"].shape
        torch.Size([8, 1])
    """
    fn = "frl.nn.make_actor"
    default_key, obs_spec = _observation(fn, env)
    # The operators take nested keys too; their defaults are typed as plain strings.
    key: Any = default_key if in_key is None else in_key
    act = _specs(fn, env)[1]
    shape = tuple(act.shape or ())
    if isinstance(act, Categorical) and shape == ():
        choice, out = "categorical", act.n
    elif isinstance(act, OneHot) and len(shape) == 1:
        choice, out = "one_hot_categorical", act.n
    elif isinstance(act, Bounded) and act.dtype.is_floating_point and len(shape) == 1:
        choice, out = "tanh_normal", 2 * shape[0]
    elif isinstance(act, Unbounded) and act.dtype.is_floating_point and len(shape) == 1:
        choice, out = "normal", 2 * shape[0]
    else:
        fail(fn, f"action_spec {act!r} is not supported; expected Categorical(n), OneHot(n), or a Bounded / "
                 "Unbounded float vector [D]")
    continuous = isinstance(act, (Bounded, Unbounded))
    allowed = ("tanh_normal", "normal", "deterministic") if continuous else ("categorical", "one_hot_categorical")
    if distribution is not None and distribution not in allowed:
        fail(fn, f"distribution={distribution!r} does not fit action_spec {act!r}; expected one of "
                 f"{', '.join(allowed)}")
    choice = distribution or choice
    if choice == "deterministic":
        low, high = (act.low, act.high) if isinstance(act, Bounded) else (None, None)
        network = _network(fn, obs_spec, shape[0], 0, net, num_cells, activation, init, last_gain)
        return deterministic_actor(network, low, high, in_key=key)
    network = _network(fn, obs_spec, out, 0, net, num_cells, activation, init, last_gain)
    low, high = (act.low, act.high) if choice == "tanh_normal" and isinstance(act, Bounded) else (None, None)
    return probabilistic_actor(network, choice, low, high, in_key=key)


def make_critic(env: Any, num_cells: Sequence[int] = (64, 64), activation: str | Callable = "tanh",
                net: Any = None, init: str = "torch", last_gain: float | None = None,
                in_key: NestedKey | None = None) -> Module:
    """A state-value critic V(s) ("state_value" [*B, 1]) for the env's observations.

    Args:
        env, num_cells, activation, net, init, last_gain, in_key: as in `make_actor`; ``net`` maps the
            observation to one number.

    Returns:
        `value_operator`: ``apply(params, td) -> td`` with "state_value".

    Example:
        >>> critic = frl.nn.make_critic(frl.envs.CartPole())
        >>> td = TensorDict(observation=torch.zeros(8, 4), batch_size=[8])
        >>> critic.apply(critic.init(frl.random.key(0)), td)["state_value"].shape
        torch.Size([8, 1])
    """
    fn = "frl.nn.make_critic"
    default_key, obs_spec = _observation(fn, env)
    key: Any = default_key if in_key is None else in_key
    network = _network(fn, obs_spec, 1, 0, net, num_cells, activation, init, last_gain)
    return value_operator(network, in_key=key)


def make_q(env: Any, num_cells: Sequence[int] = (64, 64), activation: str | Callable = "relu",
           net: Any = None, init: str = "torch", last_gain: float | None = None,
           in_key: NestedKey | None = None) -> Module:
    """A Q-function for the env's actions: one value per action (discrete) or Q(s, a) (continuous).

    For ``Categorical(n)`` / ``OneHot(n)`` actions it is a `q_value_actor` (the network outputs ``n``
    values; "action_value", the greedy "action" in the spec's layout, "chosen_action_value"); for a
    continuous ``[D]`` action, a `q_value_operator` over the concatenated observation and action
    ("state_action_value" [*B, 1]).

    Args:
        env, num_cells, activation, net, init, last_gain, in_key: as in `make_actor` (relu by default,
            as DQN, SAC and TD3).

    Returns:
        `Module` over TensorDicts.

    Example:
        >>> q = frl.nn.make_q(frl.envs.CartPole())
        >>> td = TensorDict(observation=torch.zeros(8, 4), batch_size=[8])
        >>> q.apply(q.init(frl.random.key(0)), td)["action_value"].shape
        torch.Size([8, 2])
    """
    fn = "frl.nn.make_q"
    default_key, obs_spec = _observation(fn, env)
    key: Any = default_key if in_key is None else in_key
    act = _specs(fn, env)[1]
    shape = tuple(act.shape or ())
    if isinstance(act, (Categorical, OneHot)):
        space = "categorical" if isinstance(act, Categorical) else "one_hot"
        network = _network(fn, obs_spec, act.n, 0, net, num_cells, activation, init, last_gain)
        return q_value_actor(network, in_key=key, action_space=space)
    if isinstance(act, (Bounded, Unbounded)) and act.dtype.is_floating_point and len(shape) == 1:
        network = _network(fn, obs_spec, 1, shape[0], net, num_cells, activation, init, last_gain)
        return q_value_operator(network, in_keys=(key, "action"))
    fail(fn, f"action_spec {act!r} is not supported; expected Categorical(n), OneHot(n) or a float vector [D]")
