"""Multi-layer perceptron as a functional `Module` with torch.nn.Sequential's parameter layout."""

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

__all__ = ["mlp"]


def mlp(in_features: int, out_features: int, num_cells: Sequence[int] = (64, 64),
        activation: str | Callable = "tanh", activate_last: bool = False, init: str = "torch",
        dtype: torch.dtype = torch.float32, gain: float = math.sqrt(2.0),
        last_gain: float | None = None) -> Module:
    """A fully connected network ``Linear -> act -> ... -> Linear`` as pure ``init`` / ``apply``.

    The parameters are laid out exactly as ``TensorDict.from_module(nn.Sequential(Linear, Act,
    Linear, Act, ..., Linear))``: keys ``"0"``, ``"2"``, ``"4"``... each holding ``"weight"``
    [out, in] and ``"bias"`` [out]. So ``params.to_module(seq)`` loads them into such a Sequential
    and ``TensorDict.from_module(seq)`` gives parameters for ``apply``.

    Args:
        in_features: size of the input's last dimension.
        out_features: size of the output's last dimension.
        num_cells: widths of the hidden layers; ``()`` gives a single linear layer.
        activation: a name ("tanh", "relu", "elu", "gelu", "silu", "mish", "leaky_relu", "sigmoid",
            "softplus", "identity") or a callable applied after each hidden layer.
        activate_last: also apply the activation to the output.
        init: "torch" draws as torch.nn.Linear does (kaiming-uniform with a=sqrt(5), so weights and
            biases are U(-1/sqrt(in), 1/sqrt(in))); "orthogonal" draws orthogonal weights times
            ``gain`` (``last_gain`` for the output layer) with zero biases, as CleanRL's PPO.
        dtype: the parameters' dtype.
        gain: orthogonal init's gain of the hidden layers (ignored by init="torch").
        last_gain: orthogonal init's gain of the output layer; defaults to ``gain``. CleanRL uses
            0.01 for a policy head and 1.0 for a value head.

    Returns:
        `Module` with ``init(key) -> params`` and ``apply(params, x [*B, in_features]) -> [*B,
        out_features]`` for any leading batch dimensions.

    Example:
        >>> net = frl.nn.mlp(3, 1, num_cells=(128, 128, 128))
        >>> params = net.init(frl.random.key(0))
        >>> net.apply(params, torch.zeros(8, 3)).shape
        torch.Size([8, 1])
    """
    fn = "frl.nn.mlp"
    act = activation_fn(fn, activation)
    check_init(fn, init)
    # A zero width builds empty weight matrices that init and apply accept without complaint: a network
    # with no inputs (or outputs) would silently compute a constant (or nothing).
    for name, width in (("in_features", in_features), ("out_features", out_features)):
        if int(width) < 1:
            fail(fn, f"{name}={width!r}, expected a positive integer")
    cells = tuple(num_cells)
    for i, width in enumerate(cells):
        if int(width) < 1:
            fail(fn, f"num_cells[{i}]={width!r} (num_cells={cells!r}), expected positive widths of the hidden "
                     "layers (() for a single linear layer)")
    widths = [int(in_features), *[int(c) for c in cells], int(out_features)]
    n_layers = len(widths) - 1
    # nn.Sequential numbers Linear and activation modules alike: the Linear layers are 0, 2, 4, ...
    names = tuple(str(2 * i) for i in range(n_layers))
    last_gain = gain if last_gain is None else last_gain

    def init_fn(key: torch.Tensor) -> TensorDict:
        keys = fr.split(key, n_layers)
        layers = {}
        for i, name in enumerate(names):
            g = last_gain if i == n_layers - 1 else gain
            w, b = init_weight_bias(keys[i], (widths[i + 1], widths[i]), init, g, dtype)
            layers[name] = TensorDict(weight=w, bias=b)
        return TensorDict(layers)

    def apply(params: TensorDict, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 0 or x.shape[-1] != widths[0]:
            fail("frl.nn.mlp.apply", f"input has last dimension {x.shape[-1] if x.ndim else 'none'}, "
                                     f"expected {widths[0]}")
        for i, name in enumerate(names):
            x = F.linear(x, params[name, "weight"], params[name, "bias"])
            if activate_last or i < n_layers - 1:
                x = act(x)
        return x

    return Module(init_fn, apply)
