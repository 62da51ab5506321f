"""TransformedEnv: an env seen through a list of transforms, with the same protocol as any frl env.

``TransformedEnv(env, [ObservationNorm(...), RewardSum(), StepCounter(200)])`` offers ``reset``,
``init`` (when the base env has one), ``step``, ``auto_reset(td)`` and the transformed specs, so
`frl.envs.step_and_reset`, `frl.envs.rollout` and `frl.envs.check_env` work on it unchanged. The
transforms form a list (`Compose`) that supports indexing, ``append``, ``insert`` and ``remove``;
each transform reaches the env up to itself through ``transform.parent``.

Every bit of state a transform needs travels in the TensorDict, so over a stateless base env the
transformed ``step`` and ``auto_reset`` are pure functions that run eagerly, under
``torch.func.vmap`` and under ``torch.compile(fullgraph=True)``; over a host adapter (GymEnv) they run
eagerly around the host's own step and reset.

References:
    TorchRL, ``torchrl.envs.transforms.TransformedEnv`` and ``Compose``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from tensordict import TensorDictBase

from frl._checks import check_keys, fail
from frl.envs.auto_reset import auto_reset as _auto_reset
from frl.envs.auto_reset import where_td
from frl.envs.specs import Composite
from frl.envs.step_mdp import step_mdp
from frl.envs.transforms._base import Transform, obs_spec_dict

__all__ = ["TransformedEnv", "Compose"]


class Compose:
    """The list of a `TransformedEnv`'s transforms, applied in order (inverses in reverse order).

    Supports ``len``, iteration, indexing and slicing, ``append``, ``insert``, ``remove``, ``pop``
    and ``index``. Adding a transform makes the env its owner (``transform.parent`` then works);
    a transform can belong to only one env at a time.

    Args:
        *transforms: the transforms, in the order they apply to observations.
    """

    def __init__(self, *transforms: Transform):
        self._items: list[Transform] = []
        self._owner = None
        for t in transforms:
            self.append(t)

    def _bind(self, owner) -> None:
        self._owner = owner
        for t in self._items:
            self._claim(t, fresh=False)

    def _claim(self, t, fresh: bool = True) -> None:
        if not isinstance(t, Transform):
            fail("frl.envs.Compose", f"expected a Transform, got {type(t).__name__}", TypeError)
        if fresh and any(u is t for u in self._items):
            fail("frl.envs.Compose", f"{t!r} is already in this list; a transform takes one place "
                                     "(build a second one)", ValueError)
        if self._owner is None:
            return
        if t._owner is not None and t._owner is not self._owner:
            fail("frl.envs.Compose", f"{t!r} already belongs to another TransformedEnv; "
                                     "remove it there first (or build a new one)", ValueError)
        t._owner = self._owner

    def _release(self, t) -> None:
        if self._owner is not None and t._owner is self._owner:
            t._owner = None

    def append(self, t: Transform) -> None:
        self._claim(t)
        self._items.append(t)

    def insert(self, index: int, t: Transform) -> None:
        self._claim(t)
        self._items.insert(index, t)

    def remove(self, t: Transform) -> None:
        self._items.pop(self.index(t))
        self._release(t)

    def pop(self, index: int = -1) -> Transform:
        t = self._items.pop(index)
        self._release(t)
        return t

    def index(self, t: Transform) -> int:
        # By identity: two equal-looking transforms are still two places in the list.
        for i, u in enumerate(self._items):
            if u is t:
                return i
        fail("frl.envs.Compose", f"{t!r} is not in this list", ValueError)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self._items[i])
        return self._items[i]

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self._items)
        return f"Compose({inner})"


class TransformedEnv:
    """An env whose outputs go through ``transforms`` (and whose actions go back through them).

    Args:
        env: any frl env: a stateless env (``frl.envs.make``), a host adapter (``GymEnv``), or
            another `TransformedEnv`.
        transforms: a `Transform`, a list of them, or a `Compose`.

    Attributes:
        base_env: ``env``.
        transforms: the `Compose` list (``env.transforms.append(t)``, ``insert``, ``remove``, ``[i]``).

    Example:
        >>> from frl.envs import TransformedEnv, ObservationNorm, RewardSum, StepCounter
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"),
        ...                      [ObservationNorm(running=True), RewardSum(), StepCounter(100)])
        >>> td = env.reset(seed=0, batch_size=(8,))
        >>> out, td = frl.envs.step_and_reset(env, frl.envs.random_action(env, td))
        >>> out["next", "episode_reward"].shape
        torch.Size([8, 1])

    References:
        TorchRL, ``torchrl.envs.transforms.TransformedEnv``.
    """

    def __init__(self, env, transforms: Transform | Iterable[Transform] | Compose = ()):
        self.base_env = env
        if isinstance(transforms, Transform):
            transforms = [transforms]
        if isinstance(transforms, Compose):
            if transforms._owner is not None:
                fail("frl.envs.TransformedEnv", "this Compose already belongs to another env", ValueError)
            compose = transforms
        else:
            compose = Compose(*transforms)
        compose._bind(self)
        self.transforms = compose

    @classmethod
    def _view(cls, env, transforms: Sequence[Transform]) -> TransformedEnv:
        """The env up to a transform (``transform.parent``): shares the transforms without owning them."""
        view = cls.__new__(cls)
        view.base_env = env
        compose = Compose()
        compose._items = list(transforms)
        view.transforms = compose
        return view

    # ---- TorchRL-style conveniences --------------------------------------------------------------

    @property
    def transform(self) -> Compose:
        """The transforms (TorchRL's name)."""
        return self.transforms

    def append_transform(self, t: Transform) -> TransformedEnv:
        self.transforms.append(t)
        return self

    def insert_transform(self, index: int, t: Transform) -> TransformedEnv:
        self.transforms.insert(index, t)
        return self

    @property
    def name(self) -> str:
        return f"TransformedEnv({getattr(self.base_env, 'name', type(self.base_env).__name__)})"

    def __getattr__(self, name: str) -> Any:
        # Attributes the wrapper lacks (dtype, num_envs, ...) come from the base env, as in TorchRL;
        # ``init`` only where the base env has one (a stateless base).
        if name.startswith("__") or name in ("base_env", "transforms"):
            raise AttributeError(name)
        base = self.__dict__.get("base_env")
        if base is None:
            raise AttributeError(name)
        if name == "init":
            if not hasattr(base, "init"):  # a host base has no init
                raise AttributeError(name)
            return self._init
        return getattr(base, name)

    @property
    def params(self):
        """The base env's params as the transforms see them (`Transform.transform_params`, in order).

        E.g. a `StepCounter` time limit lowers ``max_episode_steps``.
        """
        params = self.base_env.params
        for t in self.transforms:
            params = t.transform_params(params)
        return params

    # ---- specs -------------------------------------------------------------------------------------

    def _obs_specs(self) -> dict:
        specs = obs_spec_dict(self.base_env.observation_spec)
        for t in self.transforms:
            specs = t.transform_observation_spec(dict(specs))
        return specs

    @property
    def full_observation_spec(self) -> Composite:
        """Every observation entry the transformed env writes (``"episode_reward"``, ``"step_count"``...)."""
        return Composite(self._obs_specs())

    @property
    def observation_spec(self):
        """The spec of ``"observation"`` (a `Composite` where the base env's is one, or where no
        ``"observation"`` entry remains); entries the transforms add are in `full_observation_spec`."""
        specs = self._obs_specs()
        if not isinstance(self.base_env.observation_spec, Composite) and "observation" in specs:
            return specs["observation"]
        return Composite(specs)

    @property
    def action_spec(self):
        spec = self.base_env.action_spec
        for t in self.transforms:
            spec = t.transform_action_spec(spec)
        return spec

    @property
    def reward_spec(self):
        spec = self.base_env.reward_spec
        for t in self.transforms:
            spec = t.transform_reward_spec(spec)
        return spec

    @property
    def done_spec(self):
        spec = self.base_env.done_spec
        for t in self.transforms:
            spec = t.transform_done_spec(spec)
        return spec

    # ---- the env protocol ------------------------------------------------------------------------

    def _reset_chain(self, td: TensorDictBase, prev: TensorDictBase | None) -> TensorDictBase:
        for t in self.transforms:
            td = t._reset(td, prev)
        return td

    def reset(self, key: torch.Tensor | None = None, batch_size: Sequence[int] | int = (), *,
              seed: int | None = None, **kwargs) -> TensorDictBase:
        """The base env's reset, transformed (frame stacks filled, episode returns at 0, statistics started).

        Args:
            key, batch_size, seed: as the base env's ``reset``.
            **kwargs: passed on to the base env's ``reset`` (e.g. GymEnv's ``options``).

        Returns:
            TensorDict [*B] at the transformed level, with each transform's state entries.
        """
        return self._reset_chain(self.base_env.reset(key, batch_size, seed=seed, **kwargs), None)

    def _init(self, keys: torch.Tensor) -> TensorDictBase:
        """A fresh transformed episode per key (stateless base envs): ``base_env.init(keys)``, transformed."""
        return self._reset_chain(self.base_env.init(keys), None)

    def step(self, td: TensorDictBase) -> TensorDictBase:
        """One step of the base env through the transforms. Pure over a stateless base env.

        The action goes through the transforms' inverses (last transform first) to the base env; the
        base env's ``"next"`` entries go through the transforms in order, each reading its state from
        ``td``'s root. The root of the result is ``td``'s (the action as the user gave it).

        Args:
            td: TensorDict [*B] at the transformed level with ``"action"`` (shaped as ``action_spec``).

        Returns:
            A shallow copy of ``td`` with the transformed ``"next"``.
        """
        check_keys("frl.envs.TransformedEnv.step", td, ("action",))
        td_in = td
        for t in reversed(list(self.transforms)):
            td_in = t._inv(td_in)
        base_out = self.base_env.step(td_in)
        nxt = base_out.get("next")
        for t in self.transforms:
            nxt = t._step(td, nxt)
        out = td.copy()
        present = set(td.keys())
        for k in base_out.keys():
            # Root entries the base env adds on a step (none for frl's envs) are passed on.
            if k != "next" and k not in present:
                out.set(k, base_out.get(k))
        out.set("next", nxt)
        return out

    def auto_reset(self, td: TensorDictBase) -> TensorDictBase:
        """The next step's input after ``td = env.step(...)``, with done envs starting a new episode.

        Envs that continue get ``step_mdp(td)``. Envs where ``("next", "done")`` is set (the
        transformed flag: a `StepCounter` time limit counts) are reset by the base env's own
        auto-reset, and their fresh entries go through every transform's reset: per-episode state
        (episode return, step count, frame stack) starts afresh, running statistics carry on, and the
        first observation is transformed like any other. ``td["next", ...]`` keeps the true final
        observation. Vectorized with ``torch.where``, so it vmaps and compiles over a stateless base.

        Args:
            td: the output of `step`, TensorDict [*B].

        Returns:
            A new TensorDict [*B].
        """
        fn = "frl.envs.TransformedEnv.auto_reset"
        check_keys(fn, td, (("next", "done"),))
        done = td.get(("next", "done"))
        nxt = step_mdp(td)
        # The base env resets from base-level entries. Its auto-reset merges fresh observations into
        # the continuing ones with torch.where, which needs base-level shapes: hand it placeholders
        # (the continuing envs' values are taken from nxt below, so the placeholders are never seen).
        batch = tuple(td.batch_size)
        next_base = td.get("next").copy()
        base = self.base_env
        base_specs = base._obs_specs() if isinstance(base, TransformedEnv) else obs_spec_dict(base.observation_spec)
        for k, spec in base_specs.items():
            zero = spec.zero(batch)
            if td.device is not None:
                zero = zero.to(td.device)
            next_base.set(k, zero)
        base_in = td.copy()
        base_in.set("next", next_base)
        fresh = _auto_reset(self.base_env, base_in)
        fresh = self._reset_chain(fresh, nxt)
        return where_td(done, fresh, nxt)

    def __repr__(self) -> str:
        return f"TransformedEnv(env={self.base_env!r}, transforms={self.transforms!r})"
