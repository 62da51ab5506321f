"""Key-wired modules: a network that reads TensorDict keys and writes its outputs to keys, as TensorDictModule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from tensordict import NestedKey, TensorDict, TensorDictBase, unravel_key
from torch import nn

from frl._checks import check_keys, fail, fmt_key
from frl.nn.actor import ProbabilisticActor
from frl.nn.from_torch import from_torch
from frl.nn.module import Module

__all__ = ["TDModule", "td_module", "td_operator", "key_list"]


class TDModule(NamedTuple):
    """A module wired to TensorDict keys. See `td_module` and `td_operator`.

    Attributes:
        init: ``(key [2]) -> params`` (a batch of keys [N, 2] gives a stacked ensemble).
        apply: ``(params, td [*B], **kwargs) -> td``: a shallow copy of ``td`` with ``out_keys`` set.
        in_keys: the keys read, in order.
        out_keys: the keys written, in order.
        takes_key: whether ``apply`` takes an frl.random ``key=`` (a stochastic policy).
    """

    init: Callable[[torch.Tensor], TensorDict]
    apply: Callable[..., TensorDictBase]
    in_keys: tuple[NestedKey, ...]
    out_keys: tuple[NestedKey, ...]
    takes_key: bool = False


def key_list(fn: str, name: str, keys: NestedKey | Sequence[NestedKey]) -> tuple[NestedKey, ...]:
    """Normalize one key or a list of keys (strings or nested tuples of strings) to a tuple of keys."""
    items = [keys] if isinstance(keys, str) else list(keys)
    out = []
    for k in items:
        if not (isinstance(k, str) or (isinstance(k, tuple) and k and all(isinstance(s, str) for s in k))):
            fail(fn, f"{name} has {k!r}, expected string keys or nested keys (tuples of strings)", TypeError)
        out.append(unravel_key(k))
    if not out:
        fail(fn, f"{name} is empty, expected at least one key")
    return tuple(out)


def _empty_init(key: torch.Tensor) -> TensorDict:
    # A module with no parameters (a plain function): empty params, stacked over a batch of keys.
    return TensorDict(batch_size=key.shape[:-1])


def _as_module(fn: str, module: Any) -> tuple[Callable[[torch.Tensor], TensorDict], Callable[..., Any]]:
    if isinstance(module, nn.Module):
        wrapped = from_torch(module)
        if wrapped.returns_state:
            fail(fn, f"the {type(module).__name__} has buffers that apply returns as new state; a key-wired "
                     "module writes outputs only: wrap it as frl.nn.from_torch(module, return_state=False) "
                     "(running statistics are then not updated), or call its apply directly")
        return wrapped.init, wrapped.apply
    if isinstance(module, Module) or (hasattr(module, "init") and hasattr(module, "apply")):
        return module.init, module.apply
    if callable(module):
        return _empty_init, lambda params, *xs, **kw: module(*xs, **kw)
    fail(fn, f"module is a {type(module).__name__}, expected an frl Module, a torch.nn.Module or a callable",
         TypeError)


def td_module(module: Any, in_keys: NestedKey | Sequence[NestedKey],
              out_keys: NestedKey | Sequence[NestedKey]) -> TDModule:
    """A network that reads ``in_keys`` from a TensorDict and writes its outputs to ``out_keys``.

    The functional form of tensordict's ``TensorDictModule``: ``apply(params, td)`` calls the
    network on ``td[k] for k in in_keys`` (positionally, in that order) and returns a shallow copy of
    ``td`` with output ``i`` at ``out_keys[i]``. ``td`` is never modified.

    Args:
        module: an frl `Module` (``mlp``, ``from_torch(...)``), a ``torch.nn.Module`` (wrapped with
            `from_torch`), or a plain function of tensors (no parameters: ``init`` gives an empty
            TensorDict).
        in_keys: a key or a list of keys (nested keys are tuples of strings).
        out_keys: a key or a list of keys; the network returns one tensor per key (a tensor for one key,
            a tuple or list for several).

    Returns:
        `TDModule` ``(init, apply, in_keys, out_keys)``; ``apply(params, td [*B], **kwargs) -> td``
        passes ``kwargs`` to the network. A missing input key and a wrong number of outputs are errors
        that name the key or the counts.

    Example:
        >>> transformer = torch.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1,
        ...                                    num_decoder_layers=1, dim_feedforward=32, batch_first=True)
        >>> m = frl.nn.td_module(transformer, in_keys=["src", "tgt"], out_keys=["out"])
        >>> td = TensorDict(src=torch.rand(4, 10, 16), tgt=torch.rand(4, 20, 16), batch_size=[4])
        >>> m.apply(m.init(frl.random.key(0)), td)["out"].shape
        torch.Size([4, 20, 16])

    References:
        tensordict.nn.TensorDictModule (used by TorchRL).
    """
    fn = "frl.nn.td_module"
    ins = key_list(fn, "in_keys", in_keys)
    outs = key_list(fn, "out_keys", out_keys)
    init, net_apply = _as_module(fn, module)
    name = fn + ".apply"

    def apply(params: TensorDict, td: TensorDictBase, **kwargs: Any) -> TensorDictBase:
        check_keys(name, td, ins)
        result = net_apply(params, *[td.get(k) for k in ins], **kwargs)
        results = (result,) if isinstance(result, (torch.Tensor, TensorDictBase)) else result
        if not isinstance(results, (tuple, list)) or len(results) != len(outs):
            if isinstance(result, (torch.Tensor, TensorDictBase)):
                got = "one tensor"
            elif isinstance(results, (tuple, list)):
                got = f"{len(results)} outputs"
            else:
                got = f"a {type(result).__name__}"
            fail(name, f"the network returned {got}, expected {len(outs)} (one per out_key: "
                       f"{', '.join(fmt_key(k) for k in outs)})")
        out = td.copy()
        for k, v in zip(outs, results, strict=True):
            if not isinstance(v, (torch.Tensor, TensorDictBase)):
                fail(name, f"output for {fmt_key(k)} is a {type(v).__name__}, expected a tensor")
            out.set(k, v)
        return out

    return TDModule(init, apply, ins, outs, False)


def td_operator(operator: Any, in_keys: NestedKey | Sequence[NestedKey],
                out_keys: NestedKey | Sequence[NestedKey], takes_key: bool | None = None) -> TDModule:
    """Declare the keys that a TensorDict operator (an actor, a critic) reads and writes.

    frl's operators (`probabilistic_actor`, `value_operator`, `q_value_operator`, ...) already map a
    TensorDict to a TensorDict; this names their keys so that they chain in `td_sequential`. ``apply``
    checks ``in_keys``, runs the operator and copies only ``out_keys`` from its result into a copy of
    the input, so the keys a sequence reports are exactly those it writes.

    Args:
        operator: anything with ``init(key)`` and ``apply(params, td, **kwargs) -> td``.
        in_keys: the keys it reads.
        out_keys: the keys it writes that the sequence keeps.
        takes_key: whether ``apply`` takes ``key=``; defaults to True for a `ProbabilisticActor`.

    Returns:
        `TDModule`.

    Example:
        >>> critic = frl.nn.td_operator(frl.nn.value_operator(frl.nn.mlp(8, 1)), ["hidden"], ["state_value"])
        >>> critic.in_keys, critic.out_keys
        (('hidden',), ('state_value',))
    """
    fn = "frl.nn.td_operator"
    ins = key_list(fn, "in_keys", in_keys)
    outs = key_list(fn, "out_keys", out_keys)
    if not (hasattr(operator, "init") and hasattr(operator, "apply")):
        fail(fn, f"operator is a {type(operator).__name__}, expected an operator with init and apply", TypeError)
    stochastic = isinstance(operator, ProbabilisticActor) if takes_key is None else bool(takes_key)
    name = fn + ".apply"

    def apply(params: TensorDict, td: TensorDictBase, **kwargs: Any) -> TensorDictBase:
        check_keys(name, td, ins)
        result = operator.apply(params, td, **kwargs)
        check_keys(name, result, outs, what="operator's output")
        out = td.copy()
        for k in outs:
            out.set(k, result.get(k))
        return out

    return TDModule(operator.init, apply, ins, outs, stochastic)
