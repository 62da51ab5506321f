"""Private helpers shared by mlp and convnet: activations and weight initializers."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from frl import random as fr
from frl._checks import fail

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "leaky_relu": F.leaky_relu,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "identity": lambda x: x,
}

INITS = ("torch", "orthogonal")


def activation_fn(fn: str, activation: str | Callable[[torch.Tensor], torch.Tensor]
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    if callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        fail(fn, f"unknown activation {activation!r}; expected a callable or one of {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[activation]


def check_init(fn: str, init: str) -> None:
    if init not in INITS:
        fail(fn, f"unknown init {init!r}; expected one of {', '.join(INITS)}")


def init_weight_bias(key: torch.Tensor, shape: tuple[int, ...], init: str, gain: float,
                     dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight of ``shape`` = [out, in, *kernel] and bias [out], drawn from ``key``.

    "torch" reproduces torch.nn.Linear / Conv2d.reset_parameters: kaiming_uniform_(a=sqrt(5)) is
    U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + 5)), which is b = 1 / sqrt(fan_in);
    the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)). ``gain`` does not apply to it.
    "orthogonal" follows torch.nn.init.orthogonal_ (QR of a Gaussian matrix, columns' signs fixed by
    diag(R) so the distribution is Haar) times ``gain``, with a zero bias (CleanRL's layer_init).
    """
    k_w, k_b = fr.split(key)
    out_f = shape[0]
    fan_in = math.prod(shape[1:])
    if init == "torch":
        bound = 1.0 / math.sqrt(fan_in)
        weight = fr.uniform(k_w, shape, dtype, -bound, bound)
        bias = fr.uniform(k_b, (out_f,), dtype, -bound, bound)
        return weight, bias
    rows, cols = out_f, fan_in
    a = fr.normal(k_w, (rows, cols), dtype)
    if rows < cols:
        a = a.T
    q, r = torch.linalg.qr(a)
    # Without the sign fix QR's output is biased towards R having a positive diagonal.
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).contiguous(), torch.zeros(out_f, dtype=dtype, device=key.device)
