"""The one home of the private torch / tensordict internals that frl relies on.

Every use of a private API (a name with a leading underscore, or one torch marks unsafe) goes
through this module, so that a torch or tensordict upgrade that changes one breaks here, in one
place, with a clear message; `tests/test_compat.py` pins what each entry relies on. Where the
installed torch has a public equivalent, the public one is used.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.utils._pytree as pytree  # torch's pytree registry: TensorDict registers itself there
from tensordict import TensorDict

__all__ = ["pytree", "new_td_unsafe", "is_batched_tensor", "functional_collectives", "global_guard_filter"]


def new_td_unsafe(source: dict, batch_size: torch.Size, device=None, **kwargs) -> TensorDict:
    """A TensorDict built without validation (``TensorDict._new_unsafe``): leaves must already fit."""
    return TensorDict._new_unsafe(source, batch_size=batch_size, device=device, **kwargs)


def is_batched_tensor(x: torch.Tensor) -> bool:
    """Whether ``x`` is a tensor that `torch.func.vmap` has wrapped (a BatchedTensor)."""
    return torch._C._functorch.is_batchedtensor(x)


def functional_collectives():
    """``torch.distributed._functional_collectives``: collectives that torch.compile can trace."""
    from torch.distributed import _functional_collectives

    return _functional_collectives


def global_guard_filter() -> Callable | None:
    """The guard filter that skips guards on module globals (``torch.compiler.skip_guard_on_globals_unsafe``).

    Before each call of a compiled function dynamo otherwise re-checks every global the traced code
    read (hundreds in frl, tensordict and torch.func). ``None`` where the installed torch lacks it.
    """
    return getattr(torch.compiler, "skip_guard_on_globals_unsafe", None)
