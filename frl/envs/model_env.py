"""Model-based envs: a stateless env whose dynamics, reward and termination are (learned) functions.

`ModelEnv` turns ``dynamics_fn(params, state, action) -> next_state`` (a learned model, or known
physics), ``reward_fn`` and ``done_fn`` into an env with frl's protocol (``reset`` / ``step`` /
``auto_reset`` / specs, TorchRL's TensorDict layout), so that `frl.envs.rollout`,
`frl.envs.step_and_reset` and `frl.envs.check_env` run imagination rollouts exactly as they run
real ones.

Where the params travel. The model's params are an *argument*, never hidden state:

* ``env.step(td, params)`` (and ``reset`` / ``auto_reset``) take them explicitly;
* ``env.bind(params)`` returns the same env with ``params`` bound, for the functions that call
  ``env.step(td)`` themselves (`rollout`, `step_and_reset`, `auto_reset`, `check_env`).

Binding happens *inside* the function that is vmapped or compiled, e.g.
``torch.vmap(lambda p, td: rollout(env.bind(p), policy, td, H))(ensemble, td)``: the params are then
inputs of the traced function, so vmap maps over an ensemble of models (stacked params, leading
dimension) and torch.compile neither bakes them in as constants nor recompiles when they change.
Params inside the TensorDict would be the other choice, but a TensorDict entry must carry the env
batch ``[*B]`` in front, which would copy (or broadcast) every weight per env and turn each model
evaluation into a batched matmul over ``B`` weight copies; as an argument the weights stay shared.

Layout. The model's state travels in the TensorDict under ``"observation"`` when the model acts on
observations (the usual case, e.g. PETS / MBPO), or under ``"state"`` with an ``observe_fn`` mapping
it to ``"observation"`` (a latent model, or true physics with a state other than the observation).
``"step_count"`` [*B, 1] counts steps for the horizon; ``"key"`` [*B, 2] is each env's `frl.random`
key (for `random_action` and `init_fn`); ``"done"`` / ``"terminated"`` / ``"truncated"`` [*B, 1] bool
follow TorchRL: ``terminated`` from ``done_fn``, ``truncated`` when ``step_count`` reaches
``max_episode_steps`` (the imagination horizon), ``done = terminated | truncated``.

A stochastic model (``stochastic=True``) draws from a key that `step` splits off each env's
``"key"``, so an imagined trajectory is reproducible from its start TensorDict.

Reset for imagination starts from given states (``reset(key, start=observations)``, e.g. a batch of
real observations from a replay buffer) rather than from an init distribution; an ``init_fn`` may be
given as well, for envs that should also reset like ordinary ones. Without ``init_fn``, auto-reset
restarts a done env from the state its episode started from (kept under ``"start"``).

References:
    Chua et al., "Deep Reinforcement Learning in a Handful of Trials using Probabilistic Dynamics
    Models" (PETS), NeurIPS 2018. Janner et al., "When to Trust Your Model: Model-Based Policy
    Optimization" (MBPO), NeurIPS 2019. TorchRL, ``torchrl.envs.model_based.ModelBasedEnvBase``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_dtype, check_floating, check_keys, check_shape, check_values, fail, fmt_shape
from frl.envs.auto_reset import where_td
from frl.envs.env import env_keys, map_keys, reset_key
from frl.envs.specs import Composite, Spec, Unbounded, done_flags_spec
from frl.envs.step_mdp import step_mdp

__all__ = ["ModelEnv", "ModelEnvParams"]


@dataclass(frozen=True)
class ModelEnvParams:
    """The constants of a `ModelEnv` (``env.params``, as for every frl env).

    Attributes:
        max_episode_steps: the horizon: ``truncated`` is set when ``step_count`` reaches it;
            ``None`` never truncates.
    """

    max_episode_steps: int | None = None


class ModelEnv:
    """A stateless env from a dynamics function, a reward function and an optional done function.

    Args:
        dynamics_fn: ``(params, state [*B, *S], action [*B, *A]) -> next_state [*B, *S]``.
        reward_fn: ``(params, state, action, next_state) -> reward [*B] or [*B, 1]``. The reward of
            the transition ``state -> next_state`` (gymnasium's Pendulum computes it from ``state``).
        done_fn: ``(params, state, action, next_state) -> terminated [*B] or [*B, 1]`` bool; ``None``
            never terminates.
        observation_spec: the spec of ``"observation"`` (one env).
        action_spec: the spec of ``"action"`` (one env). Actions outside it raise (a value check,
            see `frl.set_value_checks`).
        observe_fn: ``(params, state) -> observation``; with it the model's state travels under
            ``"state"`` (shaped as ``state_spec``); without it the state *is* the observation.
        state_spec: the spec of ``"state"``; required with ``observe_fn``.
        init_fn: ``(key [2]) -> state [*S]``, the start distribution of one env, as `frl.envs.Env`'s
            ``_init_state``; optional (imagination starts from given states, see `reset`).
        max_episode_steps: the imagination horizon (``truncated`` at this step count); ``None``: none.
        stochastic: ``dynamics_fn`` samples: it takes a fourth argument, ``key`` [*B, 2] (one
            `frl.random` key per env, split off each env's ``"key"``, which then advances), e.g. to
            draw from a probabilistic model's predicted Gaussian (PETS, MBPO).
        reward_spec: defaults to ``Unbounded((1,), observation_spec.dtype)``.
        name: used in error messages (``frl.envs.<name>.step: ...``).
        params: model params to bind at construction (see `bind`). ``None`` means unbound; a
            model that reads no params (known physics) binds an empty tuple ``()``.

    Example:
        >>> net = frl.nn.mlp(3 + 1, 3)                                  # predicts the state delta
        >>> env = frl.envs.ModelEnv(
        ...     lambda p, s, a: s + net.apply(p, torch.cat([s, a], -1)),
        ...     lambda p, s, a, s2: -(s2 ** 2).sum(-1),
        ...     observation_spec=frl.envs.Unbounded((3,)), action_spec=frl.envs.Bounded(-2.0, 2.0, (1,)),
        ...     max_episode_steps=15)
        >>> ensemble = torch.vmap(net.init)(frl.random.split(frl.random.key(0), 5))   # 5 models
        >>> td = env.reset(frl.random.key(1), start=torch.zeros(4096, 3))              # from data
        >>> imagine = lambda p, td: frl.envs.rollout(env.bind(p), None, td, 15, auto_reset=False)
        >>> traj = torch.vmap(imagine, in_dims=(0, None))(ensemble, td)
        >>> traj["next", "reward"].shape
        torch.Size([5, 4096, 15, 1])
    """

    def __init__(self, dynamics_fn: Callable, reward_fn: Callable, done_fn: Callable | None = None, *,
                 observation_spec: Spec, action_spec: Spec, observe_fn: Callable | None = None,
                 state_spec: Spec | None = None, init_fn: Callable | None = None,
                 max_episode_steps: int | None = None, stochastic: bool = False, reward_spec: Spec | None = None,
                 name: str = "ModelEnv", params: Any = None):
        fn = f"frl.envs.{name}"
        for arg, f in (("dynamics_fn", dynamics_fn), ("reward_fn", reward_fn)):
            if not callable(f):
                fail(fn, f"{arg} must be callable, got {type(f).__name__}", TypeError)
        for arg, f in (("done_fn", done_fn), ("observe_fn", observe_fn), ("init_fn", init_fn)):
            if f is not None and not callable(f):
                fail(fn, f"{arg} must be callable or None, got {type(f).__name__}", TypeError)
        for arg, s in (("observation_spec", observation_spec), ("action_spec", action_spec),
                       ("state_spec", state_spec), ("reward_spec", reward_spec)):
            if s is not None and not isinstance(s, Spec):
                fail(fn, f"{arg} must be an frl.envs spec (Bounded, Unbounded, ...), got {type(s).__name__}",
                     TypeError)
        if observe_fn is not None and state_spec is None:
            fail(fn, "observe_fn needs state_spec (the spec of the model's state)", TypeError)
        if observe_fn is None and state_spec is not None:
            fail(fn, "state_spec is only used with observe_fn (without it the state is the observation)",
                 TypeError)
        if max_episode_steps is not None and (not isinstance(max_episode_steps, int) or max_episode_steps < 1):
            fail(fn, f"max_episode_steps must be a positive int or None, got {max_episode_steps!r}")
        self.dynamics_fn, self.reward_fn, self.done_fn = dynamics_fn, reward_fn, done_fn
        self.stochastic = bool(stochastic)
        self.observe_fn, self.init_fn = observe_fn, init_fn
        self.observation_spec, self.action_spec = observation_spec, action_spec
        self.state_spec = observation_spec if state_spec is None else state_spec
        self._reward_spec = reward_spec
        self.params = ModelEnvParams(max_episode_steps)
        self.name = name
        self.model_params = params
        # The key the model's state travels under.
        self.state_key = "observation" if observe_fn is None else "state"

    # ---- specs, as every frl env ------------------------------------------------------------------

    @property
    def reward_spec(self) -> Spec:
        if self._reward_spec is not None:
            return self._reward_spec
        return Unbounded((1,), self.observation_spec.dtype)

    @property
    def done_spec(self) -> Composite:
        return done_flags_spec()

    # ---- params ---------------------------------------------------------------------------------

    def bind(self, params: Any) -> ModelEnv:
        """The same env with ``params`` bound, so that ``step(td)`` needs no params argument.

        Bind inside the function you vmap or compile (``lambda p, td: rollout(env.bind(p), ...)``), so
        that the params are that function's inputs: vmap then maps over an ensemble and compile
        does not recompile when their values change.

        Args:
            params: any pytree of tensors the model functions read (a TensorDict, usually; ``()``
                for a model that reads none).

        Returns:
            A shallow copy of this env (the functions and specs are shared) with ``model_params`` set.
        """
        env = copy.copy(self)
        env.model_params = params
        return env

    def _params(self, fn: str, params: Any) -> Any:
        if params is None:
            params = self.model_params
        if params is None:
            fail(fn, "no model params: pass them (env.step(td, params)) or bind them (env.bind(params))",
                 TypeError)
        return params

    # ---- reset ----------------------------------------------------------------------------------

    def _flags(self, batch: tuple, device) -> dict:
        # Three distinct tensors: aliased inputs would make a compiled step guard on the aliasing.
        return {k: torch.zeros(batch + (1,), dtype=torch.bool, device=device)
                for k in ("done", "terminated", "truncated")}

    def _start_td(self, state: torch.Tensor, keys: torch.Tensor, params: Any, with_start: bool) -> TensorDict:
        batch = tuple(keys.shape[:-1])
        # The keys in the order that step_mdp / auto_reset give them after a step: a compiled step
        # guards on the key order, and would recompile once if reset's order differed.
        entries = {}
        if with_start:
            # A copy, not the same tensor: a compiled step would guard on the aliasing of its inputs.
            entries["start"] = state.clone()
        if self.observe_fn is not None:
            entries["observation"] = self.observe_fn(params, state)
        entries[self.state_key] = state
        entries["step_count"] = torch.zeros(batch + (1,), dtype=torch.int64, device=state.device)
        entries["key"] = keys
        entries.update(self._flags(batch, state.device))
        return TensorDict(entries, batch_size=batch)

    def init(self, keys: torch.Tensor, params: Any = None) -> TensorDict:
        """Fresh episodes drawn from ``init_fn``, one per key, as `frl.envs.Env.init`.

        Args:
            keys: int64 [*B, 2], one key per env.
            params: the model params (only read by ``observe_fn``); defaults to the bound ones.

        Returns:
            TensorDict [*B] with the state, ``"observation"``, ``"step_count"`` (zeros), ``"key"``
            (each env's key for its next reset) and the done flags (False).
        """
        fn = f"frl.envs.{self.name}.init"
        if self.init_fn is None:
            fail(fn, "this ModelEnv has no init_fn: start imagination from given states with "
                     "env.reset(key, start=states)", TypeError)
        if self.observe_fn is not None:
            params = self._params(fn, params)

        init_fn = self.init_fn

        def one(k):
            k_state, k_next = fr.split(k)
            return init_fn(k_state), k_next

        state, next_key = map_keys(one, keys)
        self._check_state(fn, "init_fn's output", state, tuple(keys.shape[:-1]))
        return self._start_td(state, next_key, params, with_start=False)

    def reset(self, key: torch.Tensor | None = None, batch_size: Sequence[int] | int = (), *,
              seed: int | None = None, start: torch.Tensor | None = None, params: Any = None) -> TensorDict:
        """Start episodes: from given states (imagination from real data), or drawn from ``init_fn``.

        Args:
            key: an `frl.random` key [2] (give ``key`` or ``seed``); split into one key per env.
            batch_size: the env batch shape ``B``; with ``start`` it is read from ``start``'s shape.
            seed: an int, as a shortcut for ``key=frl.random.key(seed)``.
            start: the start states [*B, *S] (observations, or model states with ``observe_fn``),
                e.g. observations sampled from a replay buffer. Without it, ``init_fn`` draws them.
            params: the model params (only read by ``observe_fn``); defaults to the bound ones.

        Returns:
            TensorDict [*B] with the state (``"observation"``, and ``"state"`` with ``observe_fn``),
            ``"step_count"`` (zeros), ``"key"``, the done flags (False) and, without ``init_fn``,
            ``"start"`` (where auto-reset restarts done envs).

        Example:
            >>> td = env.reset(frl.random.key(0), start=buffer_obs[:256])   # 256 imagined episodes
        """
        fn = f"frl.envs.{self.name}.reset"
        key, batch_size = reset_key(fn, key, seed, batch_size)
        if start is None:
            return self.init(env_keys(key, batch_size), params)
        if not isinstance(start, torch.Tensor):
            fail(fn, f"start must be a tensor of states [*B, *{list(self.state_spec.shape)}], "
                     f"got {type(start).__name__}", TypeError)
        n = len(self.state_spec.shape)
        batch = tuple(start.shape[:start.dim() - n])
        check_shape(fn, "start", start, batch + tuple(self.state_spec.shape),
                    note=f"batch + state shape {list(self.state_spec.shape)}")
        check_dtype(fn, "start", start, (self.state_spec.dtype,))
        if batch_size and batch_size != batch:
            fail(fn, f"batch_size {fmt_shape(batch_size)} does not match start's batch {fmt_shape(batch)}")
        if self.observe_fn is not None:
            params = self._params(fn, params)
        # The keys live with the states, so that random_action draws actions on the model's device.
        keys = env_keys(key.to(start.device), batch)
        return self._start_td(start, keys, params, with_start=self.init_fn is None)

    # ---- step -----------------------------------------------------------------------------------

    def _check_state(self, fn: str, what: str, state: torch.Tensor, batch: tuple) -> None:
        if not isinstance(state, torch.Tensor):
            fail(fn, f"{what} must be a tensor, got {type(state).__name__}", TypeError)
        check_shape(fn, what, state, batch + tuple(self.state_spec.shape),
                    note=f"batch {list(batch)} + state shape {list(self.state_spec.shape)}")

    @staticmethod
    def _per_env(fn: str, what: str, x: Any, batch: tuple) -> torch.Tensor:
        # reward_fn / done_fn may return [*B] or [*B, 1]; the layout is [*B, 1].
        if not isinstance(x, torch.Tensor):
            fail(fn, f"{what} must be a tensor, got {type(x).__name__}", TypeError)
        if tuple(x.shape) == batch:
            return x.unsqueeze(-1)
        check_shape(fn, what, x, batch + (1,), note=f"or {fmt_shape(batch)}")
        return x

    def step(self, td: TensorDictBase, params: Any = None) -> TensorDictBase:
        """Advance every env by one model step. Pure: returns a new TensorDict, ``td`` is unchanged.

        Args:
            td: TensorDict [*B] from `reset` (or a previous step, after `step_mdp` / `auto_reset`)
                with ``"action"`` [*B, *action_spec.shape].
            params: the model params; defaults to the bound ones (`bind`).

        Returns:
            A shallow copy of ``td`` with ``"next"``: the next state (and ``"observation"``),
            ``"reward"`` [*B, 1], ``"done"`` / ``"terminated"`` / ``"truncated"`` [*B, 1] bool,
            ``"step_count"`` and ``"key"``.

        Example:
            >>> out = env.step(td.set("action", actions), params)
            >>> out["next", "observation"], out["next", "reward"]
        """
        fn = f"frl.envs.{self.name}.step"
        params = self._params(fn, params)
        check_keys(fn, td, ("action", self.state_key, "step_count", "key"))
        batch = tuple(td.batch_size)
        state = td.get(self.state_key)
        self._check_state(fn, self.state_key, state, batch)
        action = td.get("action")
        check_shape(fn, "action", action, batch + tuple(self.action_spec.shape),
                    note=f"batch {list(batch)} + action_spec.shape {list(self.action_spec.shape)}")
        action = check_values(fn, "action", action, self.action_spec.is_in(action), "action_spec")

        key = td.get("key")
        if self.stochastic:
            # Each env splits its own key: one half for the model's draw, the other carried on.
            model_key, key = map_keys(lambda k: tuple(fr.split(k)), key)
            next_state = self.dynamics_fn(params, state, action, model_key)
        else:
            next_state = self.dynamics_fn(params, state, action)
        self._check_state(fn, "dynamics_fn's output", next_state, batch)
        reward = self._per_env(fn, "reward_fn's output", self.reward_fn(params, state, action, next_state), batch)
        check_floating(fn, "reward_fn's output", reward)
        if self.done_fn is None:
            terminated = torch.zeros(batch + (1,), dtype=torch.bool, device=state.device)
        else:
            terminated = self._per_env(fn, "done_fn's output", self.done_fn(params, state, action, next_state),
                                       batch)
            check_dtype(fn, "done_fn's output", terminated, (torch.bool,))
        step_count = td.get("step_count") + 1
        horizon = self.params.max_episode_steps
        if horizon is None:
            truncated = torch.zeros(batch + (1,), dtype=torch.bool, device=state.device)
        else:
            truncated = step_count >= horizon
        entries = {}
        if self.observe_fn is not None:
            entries["observation"] = self.observe_fn(params, next_state)
        entries[self.state_key] = next_state
        entries.update(step_count=step_count, key=key, reward=reward,
                       done=terminated | truncated, terminated=terminated, truncated=truncated)
        out = td.copy()
        out.set("next", TensorDict(entries, batch_size=batch))
        return out

    def auto_reset(self, td: TensorDictBase, params: Any = None) -> TensorDict:
        """The next step's input after ``td = env.step(...)``, with done envs restarted.

        `frl.envs.auto_reset` (and so `step_and_reset` and `rollout`) delegates here. Done envs
        draw a fresh episode from ``init_fn`` with their own key, as `frl.envs.Env` does; without
        ``init_fn`` they restart from the state their episode started from (``"start"``).

        Args:
            td: the output of `step`: TensorDict [*B] with ``"next"``.
            params: the model params (only read by ``observe_fn``); defaults to the bound ones.

        Returns:
            A new TensorDict [*B], ready for the policy and the next `step`.
        """
        fn = f"frl.envs.{self.name}.auto_reset"
        check_keys(fn, td, (("next", "done"), ("next", "key")))
        if self.observe_fn is not None:
            params = self._params(fn, params)
        nxt = step_mdp(td)
        done = td.get(("next", "done"))
        if self.init_fn is not None:
            fresh = self.init(nxt.get("key"), params)
        else:
            check_keys(fn, td, ("start",))
            fresh = self._start_td(nxt.get("start"), nxt.get("key"), params, with_start=False)
            del fresh["key"]  # no draw: each env keeps its key
        return where_td(done, fresh, nxt)

    def __repr__(self) -> str:
        bound = "unbound" if self.model_params is None else "bound"
        return (f"{self.name}(observation_spec={self.observation_spec!r}, action_spec={self.action_spec!r}, "
                f"max_episode_steps={self.params.max_episode_steps}, params {bound})")
