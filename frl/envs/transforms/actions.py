"""Action transforms: ClipAction and RescaleAction map the agent's action to the base env's."""

from __future__ import annotations

import torch

from frl._checks import check_keys, fail
from frl.envs.specs import Bounded, Unbounded
from frl.envs.transforms._base import Transform

__all__ = ["ClipAction", "RescaleAction"]


class _ActionTransform(Transform):
    def _bounds(self):
        spec = self._need_parent().action_spec
        if not isinstance(spec, Bounded) or not spec.dtype.is_floating_point:
            fail(self.name, f"needs a float Bounded action spec below it, got {spec!r}", TypeError)
        return spec

    def _map(self, action, spec):
        raise NotImplementedError

    def _inv(self, td):
        check_keys(self.name, td, ("action",))
        spec = self._bounds()
        a = td.get("action")
        if not a.is_floating_point():
            fail(self.name, f"action has dtype {a.dtype}, expected a floating dtype", TypeError)
        out = td.copy()
        out.set("action", self._map(a, spec).to(spec.dtype))
        return out


class ClipAction(_ActionTransform):
    """Clip the action to the base env's bounds; the agent may send any real action.

    The transformed ``action_spec`` is `Unbounded` (gymnasium's ``ClipAction`` makes it a box of
    infinities); the action the base env receives is ``clamp(action, low, high)``.

    Example:
        >>> env = TransformedEnv(frl.envs.make("MountainCarContinuous-v0"), ClipAction())

    References:
        gymnasium, ``gymnasium.wrappers.ClipAction``.
    """

    def _map(self, action, spec):
        low, high = spec.low.to(action.device, action.dtype), spec.high.to(action.device, action.dtype)
        return torch.minimum(torch.maximum(action, low), high)

    def transform_action_spec(self, spec):
        return Unbounded(spec.shape, spec.dtype, spec.device)


class RescaleAction(_ActionTransform):
    """Let the agent act in ``[min_action, max_action]``, mapped affinely to the base env's ``[low, high]``.

    The base env receives ``clip(low + (high - low) (a - min_action) / (max_action - min_action), low,
    high)``, as gymnasium's ``RescaleAction``; the transformed ``action_spec`` is
    ``Bounded(min_action, max_action)``.

    Args:
        min_action, max_action: floats or tensors broadcastable to the action.

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), RescaleAction(-1.0, 1.0))

    References:
        gymnasium, ``gymnasium.wrappers.RescaleAction``.
    """

    def __init__(self, min_action=-1.0, max_action=1.0):
        super().__init__()
        self.min_action = torch.as_tensor(min_action, dtype=torch.float64)
        self.max_action = torch.as_tensor(max_action, dtype=torch.float64)
        if not bool((self.min_action < self.max_action).all()):
            fail(self.name, f"min_action={min_action} must be below max_action={max_action}")

    def _map(self, action, spec):
        dev, dt = action.device, action.dtype
        lo, hi = spec.low.to(dev, dt), spec.high.to(dev, dt)
        mn, mx = self.min_action.to(dev, dt), self.max_action.to(dev, dt)
        mapped = lo + (hi - lo) * ((action - mn) / (mx - mn))
        return torch.minimum(torch.maximum(mapped, lo), hi)

    def transform_action_spec(self, spec):
        if not isinstance(spec, Bounded):
            fail(self.name, f"needs a Bounded action spec below it, got {spec!r}", TypeError)
        return Bounded(self.min_action.to(spec.dtype), self.max_action.to(spec.dtype), spec.shape, spec.dtype,
                       spec.device)

    def __repr__(self) -> str:
        return f"RescaleAction(min_action={self.min_action.tolist()}, max_action={self.max_action.tolist()})"
