"""The base of frl's stateless environments: `reset` and `step` as pure functions over TensorDicts.

An environment object holds only constants (its params dataclass, its dtype and its specs); all that
changes from step to step travels in the TensorDict:

- ``"observation"`` [*B, *obs]: what the agent sees;
- ``"state"`` [*B, S]: the physical state (Pendulum: theta, theta_dot; CartPole: 4 numbers);
- ``"step_count"`` [*B, 1] int64: steps since the last reset (for the time limit);
- ``"key"`` [*B, 2] int64: each env's `frl.random` key, from which auto-reset draws;
- ``"done"``, ``"terminated"``, ``"truncated"`` [*B, 1] bool.

`Env.step` reads ``"action"`` and writes the ``("next", ...)`` entries in TorchRL's layout,
``("next", "reward")`` [*B, 1] included. A subclass (one env per file, as in gymnax) gives the
specs and three single-purpose functions on batched tensors: ``_init_state`` (the reset
distribution of one env), ``_observe`` and ``_transition``.

Constants live in a frozen params dataclass given at construction (``frl.envs.make(id, **params)``).
The physics reads them elementwise, so a field may also be a tensor broadcastable to the batch
shape ``[*B]`` (one value per env, for domain randomization).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import check_key_or_seed, check_keys, check_shape
from frl._compat import pytree
from frl.envs.specs import Composite, Spec, Unbounded, done_flags_spec

__all__ = ["Env", "EnvLike", "env_keys", "map_keys"]


def env_keys(key: torch.Tensor, batch_size: Sequence[int]) -> torch.Tensor:
    """Split one key into a key per environment: ``[*batch_size, 2]``."""
    batch = tuple(int(b) for b in batch_size)
    n = 1
    for b in batch:
        n *= b
    return fr.split(key, n).reshape(batch + (2,))


def reset_key(fn: str, key: torch.Tensor | None, seed: int | None,
              batch_size: Sequence[int] | int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """A reset's key (from ``key`` or ``seed=<int>``, exactly one of them) and its batch shape as a tuple."""
    check_key_or_seed(fn, key, seed)
    if key is None:
        assert seed is not None  # check_key_or_seed refused neither
        key = fr.key(seed)
    if isinstance(batch_size, int):
        batch_size = (batch_size,)
    return key, tuple(int(b) for b in batch_size)


def map_keys(fn: Callable[[torch.Tensor], Any], keys: torch.Tensor) -> Any:
    """Apply ``fn(key [2]) -> pytree of tensors`` to each key of ``keys`` [*B, 2]; outputs get [*B, ...].

    A vmap over the flattened batch, so each env draws from its own stream; works inside an outer
    vmap and under torch.compile.
    """
    batch = tuple(keys.shape[:-1])
    # Contiguous outputs: a strided view (a key split off [N, 2, 2]) fed back into a compiled step
    # would fail its stride guard and recompile every call.
    if not batch:
        return pytree.tree_map(torch.Tensor.contiguous, fn(keys))
    out = torch.vmap(fn)(keys.reshape(-1, 2))
    return pytree.tree_map(lambda t: t.reshape(batch + tuple(t.shape[1:])).contiguous(), out)


class EnvLike(Protocol):
    """What the env helpers (`rollout`, `auto_reset`, `check_env`, ...) need of an env, for the type checker.

    A stateless `Env`, a host adapter (`GymEnv`, `DMControlEnv`), a `TransformedEnv` and a `ModelEnv`
    all fit; the helpers read further attributes (``auto_reset``, ``stateful`` ...) only where present.
    """

    @property
    def action_spec(self) -> Any: ...

    @property
    def observation_spec(self) -> Any: ...

    @property
    def reward_spec(self) -> Any: ...

    @property
    def name(self) -> str: ...

    def reset(self, *args: Any, **kwargs: Any) -> Any: ...

    def step(self, td: TensorDictBase) -> Any: ...


class SharedSpecs:
    """The specs every env kind shares (reward [1] of ``reward_dtype``, bool done flags) and its name."""

    reward_dtype: torch.dtype

    @property
    def reward_spec(self) -> Spec:
        return Unbounded((1,), self.reward_dtype)

    @property
    def done_spec(self) -> Composite:
        return done_flags_spec()

    @property
    def name(self) -> str:
        return type(self).__name__


class Env(SharedSpecs):
    """Base class of the stateless envs. See the module docstring for the TensorDict layout.

    Subclasses set ``params``, ``dtype``, ``observation_spec``, ``action_spec``, ``state_size`` and
    implement ``_init_state(key) -> [S]`` (one env), ``_observe(state [*B, S]) -> [*B, *obs]``,
    ``_transition(state, action) -> (state, reward [*B], terminated [*B])`` and
    ``_check_action(fn, action) -> action``.
    """

    params: Any
    dtype: torch.dtype
    state_size: int
    observation_spec: Spec
    action_spec: Spec

    @property
    def reward_dtype(self) -> torch.dtype:
        return self.dtype

    # ---- the subclass's physics -----------------------------------------------------------------

    def _init_state(self, key: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _transition(self, state: torch.Tensor, action: torch.Tensor):
        raise NotImplementedError

    def _check_action(self, fn: str, action: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ---- the public pure functions --------------------------------------------------------------

    def init(self, keys: torch.Tensor) -> TensorDict:
        """A fresh episode in every env, each drawn from its own key.

        Args:
            keys: int64 [*B, 2], one key per env (see `env_keys`).

        Returns:
            TensorDict [*B] with ``"observation"``, ``"state"``, ``"step_count"`` (zeros), ``"key"``
            (each env's key for its next reset) and ``"done"`` / ``"terminated"`` / ``"truncated"``
            (False). Auto-reset calls this with the keys it carries.
        """
        fresh = self._fresh_episodes(keys)
        # "observation" first: a compiled step guards on the order of the keys, and auto-reset
        # keeps the order of the step's output.
        return TensorDict({"observation": self._observe(fresh["state"]), **fresh}, batch_size=keys.shape[:-1])

    def _fresh_episodes(self, keys: torch.Tensor) -> dict[str, torch.Tensor]:
        """The entries of `init` but the observation (auto-reset observes the merged state instead)."""
        batch = tuple(keys.shape[:-1])

        def one(k):
            k_state, k_next = fr.split(k)
            return self._init_state(k_state), k_next

        state, next_key = map_keys(one, keys)

        def false():
            # Three distinct tensors: aliased inputs would make a compiled step guard on the aliasing.
            return torch.zeros(batch + (1,), dtype=torch.bool, device=keys.device)

        return {
            "state": state,
            "step_count": torch.zeros(batch + (1,), dtype=torch.int64, device=keys.device),
            "key": next_key,
            "done": false(),
            "terminated": false(),
            "truncated": false(),
        }

    def reset(self, key: torch.Tensor | None = None, batch_size: Sequence[int] | int = (), *,
              seed: int | None = None) -> TensorDict:
        """Start ``batch_size`` independent episodes.

        Args:
            key: an `frl.random` key [2] (give ``key`` or ``seed``).
            batch_size: the env batch shape ``B``; ``()`` for one env.
            seed: an int, as a shortcut for ``key=frl.random.key(seed)``.

        Returns:
            TensorDict with batch_size ``B`` (see `init`).

        Example:
            >>> env = frl.envs.make("Pendulum-v1")
            >>> td = env.reset(seed=0, batch_size=(4,))
            >>> td["observation"].shape
            torch.Size([4, 3])
        """
        key, batch_size = reset_key(f"frl.envs.{self.name}.reset", key, seed, batch_size)
        return self.init(env_keys(key, batch_size))

    def step(self, td: TensorDictBase) -> TensorDictBase:
        """Advance every env by one step. Pure: returns a new TensorDict, ``td`` is not modified.

        Args:
            td: TensorDict [*B] from `reset` (or from a previous step, after `step_mdp` or
                `auto_reset`) with ``"action"`` set, shaped as ``action_spec`` with the batch in front.

        Returns:
            A shallow copy of ``td`` with ``"next"`` set: ``("next", "observation")``, ``"reward"``
            [*B, 1], ``"done"`` / ``"terminated"`` / ``"truncated"`` [*B, 1] bool, and the next
            ``"state"``, ``"step_count"``, ``"key"``. ``truncated`` is set when ``step_count`` reaches
            ``params.max_episode_steps`` (gymnasium's TimeLimit); ``done = terminated | truncated``.
            Stepping a done env continues its dynamics; use `auto_reset` to start a new episode.

        Example:
            >>> td = env.reset(seed=0, batch_size=(4,))
            >>> td = env.step(td.set("action", env.action_spec.zero((4,))))
            >>> td["next", "reward"].shape
            torch.Size([4, 1])
        """
        fn = f"frl.envs.{self.name}.step"
        check_keys(fn, td, ("action", "state", "step_count", "key"))
        batch = tuple(td.batch_size)
        state = td.get("state")
        check_shape(fn, "state", state, batch + (self.state_size,))
        action = td.get("action")
        check_shape(fn, "action", action, batch + tuple(self.action_spec.shape),
                    note=f"batch {list(batch)} + action_spec.shape {list(self.action_spec.shape)}")
        action = self._check_action(fn, action)
        new_state, reward, terminated = self._transition(state, action)
        step_count = td.get("step_count") + 1
        truncated = step_count >= self.params.max_episode_steps
        terminated = terminated.unsqueeze(-1)
        nxt = TensorDict({
            "observation": self._observe(new_state),
            "state": new_state,
            "step_count": step_count,
            "key": td.get("key"),
            "reward": reward.unsqueeze(-1),
            "done": terminated | truncated,
            "terminated": terminated,
            "truncated": truncated,
        }, batch_size=batch)
        out = td.copy()
        out.set("next", nxt)
        return out

    def __repr__(self) -> str:
        return f"{self.name}(params={self.params!r}, dtype={self.dtype})"
