"""Buffers on disk: save / load in-memory buffers, and memory-mapped buffers larger than RAM.

A buffer state is written as a TensorDict directory (one file per tensor, tensordict's memmap
format) plus ``frl_buffer.json`` naming the state type. A memory-mapped state keeps its storage and
trees in those files: `add` and `update_priorities` then write straight to disk (in place, as they
always do), while the small fields (cursor, size, ...) come back as new tensors, so call `save` to
record them before closing; `load(path, mmap=True)` reopens the buffer with everything intact.
"""

from __future__ import annotations

import json
import os
from typing import cast

import torch
from tensordict import TensorDict

from frl._checks import fail
from frl.buffers._states import STATE_TYPES

__all__ = ["save", "load", "memmap", "create"]

_META = "frl_buffer.json"


def _to_td(state) -> TensorDict:
    if type(state).__name__ not in STATE_TYPES:
        fail("frl.buffers.save", f"expected a buffer state, got {type(state).__name__}", TypeError)
    return TensorDict({name: getattr(state, name) for name in state._fields}, batch_size=[])


def _from_td(name: str, td: TensorDict):
    cls = STATE_TYPES[name]
    return cls(**{f: td.get(f) for f in cls._fields})


def _write_meta(state, path: str) -> None:
    with open(os.path.join(path, _META), "w") as f:
        json.dump({"state": type(state).__name__, "format": 1}, f)


def save(state, path: str | os.PathLike) -> None:
    """Write ``state`` to the directory ``path``.

    If ``path`` already holds this buffer (a memory-mapped state opened from it), only the tensors
    that are not already those files are written: the cursor, size and the like. Otherwise the whole
    state is copied.
    """
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, _META)):
        disk = TensorDict.load_memmap(path)
        new = _to_td(state)
        if set(disk.keys(True, True)) != set(new.keys(True, True)):
            fail("frl.buffers.save", f"{path} holds a buffer with other keys; save to a new directory")
        for k, src in new.items(include_nested=True, leaves_only=True):
            dst = disk.get(k)
            if dst.data_ptr() != src.data_ptr() or dst.shape != src.shape:
                dst.copy_(src)
        _write_meta(state, path)
        return
    _to_td(state).memmap(path)
    _write_meta(state, path)


def load(path: str | os.PathLike, mmap: bool = False, device=None):
    """Read a buffer state saved with `save` (or created on disk with ``init(..., path=...)``).

    Args:
        path: the directory.
        mmap: False: copy everything into memory (on ``device``). True: keep the storage and trees
            memory-mapped, so the buffer may be larger than RAM and `add` writes to the files.
    """
    path = os.fspath(path)
    meta_file = os.path.join(path, _META)
    if not os.path.exists(meta_file):
        fail("frl.buffers.load", f"{path} holds no frl buffer (no {_META})", FileNotFoundError)
    with open(meta_file) as f:
        meta = json.load(f)
    td = TensorDict.load_memmap(path)
    if not mmap:
        td = td.to(device) if device is not None else td.clone()
    return _from_td(meta["state"], td)


def memmap(state, path: str | os.PathLike):
    """Move ``state`` to memory-mapped files in ``path``; returns the memory-mapped state."""
    save(state, path)
    return load(path, mmap=True)


def create(state, path: str | os.PathLike):
    """Create ``state``'s files in ``path`` without materializing it in memory; returns the mapped state.

    ``state`` may hold expanded constants (stride-0 tensors, as ``init`` builds for ``path=``): each
    becomes a file of that shape filled with the constant, written page by page by the kernel.
    """
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, _META)):
        fail("frl.buffers.init", f"{path} already holds a buffer; open it with frl.buffers.load(path, mmap=True)",
             FileExistsError)
    td = _to_td(state)
    disk = td.memmap_like(path)  # zero-filled files of the right shapes
    for k, src in td.items(include_nested=True, leaves_only=True):
        src = cast(torch.Tensor, src)  # leaves_only: every value is a tensor
        if src.numel() and all(s == 0 for s in src.stride()):
            value = src.reshape(-1)[0]
            if value.item() != 0:
                disk.get(k).fill_(value)
        elif src.numel():
            disk.get(k).copy_(src)
    _write_meta(state, path)
    return load(path, mmap=True)
