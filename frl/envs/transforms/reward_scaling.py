"""RewardScaling: an affine map of the reward."""

from __future__ import annotations

import torch

from frl.envs.specs import Unbounded
from frl.envs.transforms._base import KeyTransform

__all__ = ["RewardScaling"]


class RewardScaling(KeyTransform):
    """``reward * scale + loc``, or ``(reward - loc) / scale`` with ``standard_normal=True`` (TorchRL's).

    Args:
        loc, scale: floats or tensors broadcastable to the reward [*B, 1]; ``scale`` is floored at 1e-6
            as in TorchRL.
        in_keys, out_keys: the entries of ``"next"`` to map (``["reward"]``).
        standard_normal: the direction of the map.

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), RewardScaling(loc=0.0, scale=0.1))

    References:
        TorchRL, ``torchrl.envs.transforms.RewardScaling``.
    """

    def __init__(self, loc=0.0, scale=1.0, *, in_keys=None, out_keys=None, standard_normal: bool = False):
        super().__init__(in_keys, out_keys, default_in_keys=("reward",))
        self.loc = torch.as_tensor(loc, dtype=torch.get_default_dtype())
        self.scale = torch.clamp_min(torch.as_tensor(scale, dtype=torch.get_default_dtype()), 1e-6)
        self.standard_normal = bool(standard_normal)

    def _apply(self, x, key):
        loc, scale = self.loc.to(x.device, x.dtype), self.scale.to(x.device, x.dtype)
        return (x - loc) / scale if self.standard_normal else x * scale + loc

    def _apply_spec(self, spec, key):
        return Unbounded(spec.shape, spec.dtype, spec.device)

    def __repr__(self) -> str:
        return f"RewardScaling(loc={self.loc.tolist()}, scale={self.scale.tolist()}, in_keys={self.in_keys})"
