"""The worker process of `AsyncCollector`, and how batches and weights cross the process boundary.

Batches travel from a worker to the main process *by value*, as pickled numpy arrays through a
``multiprocessing`` queue: no shared-memory handle outlives its sender, so a worker that dies with
batches still in flight cannot break the main process's reads. Weights travel the other way through
*shared memory*: the main process owns one shared copy of the params and a shared version counter;
a worker copies them under a lock before a batch whenever the version has changed.
"""

from __future__ import annotations

import os
import queue
import signal
import traceback

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

__all__ = ["pack", "unpack", "flatten_params", "unflatten_params", "worker_main"]

_PUT_POLL_S = 0.1


def pack(td: TensorDictBase) -> tuple:
    """A TensorDict as ``(batch_size, {key: ndarray})``: plain picklable data, copied by value."""
    leaves = {k: v.detach().cpu().numpy() for k, v in td.items(include_nested=True, leaves_only=True)}
    return tuple(td.batch_size), leaves


def unpack(packed: tuple) -> TensorDict:
    """The inverse of `pack`."""
    batch_size, leaves = packed
    td = TensorDict({}, batch_size=batch_size)
    for k, v in leaves.items():
        td.set(k, torch.from_numpy(np.ascontiguousarray(v)))
    return td


def flatten_params(params: TensorDictBase | None):
    """``params -> (batch_size, {key: tensor})`` (``None`` stays ``None``)."""
    if params is None:
        return None
    return tuple(params.batch_size), dict(params.items(include_nested=True, leaves_only=True))


def unflatten_params(flat, clone: bool = False) -> TensorDict | None:
    if flat is None:
        return None
    batch_size, leaves = flat
    td = TensorDict({}, batch_size=batch_size)
    for k, v in leaves.items():
        td.set(k, v.clone() if clone else v)
    return td


def _put(out_q, stop, item) -> bool:
    """Put ``item`` on the bounded queue unless asked to stop first; False when stopped."""
    while not stop.is_set():
        try:
            out_q.put(item, timeout=_PUT_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def worker_main(wid: int, env_bytes: bytes, policy_bytes: bytes, shared, version: torch.Tensor, lock,
                out_q, stop, key: torch.Tensor, options: dict) -> None:
    """Run a `SyncCollector` over ``make_env()`` and send its batches to ``out_q`` until ``stop``.

    Messages: ``("batch", wid, version, packed_td)`` and, on any exception,
    ``("error", wid, traceback_text)`` before the process exits with status 1.
    """
    # Ctrl-C reaches the whole process group; the main process handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(options.get("num_threads", 1))
    try:
        import cloudpickle

        from frl.collectors.sync import SyncCollector

        make_env = cloudpickle.loads(env_bytes)
        policy = cloudpickle.loads(policy_bytes)
        env = make_env()
        with lock:
            seen = int(version[0])
            params = unflatten_params(shared, clone=True)
        collector = SyncCollector(env, policy, params, frames_per_batch=options["frames_per_batch"],
                                  total_frames=-1, key=key, batch_size=options["batch_size"],
                                  compile=options["compile"])
        while not stop.is_set():
            if int(version[0]) != seen:
                with lock:
                    seen = int(version[0])
                    params = unflatten_params(shared, clone=True)
                collector.update_policy_weights(params)
            batch = collector.next_batch()
            if not _put(out_q, stop, ("batch", wid, seen, pack(batch))):
                break
    except BaseException:  # noqa: BLE001 (everything goes back to the main process)
        text = f"worker {wid} (pid {os.getpid()}):\n{traceback.format_exc()}"
        try:
            out_q.put(("error", wid, text), timeout=5)
            out_q.close()
            out_q.join_thread()
        finally:
            os._exit(1)
    # Stopping: whatever is still buffered for the main process is not needed.
    out_q.cancel_join_thread()
