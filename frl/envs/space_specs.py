"""Specs from gymnasium spaces and dm_control array specs, for the host adapters.

`spec_from_gym_space` and `spec_from_dm_control` turn the description of one (unbatched) observation
or action of a host library into frl's specs (`frl.envs.specs`), with the same element shape and a
torch dtype of the same kind:

============================================  ===============================================
gymnasium / dm_control                        frl spec
============================================  ===============================================
``Box`` (all bounds infinite)                 ``Unbounded(shape, dtype)``
``Box`` (otherwise)                           ``Bounded(low, high, shape, dtype)``
``Discrete(n)``                               ``Categorical(n)`` (int64)
``Discrete(n, start=s)``, ``s != 0``          ``Bounded(s, s + n - 1, (), int64)``: values as gymnasium's
``MultiDiscrete(nvec)`` (1-D, start 0)        ``MultiCategorical(nvec)``
``MultiDiscrete`` (n-D or with ``start``)     ``Bounded(start, start + nvec - 1, nvec.shape, int64)``
``MultiBinary(n)`` / ``MultiBinary(shape)``   ``Binary(n)`` (int8) / ``Bounded(0, 1, shape, int8)``
``Dict``                                      ``Composite`` with the same keys (nested Dicts nest)
``Tuple``                                     ``Composite`` with keys ``"0"``, ``"1"``, ...
dm_control ``BoundedArray``                   ``Bounded(minimum, maximum, shape, dtype)``
dm_control ``DiscreteArray``                  ``Categorical(num_values)``
dm_control ``Array``                          ``Unbounded(shape, dtype)``
an (Ordered)dict of dm_control specs          ``Composite``
============================================  ===============================================

A gymnasium ``Discrete`` with a non-zero ``start`` keeps gymnasium's values (no hidden offset), so
its spec is an integer `Bounded`; a policy that outputs indices ``0..n-1`` adds ``start`` itself.

References:
    TorchRL, ``torchrl.envs.libs.gym._gym_to_torchrl_spec_transform`` and
    ``torchrl.envs.libs.dm_control._dmcontrol_to_torchrl_spec_transform``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from frl._checks import fail
from frl.envs.specs import Binary, Bounded, Categorical, Composite, MultiCategorical, Spec, Unbounded

__all__ = ["spec_from_gym_space", "spec_from_dm_control", "torch_dtype"]


def torch_dtype(fn: str, dtype) -> torch.dtype:
    """The torch dtype of a numpy dtype (``np.float32 -> torch.float32``), or a clear error."""
    try:
        return torch.from_numpy(np.zeros((), dtype=np.dtype(dtype))).dtype
    except TypeError:
        fail(fn, f"numpy dtype {np.dtype(dtype)} has no torch equivalent", TypeError)


def _float_dtype(dtype: torch.dtype, float_dtype: torch.dtype | None) -> torch.dtype:
    return float_dtype if float_dtype is not None and dtype.is_floating_point else dtype


def spec_from_gym_space(space, *, float_dtype: torch.dtype | None = None) -> Spec:
    """The frl spec of one element of a gymnasium space (see the module's table).

    Args:
        space: a ``gymnasium.spaces`` Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple
            (nested freely). Unbatched: give a vector env's ``single_observation_space``.
        float_dtype: if given, floating Boxes get this dtype instead of their own.

    Returns:
        A `Spec`; `Composite` for Dict and Tuple.

    Raises:
        TypeError: for other spaces (Text, Graph, Sequence, OneOf, custom spaces), naming the space.

    Example:
        >>> spec_from_gym_space(gymnasium.spaces.Box(-2.0, 2.0, (1,)))
        Bounded(low=tensor([-2.]), high=tensor([2.]), shape=(1,), dtype=torch.float32, ...)
        >>> spec_from_gym_space(gymnasium.spaces.Discrete(3)).n
        3
    """
    from gymnasium import spaces

    fn = "frl.envs.spec_from_gym_space"
    if isinstance(space, spaces.Box):
        dtype = _float_dtype(torch_dtype(fn, space.dtype), float_dtype)
        low, high = np.asarray(space.low), np.asarray(space.high)
        if np.all(np.isneginf(low)) and np.all(np.isposinf(high)):
            return Unbounded(space.shape, dtype)
        # Partly infinite boxes stay Bounded: is_in and project handle infinite bounds.
        return Bounded(torch.as_tensor(low).to(dtype), torch.as_tensor(high).to(dtype), space.shape, dtype)
    if isinstance(space, spaces.Discrete):
        start = int(space.start)
        if start == 0:
            return Categorical(int(space.n), dtype=torch.int64)
        return Bounded(start, start + int(space.n) - 1, (), torch.int64)
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec, dtype=np.int64)
        start = np.asarray(space.start, dtype=np.int64)
        if nvec.ndim == 1 and not start.any():
            return MultiCategorical(tuple(int(v) for v in nvec), dtype=torch.int64)
        return Bounded(torch.from_numpy(start.copy()), torch.from_numpy(start + nvec - 1), nvec.shape, torch.int64)
    if isinstance(space, spaces.MultiBinary):
        dtype = torch_dtype(fn, space.dtype)
        if len(space.shape) == 1:
            return Binary(int(space.shape[0]), dtype=dtype)
        return Bounded(0, 1, space.shape, dtype)
    if isinstance(space, spaces.Dict):
        return Composite({str(k): spec_from_gym_space(s, float_dtype=float_dtype) for k, s in space.spaces.items()})
    if isinstance(space, spaces.Tuple):
        return Composite({str(i): spec_from_gym_space(s, float_dtype=float_dtype) for i, s in enumerate(space.spaces)})
    fail(fn, f"unsupported space {space!r} (of type {type(space).__name__}); supported: Box, Discrete, "
             "MultiDiscrete, MultiBinary, Dict, Tuple", TypeError)


def spec_from_dm_control(spec, *, float_dtype: torch.dtype | None = None) -> Spec:
    """The frl spec of a dm_control (dm_env) array spec, or of a dict of them (see the module's table).

    Args:
        spec: a ``dm_env.specs`` BoundedArray, DiscreteArray or Array, or a mapping (dm_control's
            ``OrderedDict`` observation spec) of them, nested freely.
        float_dtype: if given, floating arrays get this dtype instead of their own (dm_control's
            are float64).

    Returns:
        A `Spec`; `Composite` (same keys, same order) for a mapping.

    Raises:
        TypeError: for anything else (StringArray, ...), naming the spec.

    Example:
        >>> env = dm_control.suite.load("cartpole", "swingup")
        >>> spec_from_dm_control(env.action_spec(), float_dtype=torch.float32).shape
        (1,)
    """
    from dm_env import specs

    fn = "frl.envs.spec_from_dm_control"
    if isinstance(spec, Mapping):
        return Composite({str(k): spec_from_dm_control(s, float_dtype=float_dtype) for k, s in spec.items()})
    if isinstance(spec, specs.DiscreteArray):
        return Categorical(int(spec.num_values), spec.shape, torch.int64)
    if isinstance(spec, specs.StringArray):
        fail(fn, f"unsupported spec {spec!r} (strings have no tensor form)", TypeError)
    if isinstance(spec, specs.BoundedArray):
        dtype = _float_dtype(torch_dtype(fn, spec.dtype), float_dtype)
        low = torch.as_tensor(np.broadcast_to(spec.minimum, spec.shape).copy()).to(dtype)
        high = torch.as_tensor(np.broadcast_to(spec.maximum, spec.shape).copy()).to(dtype)
        return Bounded(low, high, spec.shape, dtype)
    if isinstance(spec, specs.Array):
        return Unbounded(spec.shape, _float_dtype(torch_dtype(fn, spec.dtype), float_dtype))
    fail(fn, f"unsupported spec {spec!r} (of type {type(spec).__name__}); supported: BoundedArray, "
             "DiscreteArray, Array and mappings of them", TypeError)
