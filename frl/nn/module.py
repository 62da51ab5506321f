"""The functional module: a pair of pure functions ``init(key) -> params`` and ``apply(params, ...)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from tensordict import TensorDict

__all__ = ["Module"]


class Module(NamedTuple):
    """A network as two pure functions, in the manner of haiku's ``transform`` and flax's ``Module``.

    ``init(key)`` draws fresh parameters from an `frl.random` key and returns them as a TensorDict;
    ``apply(params, *inputs)`` computes the output from parameters and inputs, touching nothing else.
    Because both are pure, ``torch.func.vmap(m.init)(keys)`` builds an ensemble and
    ``torch.func.vmap(m.apply)(ensemble_params, x)`` runs it.

    Attributes:
        init: ``(key: int64 [2]) -> TensorDict`` of parameters.
        apply: ``(params: TensorDict, *inputs, **options) -> output``.

    Example:
        >>> m = frl.nn.mlp(3, 2)
        >>> params = m.init(frl.random.key(0))
        >>> m.apply(params, torch.zeros(5, 3)).shape
        torch.Size([5, 2])
    """

    init: Callable[[torch.Tensor], TensorDict]
    apply: Callable[..., Any]
