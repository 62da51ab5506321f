"""Any ``torch.nn.Module`` as a functional `Module`: pure ``apply``, key-driven ``init``, buffers as state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn
from torch.func import functional_call

from frl import tree
from frl._checks import fail
from frl._compat import is_batched_tensor
from frl.nn.module import Module

__all__ = ["TorchModule", "from_torch"]


class TorchModule(Module):
    """The `Module` that `from_torch` returns: ``(init, apply)`` plus what was wrapped.

    It unpacks and is used as any `Module`; the extra attributes describe the wrapped module.

    Attributes:
        init: ``(key [2] or keys [N, 2]) -> params`` (see `from_torch`).
        apply: ``(params, *inputs, **kwargs) -> output``, or ``(output, new_params)`` when
            ``returns_state``.
        module: the wrapped ``torch.nn.Module`` (its own tensors are never read by ``apply``).
        returns_state: whether ``apply`` returns the buffers' new values with its output.
    """

    module: nn.Module
    returns_state: bool


def _flat(params: TensorDictBase) -> dict[str, torch.Tensor]:
    # functional_call names tensors as named_parameters / named_buffers do: "layers.0.linear1.weight".
    out: dict[str, torch.Tensor] = {}
    for k, v in params.items(include_nested=True, leaves_only=True):
        out[k if isinstance(k, str) else ".".join(k)] = cast(torch.Tensor, v)  # leaves_only: tensors
    return out


def _nest(flat: dict[str, torch.Tensor]) -> TensorDict:
    # The layout of TensorDict.from_module: one nested entry per submodule.
    return TensorDict(flat).unflatten_keys(".")


def _post_order(module: nn.Module) -> Iterator[nn.Module]:
    # Children before their parent, in registration order: the order in which construction ran their
    # initializations, so a parent's re-initialization (nn.Transformer's xavier pass) comes last, as it
    # does when the module is built.
    for child in module.children():
        yield from _post_order(child)
    yield module


def _reset_fn(sub: nn.Module) -> Callable[[], Any] | None:
    # Most modules call it reset_parameters; nn.MultiheadAttention and nn.Transformer call their own
    # initialization _reset_parameters (a method of the module, not a torch internal).
    for name in ("reset_parameters", "_reset_parameters"):
        fn = getattr(sub, name, None)
        if callable(fn):
            return fn
    return None


class _Reset(nn.Module):
    """Runs the wrapped module's own initialization, on whatever tensors functional_call swaps in."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.m = module

    def forward(self) -> None:
        for sub in _post_order(self.m):
            fn = _reset_fn(sub)
            if fn is not None:
                fn()


def _seed(key: torch.Tensor) -> int:
    # The key's two 32-bit words as one 64-bit seed of torch's generator.
    k0, k1 = (int(w) & 0xFFFFFFFF for w in key.tolist())
    return (k0 << 32) | k1


def from_torch(module: nn.Module, return_state: bool | None = None) -> TorchModule:
    """Any ``torch.nn.Module`` as an frl `Module`: pure ``apply``, ``init`` driven by a key.

    ``apply(params, *inputs, **kwargs)`` calls the module with ``params`` in place of its own tensors
    (``torch.func.functional_call``): the module's own parameters and buffers are neither read nor
    changed, so ``apply`` vmaps over a stacked ensemble of params and compiles with
    ``fullgraph=True``. Params have the layout of ``TensorDict.from_module(module)`` (parameters and
    buffers, nested by submodule), so the module's current weights are params too: a pretrained
    trunk is ``TensorDict.from_module(trunk)``.

    Buffers are explicit state. A module with buffers (BatchNorm's running statistics) returns
    ``(output, new_params)`` from ``apply``: ``new_params`` is ``params`` with the buffers' new values
    (updated in training mode, unchanged in eval mode; the module's ``training`` flag decides, as it
    does when the module is called). The buffers in ``params`` are never written: the module updates
    copies. ``return_state=False`` returns the output alone (the updates are dropped).

    ``init(key)`` runs the module's own initialization (each submodule's ``reset_parameters``, or
    ``_reset_parameters`` for ``nn.MultiheadAttention`` / ``nn.Transformer``, children before
    parents as construction runs them) with torch's generator seeded from the key, on fresh copies
    of the tensors: the same key gives the same params, and the module is not touched. Tensors that
    no submodule re-initializes (a user's ``nn.Parameter`` made in ``__init__``) keep the module's
    current values. Because torch's generator is host state, ``init`` draws outside ``torch.vmap``
    and ``torch.compile``: for an ensemble pass a batch of keys, ``init(keys [N, 2])``, which equals
    ``frl.tree.stack([init(k) for k in keys])`` (``torch.vmap(init)`` raises and says so). ``apply``
    has no such limit.

    Not every torch op has a vmap rule or traces with dynamo: ``nn.LSTM`` / ``nn.GRU`` run eagerly
    and compile with ``torch._dynamo.config.allow_rnn = True``, but torch has no vmap rule for
    them (vmap the inputs' batch dimension into the sequence batch instead).

    Args:
        module: any ``torch.nn.Module``.
        return_state: return ``(output, new_params)``; defaults to whether the module has buffers.

    Returns:
        `TorchModule` ``(init, apply)`` with ``module`` and ``returns_state``:

        * ``init(key [2]) -> params``; ``init(keys [N, 2]) -> params [N]``.
        * ``apply(params, *inputs, **kwargs) -> output`` (or ``(output, new_params)``): the module's
          ``forward`` on ``inputs``, with ``params``' tensors.

    Example:
        >>> net = frl.nn.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(),
        ...                                             torch.nn.Linear(8, 2)))
        >>> params = net.init(frl.random.key(0))
        >>> net.apply(params, torch.zeros(5, 3)).shape
        torch.Size([5, 2])
        >>> ensemble = net.init(frl.random.split(frl.random.key(0), 8))
        >>> torch.vmap(net.apply, (0, None))(ensemble, torch.zeros(5, 3)).shape
        torch.Size([8, 5, 2])

    References:
        torch.func.functional_call and the model-ensembling tutorial of torch.func;
        TorchRL / tensordict's ``TensorDict.from_module`` and ``to_module``.
    """
    fn = "frl.nn.from_torch"
    if not isinstance(module, nn.Module):
        fail(fn, f"module is a {type(module).__name__}, expected a torch.nn.Module", TypeError)
    template = TensorDict.from_module(module, as_module=False, lock=False).detach()
    names = frozenset(_flat(template))
    buffer_names = tuple(name for name, _ in module.named_buffers())
    state = bool(buffer_names) if return_state is None else bool(return_state)
    resetter = _Reset(module)
    apply_name = fn + ".apply"
    init_name = fn + ".init"

    def init_one(key: torch.Tensor) -> TensorDict:
        fresh = {"m." + k: v.clone() for k, v in _flat(template).items()}
        devices = sorted({v.device.index or 0 for v in fresh.values() if v.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(_seed(key))
            # The resets write into the fresh copies (functional_call swaps them in), not the module.
            functional_call(resetter, fresh, ())
        return _nest({k[2:]: v for k, v in fresh.items()})

    def init(key: torch.Tensor) -> TensorDict:
        if not isinstance(key, torch.Tensor) or key.dtype != torch.int64 or key.shape[-1:] != (2,) \
                or key.ndim not in (1, 2):
            got = f"shape {list(key.shape)} and dtype {key.dtype}" if isinstance(key, torch.Tensor) \
                else type(key).__name__
            fail(init_name, f"key must be an int64 key [2] or a batch of keys [N, 2]; got {got}", TypeError)
        if is_batched_tensor(key):
            fail(init_name, "cannot run under torch.vmap: the module's own initialization draws from "
                            "torch's generator; pass the batch of keys instead, init(keys [N, 2])")
        if key.ndim == 2:
            return tree.stack([init_one(k) for k in key.unbind(0)])
        return init_one(key)

    def apply(params: TensorDictBase, *inputs: Any, **kwargs: Any) -> Any:
        if not isinstance(params, TensorDictBase):
            fail(apply_name, f"params is a {type(params).__name__}, expected a TensorDict "
                             "(from init, or TensorDict.from_module(module))", TypeError)
        tensors = _flat(params)
        if not names.issubset(tensors.keys()):
            missing = sorted(names.difference(tensors.keys()))
            fail(apply_name, f"params have no entry {missing[0]!r} of {type(module).__name__} "
                             f"({len(missing)} of {len(names)} missing); expected the layout of "
                             "TensorDict.from_module(module)")
        # Buffers are copied before the call: a module that updates them in place (BatchNorm in
        # training mode) writes into the copies, which become the new state; params stay as they were.
        for name in buffer_names:
            tensors[name] = tensors[name].clone()
        out = functional_call(module, tensors, inputs, kwargs, tie_weights=True, strict=False)
        if not state:
            return out
        new_params = params.copy()
        for name in buffer_names:
            new_params.set(tuple(name.split(".")), tensors[name])
        return out, new_params

    wrapped = TorchModule(init, apply)
    # TorchModule is a NamedTuple subclass without __slots__: its instances carry these two attributes.
    wrapped.module = module
    wrapped.returns_state = state
    return wrapped
