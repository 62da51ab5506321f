"""The optimizers: chains of the building blocks, equal step for step to their torch.optim namesakes."""

from __future__ import annotations

from frl._checks import fail
from frl.optim._base import GradientTransformation, Schedule, chain
from frl.optim._transforms import (
    named_add_decayed_weights,
    named_scale_by_adam,
    named_scale_by_learning_rate,
    named_trace,
)

__all__ = ["adam", "adamw", "sgd"]


def adam(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         weight_decay: float = 0.0, amsgrad: bool = False) -> GradientTransformation:
    """Adam, as ``torch.optim.Adam``: weight decay is L2 regularization, added to the gradient.

    Args:
        learning_rate: a float >= 0, or a schedule ``count -> lr`` (see `linear_schedule`).
        b1: decay of the first moment, in [0, 1).
        b2: decay of the second moment, in [0, 1).
        eps: added to the denominator after the square root.
        weight_decay: L2 coefficient: ``weight_decay * params`` is added to the gradient first.
        amsgrad: use the running maximum of the second moment.

    Returns:
        ``chain(add_decayed_weights(weight_decay), scale_by_adam(...), scale_by_learning_rate(lr))``,
        without the first piece when ``weight_decay == 0``. With weight decay, ``update`` needs params.

    Example:
        >>> params = TensorDict.from_module(net).detach()
        >>> opt = frl.optim.adam(3e-4)
        >>> state = opt.init(params)
        >>> grads = torch.func.grad(loss)(params, batch)
        >>> updates, state = opt.update(grads, state, params)
        >>> params = frl.optim.apply_updates(params, updates)

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """
    parts = []
    if weight_decay != 0.0:
        parts.append(named_add_decayed_weights("adam", weight_decay))
    parts += [named_scale_by_adam("adam", b1, b2, eps, amsgrad), named_scale_by_learning_rate("adam", learning_rate)]
    return chain(*parts)


def adamw(learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-2, amsgrad: bool = False) -> GradientTransformation:
    """AdamW, as ``torch.optim.AdamW``: decoupled weight decay, ``params * (1 - lr * weight_decay)``.

    Args:
        learning_rate: a float >= 0, or a schedule ``count -> lr``; the decay is scaled by it too.
        b1, b2, eps, amsgrad: as in `adam`.
        weight_decay: the decoupled decay coefficient (torch's default 1e-2).

    Returns:
        ``chain(scale_by_adam(...), add_decayed_weights(weight_decay), scale_by_learning_rate(lr))``.
        ``update`` needs params.

    Example:
        >>> opt = frl.optim.adamw(1e-3, weight_decay=1e-4)

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    return chain(named_scale_by_adam("adamw", b1, b2, eps, amsgrad), named_add_decayed_weights("adamw", weight_decay),
                 named_scale_by_learning_rate("adamw", learning_rate))


def sgd(learning_rate: float | Schedule, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0, dampening: float = 0.0) -> GradientTransformation:
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    Args:
        learning_rate: a float >= 0, or a schedule ``count -> lr``.
        momentum: momentum coefficient; 0 keeps no state.
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        weight_decay: L2 coefficient, added to the gradient before the momentum.
        dampening: the fraction of the gradient left out of the momentum buffer after the first step.

    Returns:
        ``chain(add_decayed_weights(weight_decay), trace(momentum, nesterov, dampening),
        scale_by_learning_rate(lr))``, each piece left out when it would do nothing.

    Example:
        >>> opt = frl.optim.sgd(0.01, momentum=0.9, nesterov=True)
    """
    if nesterov and (momentum <= 0 or dampening != 0):
        fail("frl.optim.sgd", "nesterov momentum needs momentum > 0 and dampening = 0")
    parts = []
    if weight_decay != 0.0:
        parts.append(named_add_decayed_weights("sgd", weight_decay))
    if momentum != 0.0:
        parts.append(named_trace("sgd", momentum, nesterov, dampening))
    parts.append(named_scale_by_learning_rate("sgd", learning_rate))
    return chain(*parts)
