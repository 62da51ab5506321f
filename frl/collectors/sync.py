"""SyncCollector: an iterator of ``[*B, T]`` batches of transitions from any env, in the caller's process."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from tensordict import TensorDictBase

from frl import random as fr
from frl._checks import check_key_or_seed, fail
from frl.collectors._bookkeeping import init_stats, track
from frl.collectors._policy import as_policy_fn
from frl.envs.auto_reset import auto_reset

__all__ = ["SyncCollector", "is_host_env"]

_FN = "frl.collectors.SyncCollector"


def is_host_env(env) -> bool:
    """Whether ``env`` resets itself (it defines ``auto_reset(td)``: gymnasium / dm_control adapters,
    wrapper envs): such an env is stepped in a host loop, not inside a compiled step."""
    return callable(getattr(env, "auto_reset", None))


def _jit(fn, compile):
    if compile is False or compile is None:
        return fn
    options: dict[str, Any] = {"fullgraph": True}
    if isinstance(compile, dict):
        options.update(compile)
    return torch.compile(fn, **options)


class SyncCollector:
    """Collects batches of transitions ``[*B, T]`` (time last) with a policy, until a frame budget.

    TorchRL's ``SyncDataCollector`` in frl's functional form: the policy is a pure function of
    explicit ``params`` (swapped with `update_policy_weights`), randomness comes from explicit keys,
    and the env state is carried from batch to batch, so episodes continue across batch boundaries
    and no transition is lost or repeated.

    Two ways to run, chosen from the env:

    * **stateless envs** (``frl.envs.make(...)``): one compiled step (``fullgraph=True``) does
      ``policy -> env.step -> bookkeeping -> frl.envs.auto_reset``; a Python loop calls it ``T``
      times per batch. Its inputs keep one structure, so it compiles once and never recompiles
      across steps, batches or weight updates.
    * **host envs** (any env with its own ``auto_reset(td)`` method, e.g. ``frl.envs.GymEnv``): a
      host loop of ``policy -> env.step -> bookkeeping -> env.auto_reset`` in which the policy alone
      is compiled (``compile=False`` keeps it eager).

    Each batch is a TensorDict ``[*B, T]`` with ``T = frames_per_batch / prod(B)``, holding what
    `frl.envs.rollout` gives (the policy's input and outputs, ``"action"``, ``"next"`` in TorchRL's
    layout) plus:

    * ``("collector", "traj_ids")`` [*B, T] int64: the trajectory of each transition, unique over the
      whole collection (env i starts trajectory i; a new episode takes the next unused id);
    * ``("next", "episode_return")`` [*B, T, 1]: the return of the episode up to and including the
      step; where ``("next", "done")`` is set, the episode's return.

    The env state carried between steps keeps only the keys of the first env TensorDict (the
    policy's outputs, e.g. ``"logits"``, are not carried): a recurrent policy's state is not
    supported yet.

    Randomness: ``key`` is split into ``(k_env, k_policy)``; the envs are reset from ``k_env`` (when
    no ``env_td`` is given), and step ``t`` of batch ``i`` calls the policy with
    ``frl.random.split(frl.random.fold_in(k_policy, i), T)[t]``. Same key, same batches.

    The frame budget: ``total_frames`` must be a multiple of ``prod(B)`` (or -1 for no end). Every
    batch but the last has ``frames_per_batch`` frames; the last one is cut in time to the frames
    left, ``[*B, (total_frames - collected) / prod(B)]``, so exactly ``total_frames`` frames come out
    (TorchRL instead rounds the budget up to whole batches).

    Args:
        env: an frl env (stateless or host).
        policy: ``None`` (uniform random actions from ``env.action_spec``), an object with an
            ``apply`` method (``frl.nn.probabilistic_actor(...)``), or a callable
            ``(params, td, key) -> td`` / ``(params, td) -> td`` that sets ``"action"``.
        params: the policy's parameters (a TensorDict or any pytree of tensors); ``None`` for a
            random policy.
        frames_per_batch: frames per batch, a multiple of ``prod(B)``.
        total_frames: the frame budget; -1 iterates for ever.
        key: an `frl.random` key [2] (or ``seed``).
        seed: an int, shortcut for ``key=frl.random.key(seed)``.
        batch_size: the env batch ``B`` to reset (``env.reset(k_env, batch_size)``); ``None`` lets the
            env choose (a single env for stateless envs, a host env's own number of envs).
        env_td: an env TensorDict to start from instead of resetting (``batch_size`` is then its
            batch size).
        compile: ``True`` compiles (``fullgraph=True``), ``False`` runs eagerly, a dict gives
            ``torch.compile`` options.

    Example:
        >>> env = frl.envs.make("CartPole-v1")
        >>> actor = frl.nn.probabilistic_actor(frl.nn.mlp(4, 2), "categorical")
        >>> collector = frl.collectors.SyncCollector(
        ...     env, actor, actor.init(frl.random.key(0)), frames_per_batch=256, total_frames=640,
        ...     batch_size=(16,), seed=1, compile=False)
        >>> [batch.shape for batch in collector]  # the last batch is cut to the budget
        [torch.Size([16, 16]), torch.Size([16, 16]), torch.Size([16, 8])]
        >>> collector.update_policy_weights(actor.init(frl.random.key(2)))  # used from the next batch on

    References:
        TorchRL, ``torchrl.collectors.SyncDataCollector``.
    """

    def __init__(self, env, policy=None, params=None, *, frames_per_batch: int, total_frames: int = -1,
                 key: torch.Tensor | None = None, seed: int | None = None,
                 batch_size: Sequence[int] | int | None = None, env_td: TensorDictBase | None = None,
                 compile: bool | dict = True):
        check_key_or_seed(_FN, key, seed)
        if env_td is not None and batch_size is not None:
            fail(_FN, "give either env_td or batch_size, not both", TypeError)
        if key is None:
            assert seed is not None  # check_key_or_seed refused neither
            key = fr.key(seed)
        k_env, self._key = fr.split(key)
        self.env = env
        self.host = is_host_env(env)
        if env_td is None:
            if isinstance(batch_size, int):
                batch_size = (batch_size,)
            env_td = env.reset(k_env) if batch_size is None else env.reset(k_env, tuple(batch_size))
        assert env_td is not None
        self.batch_size = tuple(env_td.batch_size)
        self.num_envs = math.prod(self.batch_size)
        frames_per_batch, total_frames = int(frames_per_batch), int(total_frames)
        if frames_per_batch < 1 or frames_per_batch % self.num_envs:
            fail(_FN, f"frames_per_batch={frames_per_batch} must be a positive multiple of the number of "
                      f"envs {self.num_envs} (batch {list(self.batch_size)})")
        if total_frames != -1 and (total_frames < 1 or total_frames % self.num_envs):
            fail(_FN, f"total_frames={total_frames} must be -1 or a positive multiple of the number of "
                      f"envs {self.num_envs} (batch {list(self.batch_size)})")
        self.frames_per_batch, self.total_frames = frames_per_batch, total_frames
        self.steps_per_batch = frames_per_batch // self.num_envs
        self._policy = as_policy_fn(_FN, env, policy)
        self._params = params
        self._env_keys = list(env_td.keys())
        self._env_td = env_td
        self._stats, self._next_traj_id = init_stats(env_td)
        self._frames = 0
        self._batches = 0
        if self.host:
            self._policy_step = _jit(self._policy, compile)
        else:
            self._step = _jit(self._make_step(), compile)

    # ---- the step ---------------------------------------------------------------------------------

    def _make_step(self):
        env, policy, keys = self.env, self._policy, self._env_keys

        def collect_step(params, env_td, stats, next_traj_id, key):
            td = env.step(policy(params, env_td, key))
            record, stats, next_traj_id = track(td, stats, next_traj_id)
            # Only the env's own keys travel to the next step, so the step's inputs keep one structure.
            env_next = auto_reset(env, td).select(*keys)
            return td, record, env_next, stats, next_traj_id

        return collect_step

    def _host_step(self, params, env_td, stats, next_traj_id, key):
        td = self.env.step(self._policy_step(params, env_td, key))
        record, stats, next_traj_id = track(td, stats, next_traj_id)
        env_next = self.env.auto_reset(td).select(*self._env_keys)
        return td, record, env_next, stats, next_traj_id

    # ---- public API -------------------------------------------------------------------------------

    @property
    def frames(self) -> int:
        """Frames collected so far."""
        return self._frames

    @property
    def env_td(self) -> TensorDictBase:
        """The env TensorDict the next step starts from (the input of the next policy call)."""
        return self._env_td

    @property
    def params(self):
        """The policy parameters used by the next batch."""
        return self._params

    def update_policy_weights(self, params) -> None:
        """Use ``params`` for every later batch (the batch being iterated is not affected).

        The tensors are used as given, not copied; give a structure, dtypes and shapes equal to the
        first params so that the compiled step is not recompiled.
        """
        self._params = params

    def __len__(self) -> int:
        if self.total_frames == -1:
            raise TypeError(f"{_FN}: total_frames=-1 has no length (the collector never ends)")
        return -(-self.total_frames // self.frames_per_batch)

    def __iter__(self) -> Iterator[TensorDictBase]:
        while self.total_frames == -1 or self._frames < self.total_frames:
            yield self.next_batch()

    def next_batch(self) -> TensorDictBase:
        """Collect the next batch ``[*B, T]`` (the last one cut to the frame budget); see the class."""
        steps = self.steps_per_batch
        if self.total_frames != -1:
            left = self.total_frames - self._frames
            if left <= 0:
                raise StopIteration(f"{_FN}: the frame budget total_frames={self.total_frames} is spent")
            steps = min(steps, left // self.num_envs)
        # One key per step of the full batch length, so a cut last batch draws what a full one would.
        keys = fr.split(fr.fold_in(self._key, self._batches), self.steps_per_batch)
        step = self._host_step if self.host else self._step
        params, env_td, stats, next_id = self._params, self._env_td, self._stats, self._next_traj_id
        frames, traj_ids, returns = [], [], []
        for t in range(steps):
            td, (ids_t, return_t), env_td, stats, next_id = step(params, env_td, stats, next_id, keys[t])
            frames.append(td)
            traj_ids.append(ids_t)
            returns.append(return_t)
        self._env_td, self._stats, self._next_traj_id = env_td, stats, next_id
        self._frames += steps * self.num_envs
        self._batches += 1
        time_dim = len(self.batch_size)
        batch = cast(TensorDictBase, torch.stack(frames, dim=time_dim))  # tensordict's torch.stack
        batch.set(("collector", "traj_ids"), torch.stack(traj_ids, dim=time_dim))
        batch.set(("next", "episode_return"), torch.stack(returns, dim=time_dim))
        return batch

    def shutdown(self) -> None:
        """Nothing to release (the API of `AsyncCollector`, so the two are interchangeable)."""

    def __enter__(self) -> SyncCollector:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        kind = "host" if self.host else "stateless"
        return (f"SyncCollector(env={self.env!r} ({kind}), batch={list(self.batch_size)}, "
                f"frames_per_batch={self.frames_per_batch}, total_frames={self.total_frames}, "
                f"frames={self._frames})")
