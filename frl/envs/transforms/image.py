"""Image transforms: ToTensorImage (uint8 HWC -> float CHW), Resize, GrayScale."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from frl._checks import fail
from frl.envs.specs import Bounded, Unbounded
from frl.envs.transforms._base import KeyTransform

__all__ = ["ToTensorImage", "Resize", "GrayScale"]

# ITU-R 601-2 luma weights, as torchvision's rgb_to_grayscale.
_LUMA = (0.2989, 0.587, 0.114)


class ToTensorImage(KeyTransform):
    """uint8 images [*B, H, W, C] in [0, 255] to float [*B, C, H, W] in [0, 1] (divided by 255).

    Args:
        in_keys, out_keys: the image entries (``["pixels"]``, TorchRL's default).
        dtype: the floating dtype of the output.

    Example:
        >>> env = TransformedEnv(pixel_env, [ToTensorImage(), Resize(64, 64), GrayScale()])

    References:
        TorchRL, ``torchrl.envs.transforms.ToTensorImage``.
    """

    def __init__(self, in_keys=None, out_keys=None, *, dtype: torch.dtype = torch.float32):
        super().__init__(in_keys, out_keys, default_in_keys=("pixels",))
        self.dtype = dtype

    def _apply(self, x, key):
        if x.dim() < 3:
            fail(self.name, f"{key!r} has shape {list(x.shape)}, expected an image [*B, H, W, C]")
        return x.movedim(-1, -3).to(self.dtype).div(255.0)

    def _apply_spec(self, spec, key):
        if len(spec.shape) < 3:
            fail(self.name, f"the spec of {key!r} has shape {list(spec.shape)}, expected [H, W, C]")
        h, w, c = spec.shape[-3:]
        shape = tuple(spec.shape[:-3]) + (c, h, w)
        return Bounded(0.0, 1.0, shape, self.dtype, spec.device)


class Resize(KeyTransform):
    """Resize float images [*B, C, H, W] to [*B, C, w, h] with ``torch.nn.functional.interpolate``.

    The sizes are named as TorchRL's ``Resize(w, h)``, which passes ``[w, h]`` as the output's last two
    dimensions. Use `ToTensorImage` first: interpolation works on floating images.

    Args:
        w: the size of the output's second-to-last dimension.
        h: the size of its last dimension (default ``w``).
        in_keys, out_keys: the image entries (``["pixels"]``).
        interpolation: ``interpolate``'s mode (``"bilinear"``, ``"nearest"``, ``"bicubic"``, ``"area"``).
        antialias: ``interpolate``'s antialias (bilinear and bicubic only).

    References:
        TorchRL, ``torchrl.envs.transforms.Resize``.
    """

    def __init__(self, w: int, h: int | None = None, *, in_keys=None, out_keys=None,
                 interpolation: str = "bilinear", antialias: bool = False):
        super().__init__(in_keys, out_keys, default_in_keys=("pixels",))
        self.w, self.h = int(w), int(w if h is None else h)
        self.interpolation, self.antialias = interpolation, bool(antialias)

    def _interp(self, x):
        lead = tuple(x.shape[:-3])
        flat = x.reshape((-1,) + tuple(x.shape[-3:]))
        kwargs = {}
        if self.interpolation in ("bilinear", "bicubic"):
            kwargs = {"align_corners": False, "antialias": self.antialias}
        y = F.interpolate(flat, size=(self.w, self.h), mode=self.interpolation, **kwargs)
        return y.reshape(lead + tuple(y.shape[-3:]))

    def _apply(self, x, key):
        if x.dim() < 3:
            fail(self.name, f"{key!r} has shape {list(x.shape)}, expected an image [*B, C, H, W]")
        if not x.is_floating_point():
            fail(self.name, f"{key!r} has dtype {x.dtype}, expected a floating image (add ToTensorImage first)",
                 TypeError)
        return self._interp(x)

    def _apply_spec(self, spec, key):
        if len(spec.shape) < 3:
            fail(self.name, f"the spec of {key!r} has shape {list(spec.shape)}, expected [C, H, W]")
        shape = tuple(spec.shape[:-3]) + (spec.shape[-3], self.w, self.h)
        if isinstance(spec, Bounded) and spec.dtype.is_floating_point:
            # Interpolation stays within the range of its inputs, so the resized bounds bound the output.
            lo, hi = self._interp(spec.low), self._interp(spec.high)
            if self.interpolation == "bicubic":  # cubic kernels overshoot: keep the global range
                lo, hi = torch.full(shape, float(spec.low.min())), torch.full(shape, float(spec.high.max()))
            return Bounded(lo, hi, shape, spec.dtype, spec.device)
        return Unbounded(shape, spec.dtype, spec.device)

    def __repr__(self) -> str:
        return f"Resize(w={self.w}, h={self.h}, interpolation={self.interpolation!r}, in_keys={self.in_keys})"


class GrayScale(KeyTransform):
    """RGB images [*B, 3, H, W] to luma [*B, 1, H, W] with torchvision's ITU-R 601-2 weights.

    ``0.2989 R + 0.587 G + 0.114 B``, as ``torchvision.transforms.functional.rgb_to_grayscale``.

    Args:
        in_keys, out_keys: the image entries (``["pixels"]``).

    References:
        TorchRL, ``torchrl.envs.transforms.GrayScale``; torchvision, ``rgb_to_grayscale``.
    """

    def __init__(self, in_keys=None, out_keys=None):
        super().__init__(in_keys, out_keys, default_in_keys=("pixels",))

    def _apply(self, x, key):
        if x.dim() < 3 or x.shape[-3] != 3:
            fail(self.name, f"{key!r} has shape {list(x.shape)}, expected an RGB image [*B, 3, H, W]")
        r, g, b = x.unbind(-3)
        return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).to(x.dtype).unsqueeze(-3)

    def _apply_spec(self, spec, key):
        if len(spec.shape) < 3 or spec.shape[-3] != 3:
            fail(self.name, f"the spec of {key!r} has shape {list(spec.shape)}, expected [3, H, W]")
        shape = tuple(spec.shape[:-3]) + (1,) + tuple(spec.shape[-2:])
        if isinstance(spec, Bounded):
            # The weights sum to 1 and are positive: the output stays within the channels' range.
            lo = spec.low.amin(-3, keepdim=True)
            hi = spec.high.amax(-3, keepdim=True)
            return Bounded(lo, hi, shape, spec.dtype, spec.device)
        return Unbounded(shape, spec.dtype, spec.device)
