"""The one home of the private torch / tensordict internals that frl relies on.

Every use of a private API (a name with a leading underscore, or one torch marks unsafe) goes
through this module, so that a torch or tensordict upgrade that changes one breaks here, in one
place, with a clear message; `tests/test_compat.py` pins what each entry relies on. Where the
installed torch has a public equivalent, the public one is used (torch 2.13 has none for these:
no public pytree module, no public batched-tensor test, no public functional collectives).

Entries:

- `pytree`: ``torch.utils._pytree``, torch's pytree registry, where tensordict registers TensorDict.
- `new_td_unsafe`: ``TensorDict._new_unsafe``, a TensorDict built without validation.
- `new_td_fast`: the same for a plain dict of ready leaves, eagerly, writing TensorDict's four
  instance attributes directly (used only if a probe shows it builds what ``_new_unsafe`` builds).
- `td_entries`, `td_batch_and_device`, `is_plain_td`: a plain TensorDict's entry dict, batch size and
  device, and dim names, read directly.
- `is_batched_tensor`, `is_functorch_wrapped`: ``torch._C._functorch.is_batchedtensor`` and
  ``is_functorch_wrapped_tensor`` (a vmap / grad wrapper around a tensor).
- `foreach_ops`: torch's multi-tensor ops (``torch._foreach_add`` ...), as ``foreach_ops.add`` etc.
- `assert_async`: ``torch._assert_async``, an assert that a compiled graph keeps and that does not
  synchronize with a CUDA device.
- `functional_collectives`: ``torch.distributed._functional_collectives``.
- `global_guard_filter`: ``torch.compiler.skip_guard_on_globals_unsafe``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from types import ModuleType, SimpleNamespace

import torch
import torch.utils._pytree as pytree  # torch's pytree registry: TensorDict registers itself there
from tensordict import TensorDict
from torch._C._functorch import is_batchedtensor as _is_batchedtensor
from torch._C._functorch import is_functorch_wrapped_tensor as _is_functorch_wrapped_tensor

__all__ = [
    "pytree",
    "new_td_unsafe",
    "new_td_fast",
    "td_entries",
    "td_batch_and_device",
    "is_plain_td",
    "is_batched_tensor",
    "is_functorch_wrapped",
    "foreach_ops",
    "assert_async",
    "functional_collectives",
    "global_guard_filter",
]


def new_td_unsafe(source: dict, batch_size: torch.Size, device=None, **kwargs) -> TensorDict:
    """A TensorDict built without validation (``TensorDict._new_unsafe``): leaves must already fit."""
    return TensorDict._new_unsafe(source, batch_size=batch_size, device=device, **kwargs)


# A TensorDict's live entry dict (key -> tensor or sub-TensorDict): read it, never write it. An
# attrgetter, not a function: the host envs read it a few times per step, and a C-level getter costs
# a third of a Python call.
td_entries: Callable[[TensorDict], dict] = operator.attrgetter("_tensordict")

# ``(td.batch_size, td.device)`` read from the attributes directly, for the same reason.
td_batch_and_device: Callable[[TensorDict], tuple] = operator.attrgetter("_batch_size", "_device")


def is_plain_td(td) -> bool:
    """Whether ``td`` is exactly a `TensorDict` without dim names, whose entries `td_entries` reads."""
    return type(td) is TensorDict and td._td_dim_names is None


def _new_td_kwargs() -> dict:
    # nested=False (newer tensordict releases) skips _new_unsafe's per-entry loop over a plain dict.
    try:
        TensorDict._new_unsafe({}, batch_size=torch.Size([]), nested=False)
        return {"nested": False}
    except TypeError:
        return {}


_NEW_KW = _new_td_kwargs()


def _new_td_flat(entries: dict, batch: torch.Size, device=None) -> TensorDict:
    return TensorDict._new_unsafe(entries, batch_size=batch, device=device, **_NEW_KW)


def _make_new_td_fast() -> Callable[..., TensorDict]:
    """`new_td_fast`: ``_new_unsafe``'s eager branch, less its argument handling (a host env step builds
    three TensorDicts, and ``_new_unsafe``'s keyword handling is half of each one's cost).

    It writes TensorDict's four instance attributes itself, so it is used only if it builds, on a
    probe, exactly what ``_new_unsafe`` builds (the same attributes, values and entry-dict type); on
    any other tensordict release (or with its invariant checks on), it is ``_new_unsafe``.
    """
    import tensordict._td as td_module

    probe, batch = {"x": torch.zeros(2)}, torch.Size([2])
    ref = _new_td_flat(dict(probe), batch)
    store = type(ref._tensordict)
    new = TensorDict.__new__
    is_compiling = torch.compiler.is_compiling

    def fast(entries: dict, batch: torch.Size, device=None) -> TensorDict:
        """A TensorDict from leaves built by the caller: skips the validating constructor.

        ``entries`` must be a plain dict of tensors / TensorDicts whose leading dims are ``batch``
        (on ``device``), and ``batch`` a ``torch.Size``.
        """
        if device is not None or is_compiling():
            return _new_td_flat(entries, batch, device)
        self = new(TensorDict)
        self._device = None
        self._tensordict = store(entries)
        self._batch_size = batch
        self._td_dim_names = None
        return self

    try:
        got = vars(fast(dict(probe), batch))
        want = vars(ref)
        same = (not getattr(td_module, "_CHECK_INVARIANTS", False) and got.keys() == want.keys()
                and type(got["_tensordict"]) is store and got["_tensordict"].keys() == probe.keys()
                and got["_tensordict"]["x"] is probe["x"]
                and all(v == want[k] for k, v in got.items() if k != "_tensordict"))
    except Exception:  # noqa: BLE001 (any failure means: not this tensordict's layout)
        same = False
    return fast if same else _new_td_flat


new_td_fast: Callable[..., TensorDict] = _make_new_td_fast()


def is_batched_tensor(x: torch.Tensor) -> bool:
    """Whether ``x`` is a tensor that `torch.func.vmap` has wrapped (a BatchedTensor)."""
    return _is_batchedtensor(x)


def is_functorch_wrapped(x: torch.Tensor) -> bool:
    """Whether a functorch transform (vmap, grad, ...) wraps ``x``: foreach ops do not accept those."""
    return _is_functorch_wrapped_tensor(x)


# The multi-tensor ops torch.optim uses, which torch's stubs do not export: foreach_ops.add(xs, ys), ...
FOREACH_OPS = ("add", "mul", "div", "sqrt", "lerp", "addcmul", "maximum", "norm")
foreach_ops = SimpleNamespace(**{name: getattr(torch, f"_foreach_{name}") for name in FOREACH_OPS})


def assert_async(ok: torch.Tensor, message: str) -> None:
    """``torch._assert_async``: raise ``message`` if ``ok`` is False, without a host sync on CUDA.

    A compiled graph keeps it (it has a side effect); on the CPU it raises at once.
    """
    _assert_async_op(ok, message)


_assert_async_op = torch._assert_async  # pyright: ignore[reportPrivateImportUsage]  (public op, not in torch's stub exports)


def functional_collectives() -> ModuleType:
    """``torch.distributed._functional_collectives``: collectives that torch.compile can trace."""
    from torch.distributed import _functional_collectives

    return _functional_collectives


def global_guard_filter() -> Callable | None:
    """The guard filter that skips guards on module globals (``torch.compiler.skip_guard_on_globals_unsafe``).

    Before each call of a compiled function dynamo otherwise re-checks every global the traced code
    read (hundreds in frl, tensordict and torch.func). ``None`` where the installed torch lacks it.
    """
    return getattr(torch.compiler, "skip_guard_on_globals_unsafe", None)
