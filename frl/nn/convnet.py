"""Convolutional network (Conv2d stack + flatten) as a functional `Module`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from tensordict import TensorDict

from frl import random as fr
from frl._checks import fail
from frl.nn._layers import activation_fn, check_init, init_weight_bias
from frl.nn.module import Module

__all__ = ["convnet"]


def _per_layer(fn: str, name: str, value, n: int) -> list[int]:
    values = [int(value)] * n if isinstance(value, int) else [int(v) for v in value]
    if len(values) != n:
        fail(fn, f"{name} has {len(values)} entries, expected {n} (one per layer in num_cells)")
    return values


def convnet(in_channels: int, num_cells: Sequence[int] = (32, 64, 64),
            kernel_sizes: int | Sequence[int] = (8, 4, 3), strides: int | Sequence[int] = (4, 2, 1),
            paddings: int | Sequence[int] = 0, activation: str | Callable = "relu",
            activate_last: bool = True, init: str = "torch", dtype: torch.dtype = torch.float32,
            gain: float = math.sqrt(2.0)) -> Module:
    """A stack of Conv2d layers followed by a flatten, as pure ``init`` / ``apply``.

    The defaults are the DQN "Nature" encoder (Mnih et al., 2015) used by CleanRL's Atari agents.
    Parameters are laid out as ``TensorDict.from_module(nn.Sequential(Conv2d, Act, Conv2d, Act, ...,
    nn.Flatten()))``: keys ``"0"``, ``"2"``, ... with ``"weight"`` [out, in, k, k] and ``"bias"`` [out].

    Args:
        in_channels: channels of the input image.
        num_cells: output channels of each convolution.
        kernel_sizes: one square kernel size per layer (or one int for all).
        strides: one stride per layer (or one int for all).
        paddings: one zero-padding per layer (or one int for all).
        activation: a name (see `mlp`) or a callable, applied after each convolution.
        activate_last: apply the activation after the last convolution too (default, as TorchRL's
            ConvNet and the Nature encoder).
        init: "torch" (as torch.nn.Conv2d's default init) or "orthogonal" (times ``gain``, zero bias).
        dtype: the parameters' dtype.
        gain: orthogonal init's gain.

    Returns:
        `Module` with ``apply(params, x [*B, C, H, W]) -> [*B, features]`` for any leading batch
        dimensions. ``features`` is ``num_cells[-1] * H_out * W_out``; apply it to a zero image
        to read it off.

    Example:
        >>> enc = frl.nn.convnet(4)
        >>> params = enc.init(frl.random.key(0))
        >>> enc.apply(params, torch.zeros(2, 4, 84, 84)).shape
        torch.Size([2, 3136])

    References:
        Mnih et al., 2015, "Human-level control through deep reinforcement learning".
    """
    fn = "frl.nn.convnet"
    act = activation_fn(fn, activation)
    check_init(fn, init)
    n = len(num_cells)
    if n == 0:
        fail(fn, "num_cells is empty; give at least one convolution")
    kernels = _per_layer(fn, "kernel_sizes", kernel_sizes, n)
    stride = _per_layer(fn, "strides", strides, n)
    pads = _per_layer(fn, "paddings", paddings, n)
    channels = [int(in_channels), *[int(c) for c in num_cells]]
    names = tuple(str(2 * i) for i in range(n))

    def init_fn(key: torch.Tensor) -> TensorDict:
        keys = fr.split(key, n)
        layers = {}
        for i, name in enumerate(names):
            shape = (channels[i + 1], channels[i], kernels[i], kernels[i])
            w, b = init_weight_bias(keys[i], shape, init, gain, dtype)
            layers[name] = TensorDict(weight=w, bias=b)
        return TensorDict(layers)

    def apply(params: TensorDict, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3 or x.shape[-3] != channels[0]:
            fail(fn + ".apply", f"input has shape {list(x.shape)}, expected [*B, {channels[0]}, H, W]")
        lead = x.shape[:-3]
        # conv2d takes exactly one batch dimension: fold all leading dimensions into it.
        x = x.reshape(-1, *x.shape[-3:])
        for i, name in enumerate(names):
            x = F.conv2d(x, params[name, "weight"], params[name, "bias"], stride[i], pads[i])
            if activate_last or i < n - 1:
                x = act(x)
        return x.reshape(*lead, -1)

    return Module(init_fn, apply)
