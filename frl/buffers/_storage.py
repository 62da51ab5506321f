"""Ring-buffer storage shared by every buffer: allocate, validate a batch, write with wrap-around, gather.

The storage is a TensorDict of batch size ``[capacity]`` whose leaves hold one item per row. Writes
go to rows ``(cursor + 0 .. cursor + n - 1) mod capacity``, in place (`index_put_`): copying a
million-row storage on every add would cost milliseconds, so this is the one place where frl updates
a tensor in place (the purity contract of docs/design.md). The write cursor and the size are new 0-d tensors each time.
"""

from __future__ import annotations

from typing import cast

import torch
from tensordict import TensorDict, TensorDictBase

from frl._checks import FrlKeyError, fail, fmt_key, fmt_shape
from frl.buffers.persist import create

__all__ = ["item_layout", "allocate", "full", "finish", "check_batch", "rows", "write", "gather"]


def item_layout(example: TensorDictBase) -> dict:
    """{key: (shape of one item, dtype)} of ``example``: its leaves' shapes after its batch dims."""
    nb = example.batch_dims
    return {k: (tuple(v.shape[nb:]), v.dtype)
            for k, v in example.items(include_nested=True, leaves_only=True)}


def allocate(example: TensorDictBase, capacity: int, device=None, lazy: bool = False) -> TensorDict:
    """Zeroed storage ``[capacity]`` with the item layout of ``example``.

    ``lazy=True`` gives expanded zero tensors that own no memory (used as the template of a memmap).
    """
    # The storage's device is the one asked for, else the example's (possibly None: tensordict's
    # vmap returns device-less TensorDicts, so None keeps eager and vmapped states alike).
    device = example.device if device is None else device
    out = TensorDict({}, batch_size=[capacity], device=device)
    for k, (shape, dtype) in item_layout(example).items():
        if lazy:
            out.set(k, torch.zeros((), dtype=dtype, device=device).expand(capacity, *shape))
        else:
            out.set(k, torch.zeros((capacity, *shape), dtype=dtype, device=device))
    return out


def full(shape, value, dtype, device, lazy: bool) -> torch.Tensor:
    """A constant tensor; ``lazy=True`` gives an expanded scalar that owns no memory (a memmap template)."""
    if lazy:
        return torch.full((), value, dtype=dtype, device=device).expand(shape)
    return torch.full(shape, value, dtype=dtype, device=device)


def finish(state, path):
    """Return ``state``, or, with a ``path``, its memory-mapped copy created there (see persist.create)."""
    return state if path is None else create(state, path)


def check_batch(fn: str, storage: TensorDictBase, batch: TensorDictBase, nonempty: bool = True) -> int:
    """Check that ``batch`` [*B] holds exactly the storage's keys with the item shapes and dtypes.

    Only static metadata is read, so this costs nothing under torch.compile. Returns the row count.
    """
    if not isinstance(batch, TensorDictBase):
        fail(fn, f"batch must be a TensorDict, got {type(batch).__name__}", TypeError)
    if batch.batch_dims < 1:
        fail(fn, "batch has batch_size [], expected at least one batch dimension (rows to add); "
                 "use td.unsqueeze(0) to add a single transition")
    want = item_layout(storage)
    have = item_layout(batch)
    for k in want:
        if k not in have:
            fail(fn, f"batch has no key {fmt_key(k)} (the buffer stores "
                     f"{', '.join(sorted(fmt_key(x) for x in want))})", FrlKeyError)
    for k in have:
        if k not in want:
            fail(fn, f"batch has key {fmt_key(k)} that the buffer does not store", FrlKeyError)
    for k, (shape, dtype) in want.items():
        got_shape, got_dtype = have[k]
        if got_shape != shape:
            fail(fn, f"key {fmt_key(k)} has item shape {fmt_shape(got_shape)} (batch {fmt_shape(batch.batch_size)}), "
                     f"expected {fmt_shape(shape)}")
        if got_dtype != dtype:
            fail(fn, f"key {fmt_key(k)} has dtype {str(got_dtype).replace('torch.', '')}, expected "
                     f"{str(dtype).replace('torch.', '')}", TypeError)
    n = batch.batch_size.numel()
    if nonempty and n == 0:
        fail(fn, "batch is empty")
    return n


def rows(batch: TensorDictBase, capacity: int) -> TensorDictBase:
    """``batch`` flattened to rows; only the newest ``capacity`` rows if it has more (they alone survive)."""
    flat = batch.reshape(-1) if batch.batch_dims != 1 else batch
    n = flat.batch_size[0]
    return flat[n - capacity:] if n > capacity else flat


def write(storage: TensorDictBase, cursor: torch.Tensor, size: torch.Tensor, batch: TensorDictBase,
          capacity: int):
    """Write ``batch`` [n] (n <= capacity) at the cursor, wrapping around; storage is updated in place.

    Returns (index [n] of the rows written, new cursor, new size).
    """
    n = batch.batch_size[0]
    # Row t of the batch goes to slot (cursor + t) mod capacity: past the end, writes wrap to the
    # front and overwrite the oldest items.
    index = torch.remainder(cursor + torch.arange(n, device=cursor.device), capacity)
    for k, dst in storage.items(include_nested=True, leaves_only=True):
        dst = cast(torch.Tensor, dst)  # leaves_only: every value is a tensor
        dst.index_put_((index,), batch.get(k).to(dst.device))
    new_cursor = torch.remainder(cursor + n, capacity)
    new_size = torch.clamp(size + n, max=capacity)
    return index, new_cursor, new_size


def gather(storage: TensorDictBase, index: torch.Tensor) -> TensorDict:
    """Rows ``index`` (any shape [*I]) of the storage, as a new TensorDict of batch size [*I]."""
    flat = index.reshape(-1)
    shape = tuple(index.shape)
    return storage.apply(lambda x: x.index_select(0, flat).reshape(*shape, *x.shape[1:]), batch_size=shape)
