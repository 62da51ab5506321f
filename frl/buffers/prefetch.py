"""A background thread that keeps the next sampled batches ready, on the device that will use them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import torch

from frl import random as fr
from frl.buffers._common import as_key

__all__ = ["Prefetcher", "prefetch"]


class Prefetcher:
    """Iterator over ``sample(state, fold_in(key, step), batch_size)`` results, computed ahead.

    Step ``i`` always uses the key ``frl.random.fold_in(key, i)``, so the batches are the same as a
    plain loop's (given the same state). Call `set_state` after adding to the buffer so that later
    batches see the new items; batches already queued were drawn from the old state. `close` (or
    leaving a ``with`` block) stops the thread.
    """

    def __init__(self, sample: Callable, state, key, batch_size: int, depth: int = 2, device=None):
        self._sample = sample
        self._state = state
        self._key = key
        self._batch_size = batch_size
        self._device = torch.device(device) if device is not None else None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._step = 0
        self._thread = threading.Thread(target=self._run, name="frl-prefetch", daemon=True)
        self._thread.start()

    def set_state(self, state) -> None:
        """Draw the batches not yet started from ``state``."""
        with self._lock:
            self._state = state

    def _move(self, out):
        if self._device is None:
            return out
        if self._device.type == "cuda":
            # Page-locked host memory makes the copy asynchronous with respect to the host.
            out = tuple(x.pin_memory() if x.device.type == "cpu" else x for x in out)
            return tuple(x.to(self._device, non_blocking=True) for x in out)
        return tuple(x.to(self._device) for x in out)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    state, step = self._state, self._step
                    self._step += 1
                out = self._sample(state, fr.fold_in(self._key, step), self._batch_size)
                item = self._move(out)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # hand the error to the consumer instead of dying silently
            self._queue.put(e)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prefetch(sample: Callable, state, key, batch_size: int, depth: int = 2, device=None) -> Prefetcher:
    """Sample ahead in a background thread: ``for batch, info in prefetch(buf.sample, state, key, 256)``.

    Args:
        sample: a buffer's ``sample`` (or any ``(state, key, batch_size) -> tuple`` function,
            e.g. a torch.compile'd one).
        state: the buffer state to draw from (replace it with `Prefetcher.set_state`).
        key: an frl.random key or int seed; batch ``i`` uses ``frl.random.fold_in(key, i)``.
        batch_size: rows per batch.
        depth: how many batches to keep ready.
        device: where to put the batches (pinned host memory is used on the way to CUDA).

    Returns:
        A `Prefetcher` (an iterator and a context manager).

    Example:
        >>> with frl.buffers.prefetch(buf.sample, state, 0, 256, device="cuda") as batches:
        ...     for step, (batch, info) in zip(range(1000), batches):
        ...         ...
    """
    key = as_key("frl.buffers.prefetch", key, torch.device("cpu") if not hasattr(state, "cursor")
                          else state.cursor.device)
    return Prefetcher(sample, state, key, batch_size, depth, device)
