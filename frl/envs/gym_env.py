"""GymEnv: a gymnasium env, or a gymnasium vector env, behind frl's TensorDict env protocol.

The adapter is host-side and stateful (the simulator lives in gymnasium), but what it reads and
writes is laid out exactly as frl's stateless envs and TorchRL's ``GymEnv``:

- ``reset(...)`` returns the observation entries, ``"done"`` / ``"terminated"`` / ``"truncated"``
  [*B, 1] (False) and ``"key"`` [*B, 2] (so that `frl.envs.random_action` can draw actions);
- ``step(td)`` reads ``"action"`` and returns a shallow copy of ``td`` with ``"next"``: the
  observation entries, ``"reward"`` [*B, 1] float32 and the three flags, as gymnasium reports them;
- ``auto_reset(td)`` (which `frl.envs.auto_reset` delegates to) gives the next step's input, with
  finished episodes restarted.

Observation keys follow TorchRL's ``GymEnv``: a Box, Discrete, MultiDiscrete, MultiBinary or Tuple
observation space is one entry ``"observation"`` (a Tuple's is a sub-TensorDict with keys ``"0"``,
``"1"``, ...); a Dict space puts each of its keys at the root of the TensorDict (nested Dicts nest),
renaming ``"state"`` to ``"observation"`` when the Dict has no ``"observation"`` key. So
``observation_spec`` is the spec of ``"observation"`` (a Box env reads as a stateless frl env), or,
for a Dict space, a `Composite` whose keys are the root entries.

Pixels (``from_pixels=True``, as TorchRL's ``GymEnv``): the env is made with
``render_mode="rgb_array"`` and each (sub-)env is wrapped in gymnasium's ``AddRenderObservation``,
so the frame ``"pixels"`` [*B, H, W, 3] uint8 is part of every observation. It is rendered inside
the sub-env at the step itself, before a vector env's SAME_STEP autoreset: ``("next", "pixels")`` of
an ended episode is its final frame, and the reset frame is the next input's. With
``pixels_only=False`` the state observation stays under ``"observation"`` too (by default only the
pixels are kept, as in TorchRL).

References:
    TorchRL, ``torchrl.envs.GymEnv``; gymnasium, ``gymnasium.vector.VectorEnv`` and its autoreset
    modes (https://farama.org/Vector-Autoreset-Mode).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from frl._checks import check_keys, fail
from frl.envs import _host
from frl.envs.env import env_keys
from frl.envs.space_specs import spec_from_gym_space
from frl.envs.specs import Bounded, Composite, Spec

__all__ = ["GymEnv"]

_from_numpy = torch.from_numpy
_TRUE, _FALSE = np.array([True]), np.array([False])  # copied, never handed out


def _make_env(id: str, make_kwargs: dict, wrappers: tuple = (), pixels_only: bool | None = None):
    """``gymnasium.make(id, **make_kwargs)`` wrapped in ``wrappers``, in order; unless ``pixels_only``
    is None, made to render rgb_array frames and wrapped last in ``AddRenderObservation`` (a
    module-level function: async workers pickle it)."""
    import gymnasium as gym

    if pixels_only is None:
        return _wrap(gym.make(id, **make_kwargs), wrappers)
    fn = "frl.envs.GymEnv"
    what = f"from_pixels=True needs {id!r} to render rgb_array frames (uint8 [H, W, 3])"
    try:
        env = _wrap(gym.make(id, render_mode="rgb_array", **make_kwargs), wrappers)
    except TypeError as e:  # an env constructor without a render_mode argument
        fail(fn, f"{what}, but gymnasium.make({id!r}, render_mode='rgb_array') failed: {e}")
    modes = list(env.metadata.get("render_modes") or [])
    if "rgb_array" not in modes:
        env.close()
        fail(fn, f"{what}, and its metadata['render_modes'] is {modes}")
    try:
        env = gym.wrappers.AddRenderObservation(env, render_only=pixels_only)
        frame = env.render()
    except Exception as e:  # a missing renderer (pygame, an OpenGL backend) raises many kinds
        env.close()
        fail(fn, f"{what}, but rendering failed: {type(e).__name__}: {e}", RuntimeError)
    if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[-1] == 3):
        env.close()
        got = (f"{frame.dtype} {list(frame.shape)}" if isinstance(frame, np.ndarray) else type(frame).__name__)
        fail(fn, f"{what}, but env.render() returned {got}")
    return env


def _wrap(env, wrappers: tuple):
    for wrapper in wrappers:
        env = wrapper(env)
    return env


def _pixel_spec(space) -> Bounded:
    return Bounded(0, 255, tuple(space.shape), torch.uint8)


def _obs_converter(space, spec: Spec, batch: torch.Size, copy_: bool):
    """host observation (array / dict / tuple, batched or not) -> tensor or TensorDict."""
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        comp = cast(Composite, spec)  # a Dict space's spec is a Composite
        subs = {k: (str(k), _obs_converter(s, comp[str(k)], batch, copy_)) for k, s in space.spaces.items()}
        return lambda o: _host.new_td({name: f(o[k]) for k, (name, f) in subs.items()}, batch)
    if isinstance(space, spaces.Tuple):
        comp = cast(Composite, spec)  # a Tuple space's spec is a Composite keyed '0', '1', ...
        subs = [_obs_converter(s, comp[str(i)], batch, copy_) for i, s in enumerate(space.spaces)]
        return lambda o: _host.new_td({str(i): f(o[i]) for i, f in enumerate(subs)}, batch)
    return _host.leaf_from_host(space.dtype, spec.dtype, copy_)


def _action_converter(space, spec: Spec, batch: tuple[int, ...], name: str):
    """(fn, action tensor or TensorDict) -> what gymnasium's step expects."""
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        comp = cast(Composite, spec)
        subs = {k: _action_converter(s, comp[str(k)], batch, f"{name}[{str(k)!r}]") for k, s in space.spaces.items()}
        return lambda fn, a: {k: f(fn, _sub(fn, a, str(k), name)) for k, f in subs.items()}
    if isinstance(space, spaces.Tuple):
        comp = cast(Composite, spec)
        subs = [_action_converter(s, comp[str(i)], batch, f"{name}['{i}']") for i, s in enumerate(space.spaces)]
        return lambda fn, a: tuple(f(fn, _sub(fn, a, str(i), name)) for i, f in enumerate(subs))
    # A single env takes a Discrete action as a scalar; vector envs take arrays.
    scalar = not batch and isinstance(space, spaces.Discrete)
    return _host.action_leaf(spec, space.dtype, batch, name, scalar)


def _sub(fn: str, a, k: str, name: str):
    if not isinstance(a, TensorDictBase):
        fail(fn, f"{name} must be a TensorDict (the action space is a Dict / Tuple), got {type(a).__name__}",
             TypeError)
    if k not in a.keys():
        fail(fn, f"{name} has no key {k!r} (it has {sorted(a.keys())})", KeyError)
    return a.get(k)


def _final_patcher(space):
    """(batched obs copy, env index, that env's final obs) -> None: writes the final obs in place."""
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        subs = {k: _final_patcher(s) for k, s in space.spaces.items()}

        def patch(obs, i, final):
            for k, f in subs.items():
                f(obs[k], i, final[k])
        return patch
    if isinstance(space, spaces.Tuple):
        subs = [_final_patcher(s) for s in space.spaces]

        def patch(obs, i, final):
            for j, f in enumerate(subs):
                f(obs[j], i, final[j])
        return patch

    def patch(obs, i, final):
        obs[i] = final
    return patch


class GymEnv(_host.HostEnv):
    """A gymnasium env (or ``num_envs`` of them, vectorized) with frl's TensorDict env protocol.

    Args:
        id: a gymnasium env id (``"Pendulum-v1"``), as for ``gymnasium.make``.
        num_envs: ``None`` for one env (batch ``()``); ``N`` for a gymnasium vector env of N
            copies (batch ``[N]``).
        vectorize: ``"sync"`` (``gymnasium.vector.SyncVectorEnv``, one process) or ``"async"``
            (``AsyncVectorEnv``, one process per env). Both run with
            ``autoreset_mode=AutoresetMode.SAME_STEP``: a finished episode's final observation goes
            to ``("next", "observation")`` and the reset observation to `auto_reset`'s result, so no
            transition is lost or duplicated.
        from_pixels: add the rendered frame ``"pixels"`` [*B, H, W, 3] uint8 to every observation
            (TorchRL's key and layout), with ``observation_spec["pixels"]`` a `Bounded` 0..255 uint8
            spec. The env is made with ``render_mode="rgb_array"`` (so ``render_mode`` must not be
            given otherwise) and each env wrapped in ``gymnasium.wrappers.AddRenderObservation``: a
            vector env renders each frame inside its sub-env, so ``("next", "pixels")`` at an
            episode's end is the final frame, not the reset one. The constructor raises if the env
            cannot render rgb_array frames (classic-control envs need ``pygame``, MuJoCo envs a
            ``MUJOCO_GL`` backend).
        pixels_only: with ``from_pixels``, drop the state observation: ``observation_spec`` is
            ``Composite({"pixels": ...})`` (the default, as TorchRL's and `DMControlEnv`'s; pass
            ``pixels_only=False`` to keep the state under ``"observation"`` too).
        wrappers: gymnasium wrappers (or any ``env -> env`` callables) applied, in order, to every
            env right after ``gymnasium.make``, inside each sub-env of a vector env, e.g.
            ``[functools.partial(gymnasium.wrappers.AtariPreprocessing, noop_max=30)]``. Per-episode
            preprocessing that must act on one env at its own reset (Atari no-ops, frame skipping)
            belongs here rather than in frl transforms, which act on the whole batch. With
            ``vectorize="async"`` they are pickled to the workers: use classes or
            ``functools.partial``, not lambdas.
        device: where the returned tensors live (actions may be on any device).
        **make_kwargs: passed to ``gymnasium.make`` (for every copy).

    Attributes:
        batch_size: ``torch.Size([])`` or ``torch.Size([N])``.
        observation_spec, action_spec, reward_spec, done_spec: specs of one env (no batch dims);
            see `frl.envs.spec_from_gym_space` and the module docstring for the key layout.
        env: the gymnasium env or vector env.

    Seeding: ``reset(seed=s)`` calls gymnasium's ``reset(seed=s)`` (a vector env seeds its env
    ``i`` with ``s + i``), so frl and gymnasium give the same episodes for the same seed and
    actions; ``reset(key=k)`` derives the seed from the key. Episodes that `auto_reset` restarts
    continue gymnasium's own random stream, as gymnasium's autoreset does.

    gymnasium's ``info`` dicts are not returned. Actions are checked against ``action_spec`` (shape,
    dtype kind, values: switch the value check off with ``frl.set_value_checks(False)``).

    Example:
        >>> with frl.envs.GymEnv("CartPole-v1", num_envs=8) as env:
        ...     td = env.reset(seed=0)
        ...     traj = frl.envs.rollout(env, None, td, steps=100)   # [8, 100]
        >>> env = frl.envs.GymEnv("CartPole-v1", from_pixels=True, pixels_only=False)   # needs pygame
        >>> td = env.reset(seed=0)
        >>> td["pixels"].shape, td["pixels"].dtype, td["observation"].shape
        (torch.Size([400, 600, 3]), torch.uint8, torch.Size([4]))
        >>> list(frl.envs.GymEnv("CartPole-v1", from_pixels=True).observation_spec.keys())
        ['pixels']
    """

    def __init__(self, id: str, *, num_envs: int | None = None, vectorize: str = "sync",
                 from_pixels: bool = False, pixels_only: bool = True, wrappers: Sequence[Callable] = (),
                 device: str | torch.device = "cpu", **make_kwargs):
        import gymnasium as gym

        fn = "frl.envs.GymEnv"
        self.id = id
        # pixels_only matters only with from_pixels (TorchRL's and DMControlEnv's convention).
        self.from_pixels = bool(from_pixels)
        self.pixels_only = self.from_pixels and bool(pixels_only)
        if self.from_pixels:
            mode = make_kwargs.pop("render_mode", "rgb_array")
            if mode != "rgb_array":
                fail(fn, f"from_pixels=True makes the env with render_mode='rgb_array', got render_mode={mode!r}")
        wrappers = tuple(wrappers)
        for w in wrappers:
            if not callable(w):
                fail(fn, f"wrappers must be callables env -> env (e.g. gymnasium wrapper classes), got {w!r}",
                     TypeError)
        # functools.partial pickles, which the async workers need.
        make = functools.partial(_make_env, id, make_kwargs, wrappers, self.pixels_only if self.from_pixels else None)
        self.device = torch.device(device)
        self._out_device = None if self.device.type == "cpu" else self.device
        self._resets = 0
        self._pending = None  # vector envs: (done [N, 1], reset observation entries) of the last step
        if num_envs is None:
            self.env = make()
            obs_space, act_space = self.env.observation_space, self.env.action_space
            self.batch_size = torch.Size([])
        else:
            if int(num_envs) < 1:
                fail(fn, f"num_envs={num_envs}, expected at least 1 (or None for one env)")
            if vectorize not in ("sync", "async"):
                fail(fn, f"vectorize={vectorize!r}, expected 'sync' or 'async'")
            try:
                from gymnasium.vector import AutoresetMode
            except ImportError:  # gymnasium 1.0 has no autoreset modes
                fail(fn, f"num_envs needs gymnasium>=1.1 (AutoresetMode.SAME_STEP); found {gym.__version__}",
                     ImportError)
            cls = gym.vector.SyncVectorEnv if vectorize == "sync" else gym.vector.AsyncVectorEnv
            self.env = cls([make] * int(num_envs), autoreset_mode=AutoresetMode.SAME_STEP)
            obs_space, act_space = self.env.single_observation_space, self.env.single_action_space
            self.batch_size = torch.Size([int(num_envs)])
        self.vectorize = None if num_envs is None else vectorize
        self._obs_space = obs_space
        batch = tuple(self.batch_size)
        self._flag_shape = batch + (1,)

        # Observation layout (TorchRL's): a Dict's keys at the root, anything else under "observation".
        obs_spec = spec_from_gym_space(obs_space)
        if isinstance(obs_space, gym.spaces.Dict):
            obs_spec = cast(Composite, obs_spec)  # a Dict space's spec
            names = {str(k): str(k) for k in obs_space.spaces}
            if "state" in names and "observation" not in names:
                names["state"] = "observation"
            if self.from_pixels:
                # The frame's spec as DMControlEnv's: Bounded 0..255 uint8 [H, W, 3].
                obs_spec = Composite({k: _pixel_spec(obs_space[k]) if k == "pixels" else s
                                      for k, s in obs_spec.items()})
            self.observation_spec = Composite({names[k]: s for k, s in obs_spec.items()})
            subs = {k: (names[str(k)], _obs_converter(s, obs_spec[str(k)], self.batch_size, num_envs is None))
                    for k, s in obs_space.spaces.items()}
            self._obs_entries = lambda o: {name: f(o[k]) for k, (name, f) in subs.items()}
        else:
            if self.pixels_only:  # the observation space is the frame's Box
                name, obs_spec = "pixels", _pixel_spec(obs_space)
                self.observation_spec = Composite({name: obs_spec})
            else:
                name = "observation"
                self.observation_spec = (Composite({name: obs_spec}) if isinstance(obs_spec, Composite)
                                         else obs_spec)
            # A single env may hand out a buffer it overwrites later: copy. A vector env copies already
            # (copy=True, its default), so its arrays are used as they are.
            f = _obs_converter(obs_space, obs_spec, self.batch_size, num_envs is None)
            self._obs_entries = lambda o: {name: f(o)}
        self._patch_final = _final_patcher(obs_space)
        self.action_spec = spec_from_gym_space(act_space)
        self._to_host = _action_converter(act_space, self.action_spec, batch, "action")
        self._fn_step = "frl.envs.GymEnv.step"
        self.reward_dtype = torch.float32  # gymnasium's rewards are Python floats
        self._step = self._step_single if num_envs is None else self._step_vector

    # ---- the protocol ---------------------------------------------------------------------------

    def _td(self, entries: dict) -> TensorDict:
        td = _host.new_td(entries, self.batch_size)
        return td if self._out_device is None else td.to(self._out_device)

    def reset(self, key: torch.Tensor | None = None, batch_size: Sequence[int] | int = (), *,
              seed: int | None = None, options: dict | None = None) -> TensorDict:
        """Reset every env; returns the first observations.

        Args:
            key: an `frl.random` key [2]: seeds gymnasium with a seed drawn from it.
            batch_size: ``()`` or this env's own ``batch_size`` (the batch is set by ``num_envs``).
            seed: an int, passed to gymnasium's ``reset(seed=seed)``.
            options: passed to gymnasium's ``reset``.

        Without key or seed, gymnasium continues its own random stream.

        Returns:
            TensorDict [*B]: the observation entries, ``"done"`` / ``"terminated"`` /
            ``"truncated"`` [*B, 1] False, and ``"key"`` [*B, 2] (for `frl.envs.random_action`).
        """
        fn = "frl.envs.GymEnv.reset"
        _host.check_batch_size(fn, batch_size, self.batch_size)
        host_seed, frl_key = _host.reset_seed(fn, key, seed, self._resets)
        if host_seed is None:
            self._resets += 1
        obs, _ = self.env.reset(seed=host_seed, options=options)
        self._pending = None
        entries = self._obs_entries(obs)
        entries.update(_host.false_flags(self._flag_shape))
        entries["key"] = env_keys(frl_key, tuple(self.batch_size))
        return self._td(entries)

    def step(self, td: TensorDictBase) -> TensorDictBase:
        """Step every env with ``td["action"]``; returns a shallow copy of ``td`` with ``"next"``.

        Args:
            td: TensorDict [*B] with ``"action"`` [*B, *action_spec.shape] (a TensorDict for Dict /
                Tuple action spaces). Floating actions are cast to the space's dtype.

        Returns:
            ``td.copy()`` with ``("next", <observation entries>)``, ``("next", "reward")`` [*B, 1]
            float32 and ``("next", "done" | "terminated" | "truncated")`` [*B, 1] bool, as gymnasium
            reports them (``done = terminated | truncated``). For a vector env whose episode ended
            at this step, ``"next"`` holds the final observation (gymnasium's ``info["final_obs"]``);
            the reset observation is what `auto_reset` returns.

        Raises:
            ValueError / TypeError / KeyError: ``frl.envs.GymEnv.step: action ...`` for a missing
            action, a wrong shape or dtype kind, or values outside ``action_spec``.
        """
        return self._step(td)

    def _step_single(self, td: TensorDictBase) -> TensorDictBase:
        # The hot path of a single env: step + auto_reset add ~11 us to gymnasium's step (bench/envs_host.py).
        fn = self._fn_step
        obs, reward, terminated, truncated, _ = self.env.step(self._to_host(fn, _host.get_action(fn, td)))
        entries = self._obs_entries(obs)
        term, trunc = bool(terminated), bool(truncated)
        # Fresh storage for every leaf: a numpy array + from_numpy is cheaper than torch.tensor, and
        # copying a ready [1] array cheaper than building one from a list.
        entries["reward"] = _from_numpy(np.array([reward], dtype=np.float32))
        entries["done"] = _from_numpy((_TRUE if term or trunc else _FALSE).copy())
        entries["terminated"] = _from_numpy((_TRUE if term else _FALSE).copy())
        entries["truncated"] = _from_numpy((_TRUE if trunc else _FALSE).copy())
        return _host.with_next(td, self._td(_host.carry_key(td, entries)))

    def _step_vector(self, td: TensorDictBase) -> TensorDictBase:
        fn = self._fn_step
        obs, reward, terminated, truncated, info = self.env.step(self._to_host(fn, _host.get_action(fn, td)))
        done = np.logical_or(terminated, truncated)
        if done.any():
            # SAME_STEP: obs holds the reset observation of the finished envs, their final one is in
            # info["final_obs"]. "next" gets the final ones; auto_reset hands out the reset ones.
            final = copy.deepcopy(obs)
            for i in np.flatnonzero(done):
                self._patch_final(final, i, info["final_obs"][i])
            entries = self._obs_entries(final)
            reset_entries = self._obs_entries(obs)
        else:
            entries, reset_entries = self._obs_entries(obs), None
        entries["reward"] = _from_numpy(np.asarray(reward, dtype=np.float32).reshape(self._flag_shape))
        entries.update(_host.flags(terminated, truncated, self._flag_shape))
        nxt = self._td(_host.carry_key(td, entries))
        self._pending = (nxt.get("done"), reset_entries)
        return _host.with_next(td, nxt)

    def auto_reset(self, td: TensorDictBase) -> TensorDict:
        """The next step's input after ``td = env.step(...)``: ``step_mdp(td)``, finished episodes reset.

        A single env is reset here (gymnasium's ``reset()``, continuing its random stream) where
        ``("next", "done")`` is set. A vector env has already reset its finished envs during the step
        (gymnasium's SAME_STEP autoreset); their reset observations, kept from that step, replace the
        final ones. Either way the final observation stays in ``td["next", ...]`` and the done flags
        of the result are False. Host envs are stateful: give this the output of the env's latest step.

        Args:
            td: the output of `step`.

        Returns:
            A new TensorDict [*B]; ``td`` is not modified.
        """
        fn = "frl.envs.GymEnv.auto_reset"
        try:
            done = _host.get(_host.get(td, "next"), "done")
        except KeyError:
            check_keys(fn, td, (("next", "done"),))
        nxt = _host.next_input(td)
        if self.vectorize is None:
            if not (done.item() if done.numel() == 1 else bool(done.any())):
                return nxt
            obs, _ = self.env.reset()
            entries = self._obs_entries(obs)
        else:
            pending = self._pending
            host_done = None if pending is None else pending[0]
            if host_done is not None and done is not host_done:
                done = done.to(host_done.device)
                # A wrapper (a TimeLimit / StepCounter transform) may end more episodes than gymnasium
                # did, never fewer: a done flag gymnasium set that td lacks means td is another step's.
                if done.shape != host_done.shape or bool((host_done & ~done).any()):
                    host_done = None
            if host_done is None:
                fail(fn, "td is not the output of this env's latest step (a vector env resets finished "
                         "episodes during its step, so only that step's output can be auto-reset)")
            extra = done & ~host_done
            if bool(extra.any()):
                # Episodes ended by a wrapper: gymnasium resets just those (its reset_mask option);
                # the observations it returns are every env's next input, reset or not.
                obs, _ = self.env.reset(options={"reset_mask": extra.reshape(-1).numpy()})
                entries = self._obs_entries(obs)
            elif pending is None or pending[1] is None:
                return nxt
            else:
                entries = pending[1]
        entries = dict(entries)
        entries.update(_host.false_flags(self._flag_shape))
        fresh = self._td(entries)
        for k, v in fresh.items():
            nxt.set(k, v)
        return nxt

    def __repr__(self) -> str:
        vec = "" if self.vectorize is None else f", num_envs={self.batch_size[0]}, vectorize={self.vectorize!r}"
        pix = f", from_pixels=True, pixels_only={self.pixels_only}" if self.from_pixels else ""
        return f"GymEnv({self.id!r}{vec}{pix}, device={str(self.device)!r})"
