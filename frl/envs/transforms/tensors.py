"""Tensor-shape transforms: DoubleToFloat, CatTensors, Unsqueeze."""

from __future__ import annotations

import torch

from frl._checks import check_keys, fail
from frl.envs.specs import Bounded, Unbounded
from frl.envs.transforms._base import KeyTransform, Transform, as_keys, retype

__all__ = ["DoubleToFloat", "CatTensors", "Unsqueeze"]


class DoubleToFloat(Transform):
    """Cast float64 entries to float32 (observations, and the reward).

    Args:
        in_keys: the entries to cast; default: every float64 observation entry of the parent's specs,
            and ``"reward"`` if the parent's reward is float64. Only float64 tensors are cast.

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1", dtype=torch.float64), DoubleToFloat())

    References:
        TorchRL, ``torchrl.envs.transforms.DoubleToFloat``.
    """

    def __init__(self, in_keys=None):
        super().__init__()
        self.in_keys = None if in_keys is None else as_keys(in_keys, ())

    def _keys(self, specs: dict | None = None, reward_spec=None):
        if self.in_keys is not None:
            return list(self.in_keys)
        parent = self._need_parent()
        specs = parent._obs_specs() if specs is None else specs
        keys = [k for k, s in specs.items() if s.dtype == torch.float64]
        rs = parent.reward_spec if reward_spec is None else reward_spec
        if rs.dtype == torch.float64:
            keys.append("reward")
        return keys

    def _cast(self, td, keys):
        out = td.copy()
        present = set(td.keys(include_nested=True))
        for k in keys:
            if k in present and td.get(k).dtype == torch.float64:
                out.set(k, td.get(k).to(torch.float32))
        return out

    def _reset(self, td, prev):
        return self._cast(td, self._keys())

    def _step(self, td, next_td):
        return self._cast(next_td, self._keys())

    def transform_observation_spec(self, specs):
        specs = dict(specs)
        for k in self._keys(specs=specs):
            if k in specs and specs[k].dtype == torch.float64:
                specs[k] = retype(specs[k], torch.float32)
        return specs

    def transform_reward_spec(self, spec):
        if spec.dtype == torch.float64 and "reward" in self._keys(reward_spec=spec):
            return retype(spec, torch.float32)
        return spec

    def __repr__(self) -> str:
        return f"DoubleToFloat(in_keys={self.in_keys})"


class CatTensors(Transform):
    """Concatenate entries along their last dimension into ``out_key``.

    Args:
        in_keys: the entries, each [*B, d_i] (equal sizes except along ``dim``).
        out_key: the result's key (TorchRL's default ``"observation_vector"``).
        dim: the (negative) dimension to concatenate along.
        del_keys: remove the input entries (TorchRL's default, True).

    Example:
        >>> t = CatTensors(["position", "velocity"], out_key="observation")

    References:
        TorchRL, ``torchrl.envs.transforms.CatTensors``.
    """

    def __init__(self, in_keys, out_key="observation_vector", *, dim: int = -1, del_keys: bool = True):
        super().__init__()
        self.in_keys = as_keys(in_keys, ())
        if not self.in_keys:
            fail(self.name, "give at least one in_key")
        if int(dim) >= 0:
            fail(self.name, f"dim={dim}, expected a negative dimension")
        self.out_key = out_key if isinstance(out_key, str) else tuple(out_key)
        self.dim, self.del_keys = int(dim), bool(del_keys)

    def _cat(self, td, what):
        check_keys(self.name, td, self.in_keys, what)
        xs = [td.get(k) for k in self.in_keys]
        ref = xs[0]
        for k, x in zip(self.in_keys, xs, strict=True):
            other = [s for i, s in enumerate(x.shape) if i != x.dim() + self.dim]
            want = [s for i, s in enumerate(ref.shape) if i != ref.dim() + self.dim]
            if x.dim() != ref.dim() or other != want:
                fail(self.name, f"{k!r} has shape {list(x.shape)}, which does not match "
                                f"{self.in_keys[0]!r}'s {list(ref.shape)} except along dim={self.dim}")
        out = td.copy()
        if self.del_keys:
            for k in self.in_keys:
                if k != self.out_key:
                    out.del_(k)
        out.set(self.out_key, torch.cat(xs, dim=self.dim))
        return out

    def _reset(self, td, prev):
        return self._cat(td, "reset")

    def _step(self, td, next_td):
        return self._cat(next_td, "step's next")

    def transform_observation_spec(self, specs):
        specs = dict(specs)
        missing = [k for k in self.in_keys if k not in specs]
        if missing:
            fail(self.name, f"the parent's observation specs have no {missing[0]!r} (they have "
                            f"{', '.join(map(repr, specs)) or 'none'})")
        ss = [specs[k] for k in self.in_keys]
        dtype = ss[0].dtype
        for s in ss[1:]:
            dtype = torch.promote_types(dtype, s.dtype)
        if all(isinstance(s, Bounded) for s in ss):
            low = torch.cat([s.low.to(dtype) for s in ss], self.dim)
            high = torch.cat([s.high.to(dtype) for s in ss], self.dim)
            new = Bounded(low, high, tuple(low.shape), dtype, ss[0].device)
        else:
            shape = list(ss[0].shape)
            shape[self.dim] = sum(s.shape[self.dim] for s in ss)
            new = Unbounded(tuple(shape), dtype, ss[0].device)
        if self.del_keys:
            for k in self.in_keys:
                specs.pop(k)
        specs[self.out_key] = new
        return specs

    def __repr__(self) -> str:
        return f"CatTensors(in_keys={self.in_keys}, out_key={self.out_key!r})"


class Unsqueeze(KeyTransform):
    """Insert a size-1 dimension at ``dim`` (negative: counted from the end) of each entry.

    Args:
        dim: where the new dimension goes in the result, e.g. ``-1`` turns [*B, 3] into [*B, 3, 1].
        in_keys, out_keys: the entries (``["observation"]``).

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), [Unsqueeze(-2), CatFrames(4, dim=-2)])

    References:
        TorchRL, ``torchrl.envs.transforms.UnsqueezeTransform``.
    """

    def __init__(self, dim: int, in_keys=None, out_keys=None):
        super().__init__(in_keys, out_keys)
        if int(dim) >= 0:
            fail(self.name, f"dim={dim}, expected a negative dimension (counted from the end, so that "
                            "it does not depend on the batch shape)")
        self.dim = int(dim)

    def _apply(self, x, key):
        if x.dim() + 1 < -self.dim:
            fail(self.name, f"{key!r} has shape {list(x.shape)}: cannot unsqueeze dim={self.dim}")
        return x.unsqueeze(self.dim)

    def _apply_spec(self, spec, key):
        if len(spec.shape) + 1 < -self.dim:
            fail(self.name, f"the spec of {key!r} has shape {list(spec.shape)}: cannot unsqueeze dim={self.dim}")
        shape = torch.Size(spec.shape)
        shape = tuple(torch.empty(shape, device="meta").unsqueeze(self.dim).shape)
        if isinstance(spec, Bounded):
            return Bounded(spec.low.unsqueeze(self.dim), spec.high.unsqueeze(self.dim), shape, spec.dtype,
                           spec.device)
        if isinstance(spec, Unbounded):
            return Unbounded(shape, spec.dtype, spec.device)
        fail(self.name, f"cannot unsqueeze a {type(spec).__name__} spec", TypeError)

    def __repr__(self) -> str:
        return f"Unsqueeze(dim={self.dim}, in_keys={self.in_keys})"
