"""Value-function regression losses shared by the actor-critic objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from frl._checks import check_same_shape, fail

__all__ = ["value_loss"]

_KINDS = ("l2", "smooth_l1", "l1")


def value_loss(value: torch.Tensor, target: torch.Tensor, *, kind: str = "smooth_l1",
               value_old: torch.Tensor | None = None, clip: float | None = None) -> torch.Tensor:
    """Elementwise loss between a predicted value and its target, optionally clipped as in PPO.

    Args:
        value: predictions, any shape [...].
        target: regression targets (e.g. GAE's value_target), the shape of ``value``; no gradient
            flows into it.
        kind: "l2" (squared error, as TorchRL's "l2"), "smooth_l1" (Huber with delta 1,
            TorchRL's ClipPPOLoss default) or "l1".
        value_old: the values predicted when the data was collected; needed when ``clip`` is set.
        clip: PPO2-style value clipping: the prediction may move at most ``clip`` away from
            ``value_old``, and the larger of the clipped and unclipped losses is taken.

    Returns:
        The elementwise loss, shape [...]. Reduce it yourself (usually ``.mean()``).

    References:
        Dhariwal et al., OpenAI Baselines PPO2 (2017), value clipping.
    """
    fn = "frl.objectives.value_loss"
    if kind not in _KINDS:
        fail(fn, f"kind={kind!r}, expected one of {', '.join(_KINDS)}")
    check_same_shape(fn, "value", value, target=target)
    if value_old is not None:
        check_same_shape(fn, "value", value, value_old=value_old)
    target = target.detach()

    def loss(v):
        if kind == "l2":
            return (v - target).pow(2)
        if kind == "l1":
            return (v - target).abs()
        return F.smooth_l1_loss(v, target, reduction="none")

    if clip is None:
        return loss(value)
    if value_old is None:
        fail(fn, "clip is set but value_old is None: clipping needs the values at collection time")
    value_old = value_old.detach()
    clipped = value_old + (value - value_old).clamp(-clip, clip)
    return torch.maximum(loss(value), loss(clipped))
