"""CatFrames: stack the last N observations, the stack carried in the TensorDict."""

from __future__ import annotations

import torch

from frl._checks import check_keys, fail
from frl.envs.specs import Bounded, Unbounded
from frl.envs.transforms._base import Transform, as_keys, key_name

__all__ = ["CatFrames"]


class CatFrames(Transform):
    """Concatenate the last ``N`` observations along ``dim``, oldest first.

    A reset fills the stack with the first observation (TorchRL's ``padding="same"``) or with
    ``padding_value`` before it (``padding="constant"``); each step drops the oldest frame and appends
    the new one. The stack lives in the TensorDict under ``"_<key>_frames"`` (the output entry is a
    copy, so later transforms may rewrite it freely); on auto-reset only the envs that start a new
    episode are refilled.

    Args:
        N: the number of frames.
        dim: the (negative) feature dimension to concatenate along: an observation [*B, 3] with
            ``dim=-1`` gives [*B, 3 N]; images [*B, C, H, W] with ``dim=-3`` give [*B, C N, H, W].
        in_keys, out_keys: the entries to stack (``["observation"]``) and where to write them.
        padding: ``"same"`` or ``"constant"``.
        padding_value: the constant of ``padding="constant"``.

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), CatFrames(4, dim=-1))
        >>> env.reset(seed=0, batch_size=(2,))["observation"].shape
        torch.Size([2, 12])

    References:
        TorchRL, ``torchrl.envs.transforms.CatFrames``; Mnih et al., "Playing Atari with Deep
        Reinforcement Learning", 2013.
    """

    def __init__(self, N: int, dim: int = -1, *, in_keys=None, out_keys=None, padding: str = "same",
                 padding_value: float = 0.0):
        super().__init__()
        if int(N) < 1:
            fail(self.name, f"N={N}, expected at least 1")
        if int(dim) >= 0:
            fail(self.name, f"dim={dim}, expected a negative dimension (counted from the end, so that "
                            "it does not depend on the batch shape)")
        if padding not in ("same", "constant"):
            fail(self.name, f"padding={padding!r}, expected 'same' or 'constant'")
        self.N, self.dim, self.padding, self.padding_value = int(N), int(dim), padding, float(padding_value)
        self.in_keys = as_keys(in_keys, ("observation",))
        self.out_keys = as_keys(out_keys, self.in_keys) if out_keys is not None else list(self.in_keys)
        if len(self.out_keys) != len(self.in_keys):
            fail(self.name, f"got {len(self.in_keys)} in_keys and {len(self.out_keys)} out_keys; "
                            "give one out_key per in_key")

    def _state_key(self, key) -> str:
        return f"_{key_name(key)}_frames"

    def _check_dim(self, x, key, nb):
        if x.dim() - nb < -self.dim:
            fail(self.name, f"{key!r} has shape {list(x.shape)} ({nb} batch dims), too few feature "
                            f"dimensions for dim={self.dim}")

    def _reset(self, td, prev):
        out = td.copy()
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            check_keys(self.name, td, (ki,), "reset")
            x = td.get(ki)
            self._check_dim(x, ki, td.batch_dims)
            if self.padding == "same":
                frames = [x] * self.N
            else:
                frames = [torch.full_like(x, self.padding_value)] * (self.N - 1) + [x]
            stack = torch.cat(frames, dim=self.dim)
            out.set(self._state_key(ki), stack)
            out.set(ko, stack.clone())
        return out

    def _step(self, td, next_td):
        out = next_td.copy()
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            sk = self._state_key(ki)
            check_keys(self.name, td, (sk,), "step's input")
            check_keys(self.name, next_td, (ki,), "step's next")
            x, stack = next_td.get(ki), td.get(sk)
            size = x.shape[self.dim]
            if stack.shape[self.dim] != size * self.N:
                fail(self.name, f"the frame stack {sk!r} has {stack.shape[self.dim]} entries along dim "
                                f"{self.dim}, expected N * {size} = {self.N * size}")
            # Drop the oldest frame (the first `size` entries along dim), append the newest.
            new = torch.cat([stack.narrow(self.dim, size, size * (self.N - 1)), x], dim=self.dim)
            out.set(sk, new)
            out.set(ko, new.clone())
        return out

    def transform_observation_spec(self, specs):
        specs = dict(specs)
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            if ki not in specs:
                continue
            s = specs[ki]
            if len(s.shape) < -self.dim:
                fail(self.name, f"the spec of {ki!r} has shape {list(s.shape)}, too few dimensions for "
                                f"dim={self.dim}")
            if isinstance(s, Bounded):
                low = torch.cat([s.low] * self.N, self.dim)
                high = torch.cat([s.high] * self.N, self.dim)
                if self.padding == "constant":
                    low = torch.minimum(low, torch.full_like(low, self.padding_value))
                    high = torch.maximum(high, torch.full_like(high, self.padding_value))
                specs[ko] = Bounded(low, high, tuple(low.shape), s.dtype, s.device)
            else:
                shape = list(s.shape)
                shape[self.dim] *= self.N
                specs[ko] = Unbounded(tuple(shape), s.dtype, s.device)
        return specs

    def __repr__(self) -> str:
        return f"CatFrames(N={self.N}, dim={self.dim}, in_keys={self.in_keys}, out_keys={self.out_keys})"
