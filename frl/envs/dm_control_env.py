"""DMControlEnv: a DeepMind Control Suite task behind frl's TensorDict env protocol.

Host-side and stateful like `GymEnv`, with the same layout: ``reset`` returns the observation,
``"done"`` / ``"terminated"`` / ``"truncated"`` [1] (False) and ``"key"`` [2]; ``step`` reads
``"action"`` and returns ``td.copy()`` with ``("next", ...)``: the observation, ``"reward"`` [1]
(summed over ``frame_skip`` physics steps) and the flags; ``auto_reset`` restarts a finished episode.

dm_control ends every suite episode at its time limit with a LAST time step whose ``discount`` is
1: that is ``truncated``. A task that fails the agent ends with ``discount == 0``: ``terminated``.

Observation layout. dm_control observes an ordered dict of float64 arrays (cartpole: ``position``
[3], ``velocity`` [2]). By default they are flattened, in that order, into one ``"observation"``
vector [D] of ``dtype`` (float32 unless told otherwise): the layout of frl's other envs, ready for an
MLP. ``flatten=False`` keeps TorchRL's ``DMControlEnv`` layout instead: each key at the root of the
TensorDict (``"position"``, ``"velocity"``), with ``observation_spec`` a `Composite` of them. With
``from_pixels=True`` a rendered frame ``"pixels"`` [H, W, 3] uint8 is added (TorchRL's layout; use an
image transform for CHW floats), and ``pixels_only=True`` (the default, as TorchRL's) keeps only it.

References:
    Tassa et al., "DeepMind Control Suite", 2018 (https://arxiv.org/abs/1801.00690); TorchRL,
    ``torchrl.envs.DMControlEnv``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from frl._checks import check_keys, fail
from frl.envs import _host
from frl.envs.env import env_keys
from frl.envs.space_specs import spec_from_dm_control
from frl.envs.specs import Bounded, Composite, Spec, Unbounded

__all__ = ["DMControlEnv"]

_from_numpy = torch.from_numpy


class DMControlEnv(_host.HostEnv):
    """A dm_control suite task (``suite.load(domain, task)``) with frl's TensorDict env protocol.

    Args:
        domain, task: the suite's names, e.g. ``("cartpole", "swingup")``, ``("cheetah", "run")``.
        from_pixels: add ``"pixels"`` [height, width, 3] uint8, rendered by ``physics.render``. Needs
            a working MuJoCo renderer: set ``MUJOCO_GL=egl`` (GPU or Mesa's EGL) or ``MUJOCO_GL=osmesa``
            (CPU) before dm_control is first imported; otherwise the constructor raises, naming the problem.
        pixels_only: with ``from_pixels``, drop the state observation.
        frame_skip: physics control steps per `step` (the action is repeated, the rewards summed; an
            episode that ends within them stops there).
        flatten: one ``"observation"`` vector (default) or dm_control's keys at the root (TorchRL's).
        dtype: the dtype of the observations, rewards and actions (dm_control's own are float64;
            ``torch.float64`` keeps them bit for bit).
        height, width, camera_id: what to render.
        task_kwargs, environment_kwargs: passed to ``suite.load`` (e.g. ``task_kwargs=
            {"time_limit": 5.0}`` for a 5 s episode). A ``"random"`` task kwarg seeds the task as in
            dm_control.
        device: where the returned tensors live.

    Seeding: ``reset(seed=s)`` gives the task the random state ``numpy.random.RandomState(s)``, so
    its episodes equal those of ``suite.load(domain, task, task_kwargs={"random": s})``; a ``key``
    derives the seed from the key; neither continues the task's own random stream.

    Example:
        >>> env = frl.envs.DMControlEnv("cartpole", "swingup")
        >>> td = env.reset(seed=0)                      # td["observation"]: [5] float32
        >>> traj = frl.envs.rollout(env, None, td, steps=100)
    """

    #: A host env: its state lives outside the TensorDict, so a step cannot be replayed from its input.

    def __init__(self, domain: str, task: str, *, from_pixels: bool = False, pixels_only: bool = True,
                 frame_skip: int = 1, flatten: bool = True, dtype: torch.dtype = torch.float32,
                 height: int = 84, width: int = 84, camera_id: int = 0, task_kwargs: dict | None = None,
                 environment_kwargs: dict | None = None, device: str | torch.device = "cpu"):
        fn = "frl.envs.DMControlEnv"
        try:
            from dm_control import suite
        except ImportError as e:
            fail(fn, f"needs dm_control (pip install 'frl[dmc]'): {e}", ImportError)
        if int(frame_skip) < 1:
            fail(fn, f"frame_skip={frame_skip}, expected at least 1")
        if not dtype.is_floating_point:
            fail(fn, f"dtype={dtype}, expected a floating dtype", TypeError)
        self.domain, self.task = domain, task
        self.env = suite.load(domain, task, task_kwargs=task_kwargs, environment_kwargs=environment_kwargs)
        self.batch_size = torch.Size([])
        self.device = torch.device(device)
        self._out_device = None if self.device.type == "cpu" else self.device
        self.dtype = dtype
        self.reward_dtype = dtype
        self.frame_skip = int(frame_skip)
        self.from_pixels, self.pixels_only, self.flatten = bool(from_pixels), bool(pixels_only), bool(flatten)
        self._render = dict(height=int(height), width=int(width), camera_id=camera_id)
        self._np_dtype = torch.zeros((), dtype=dtype).numpy().dtype
        self._resets = 0

        state_spec = spec_from_dm_control(self.env.observation_spec(), float_dtype=dtype)
        specs: dict[str, Spec] = {}
        if not (self.from_pixels and self.pixels_only):
            if self.flatten:
                size = sum(int(np.prod(s.shape)) for _, s in _host.leaves(state_spec))
                specs["observation"] = Unbounded((size,), dtype)
            else:
                specs.update(cast(Composite, state_spec).items())
        if self.from_pixels:
            self._check_render(fn)
            specs["pixels"] = Bounded(0, 255, (int(height), int(width), 3), torch.uint8)
        self.observation_spec = specs["observation"] if list(specs) == ["observation"] else Composite(specs)
        self._state_keys = list(self.env.observation_spec().keys())
        self.action_spec = spec_from_dm_control(self.env.action_spec(), float_dtype=dtype)
        self._to_host = _host.action_leaf(self.action_spec, self.env.action_spec().dtype, (), "action")
        self._fn_step = "frl.envs.DMControlEnv.step"

    def _check_render(self, fn: str) -> None:
        try:
            frame = self.env.physics.render(**self._render)
        except Exception as e:  # dm_control raises several kinds, depending on the GL backend
            gl = os.environ.get("MUJOCO_GL", "<unset>")
            fail(fn, f"from_pixels=True needs a working MuJoCo renderer, and physics.render failed with "
                     f"MUJOCO_GL={gl}: {type(e).__name__}: {e}. Set MUJOCO_GL=egl (GPU, or Mesa's EGL) or "
                     "MUJOCO_GL=osmesa (CPU, needs libOSMesa) before dm_control is first imported.",
                     RuntimeError)
        if frame.shape != (self._render["height"], self._render["width"], 3):
            fail(fn, f"physics.render returned shape {list(frame.shape)}, expected "
                     f"[{self._render['height']}, {self._render['width']}, 3]", RuntimeError)

    # ---- observations ---------------------------------------------------------------------------

    def _obs_entries(self, observation) -> dict:
        entries = {}
        if not (self.from_pixels and self.pixels_only):
            if self.flatten:
                # concatenate copies: the result shares no memory with dm_control's buffers.
                flat = np.concatenate([np.ravel(observation[k]) for k in self._state_keys]).astype(self._np_dtype)
                entries["observation"] = _from_numpy(flat)
            else:
                for k in self._state_keys:
                    v = observation[k]
                    dt = self._np_dtype if np.issubdtype(np.asarray(v).dtype, np.floating) else None
                    entries[k] = _from_numpy(np.array(v, dtype=dt))
        if self.from_pixels:
            entries["pixels"] = _from_numpy(np.ascontiguousarray(self.env.physics.render(**self._render)))
        return entries

    def _td(self, entries: dict) -> TensorDict:
        td = _host.new_td(entries, self.batch_size)
        return td if self._out_device is None else td.to(self._out_device)

    # ---- the protocol ---------------------------------------------------------------------------

    def reset(self, key: torch.Tensor | None = None, batch_size: Sequence[int] | int = (), *,
              seed: int | None = None) -> TensorDict:
        """Start an episode; returns its first observation.

        Args:
            key: an `frl.random` key [2]: the task's random state is seeded from it.
            batch_size: ``()`` (a DMControlEnv is one env).
            seed: an int: the task's random state becomes ``numpy.random.RandomState(seed)``.

        Without key or seed the task continues its own random stream.

        Returns:
            TensorDict []: the observation entries, ``"done"`` / ``"terminated"`` / ``"truncated"``
            [1] False, and ``"key"`` [2] (for `frl.envs.random_action`).
        """
        fn = "frl.envs.DMControlEnv.reset"
        _host.check_batch_size(fn, batch_size, self.batch_size)
        host_seed, frl_key = _host.reset_seed(fn, key, seed, self._resets)
        if host_seed is None:
            self._resets += 1
        else:
            # What suite.load(..., task_kwargs={"random": seed}) gives the task.
            self.env.task._random = np.random.RandomState(host_seed)
        ts = self.env.reset()
        entries = self._obs_entries(ts.observation)
        entries.update(_host.false_flags((1,)))
        entries["key"] = env_keys(frl_key, ())
        return self._td(entries)

    def step(self, td: TensorDictBase) -> TensorDictBase:
        """Apply ``td["action"]`` for ``frame_skip`` control steps; returns ``td.copy()`` with ``"next"``.

        Args:
            td: TensorDict [] with ``"action"`` [*action_spec.shape], floating, inside the spec.

        Returns:
            ``td.copy()`` with ``("next", <observation entries>)``, ``("next", "reward")`` [1] (the
            sum over the skipped frames), ``("next", "terminated")`` (LAST with discount 0),
            ``("next", "truncated")`` (LAST with discount != 0: the time limit) and ``"done"``.
        """
        fn = self._fn_step
        action = self._to_host(fn, _host.get_action(fn, td))
        reward = 0.0
        for _ in range(self.frame_skip):
            ts = self.env.step(action)
            reward += ts.reward or 0.0
            if ts.last():
                break
        last = ts.last()
        term = bool(last and ts.discount == 0)
        entries = self._obs_entries(ts.observation)
        entries["reward"] = _from_numpy(np.array([reward], dtype=self._np_dtype))
        entries["done"] = _from_numpy(np.array([last]))
        entries["terminated"] = _from_numpy(np.array([term]))
        entries["truncated"] = _from_numpy(np.array([last and not term]))
        return _host.with_next(td, self._td(_host.carry_key(td, entries)))

    def auto_reset(self, td: TensorDictBase) -> TensorDict:
        """The next step's input after ``td = env.step(...)``: ``step_mdp(td)``, a finished episode reset.

        Where ``("next", "done")`` is set, the task is reset (continuing its random stream) and its
        first observation replaces the final one, which stays in ``td["next", ...]``.

        Args:
            td: the output of this env's latest `step`.

        Returns:
            A new TensorDict []; ``td`` is not modified.
        """
        fn = "frl.envs.DMControlEnv.auto_reset"
        try:
            done = _host.get(_host.get(td, "next"), "done")
        except KeyError:
            check_keys(fn, td, (("next", "done"),))
        nxt = _host.next_input(td)
        if not (done.item() if done.numel() == 1 else bool(done.any())):
            return nxt
        entries = self._obs_entries(self.env.reset().observation)
        entries.update(_host.false_flags((1,)))
        for k, v in self._td(entries).items():
            nxt.set(k, v)
        return nxt

    def __repr__(self) -> str:
        pix = f", from_pixels=True, pixels_only={self.pixels_only}" if self.from_pixels else ""
        return (f"DMControlEnv({self.domain!r}, {self.task!r}{pix}, frame_skip={self.frame_skip}, "
                f"dtype={self.dtype})")
