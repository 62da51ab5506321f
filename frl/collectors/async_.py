"""AsyncCollector: one collector per worker process; batches delivered as they are ready."""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Callable, Iterator, Sequence

import cloudpickle
import torch
import torch.multiprocessing as tmp
from tensordict import TensorDictBase

from frl import random as fr
from frl._checks import check_key_or_seed, fail
from frl.collectors._worker import flatten_params, unpack, worker_main

__all__ = ["AsyncCollector", "WorkerError"]

_FN = "frl.collectors.AsyncCollector"


class WorkerError(RuntimeError):
    """A worker of `AsyncCollector` raised or died; the message holds its traceback or exit code."""


class AsyncCollector:
    """Collects in ``num_workers`` processes and yields each worker's batch ``[*B, T]`` as it arrives.

    TorchRL's ``MultiaSyncDataCollector`` in frl's form. Each worker (a ``spawn``-context process)
    builds its env with ``make_env()``, runs a `SyncCollector` on CPU with its own key
    (``frl.random.fold_in(key, worker_id)``), and sends every batch to the main process, which
    yields them first come, first served. Workers keep collecting while the main process trains, up
    until ``num_workers`` finished batches wait in the queue (then each holds at most one more).

    Each batch has the layout of `SyncCollector` plus ``("collector", "worker_id")`` and
    ``("collector", "policy_version")`` [*B, T] int64: the worker that collected it and the number of
    `update_policy_weights` calls whose weights it was collected with (0: the initial params; a
    batch uses one version throughout). ``("collector", "traj_ids")`` are made unique across
    workers: a worker's own id ``i`` becomes ``i * num_workers + worker_id``.

    How data moves: batches come back *by value* (numpy arrays pickled through a queue), so nothing
    a worker shares outlives it; weights go out through *shared memory* (one shared copy of the
    params and a version counter, written under a lock by `update_policy_weights`, copied by each
    worker before its next batch when the version has changed).

    Failure and shutdown: the main process polls the queue with a timeout and checks that every
    worker is alive; a worker that raises sends its traceback, and a worker that dies (killed,
    ``os._exit``) is seen dead: both stop all workers and raise `WorkerError` in the main process
    within about a second (measured here: 0.6 s from a SIGKILL to the error, then the others are
    terminated). `shutdown` (also called at the end of the budget, on any exception or
    KeyboardInterrupt in the iterator, by the context manager, and by ``__del__``) asks the workers
    to stop, waits briefly, then terminates them.

    The frame budget: as in `SyncCollector`, ``total_frames`` (a multiple of the envs per worker, or
    -1) is met exactly: the last batch is cut in time to the frames left; batches still in flight
    are dropped.

    Args:
        make_env: a zero-argument factory of the env (``functools.partial(frl.envs.make, "CartPole-v1")``,
            a host env class...). It is sent to the workers with cloudpickle, so lambdas and closures
            work; what it refers to by module must be importable in a fresh interpreter.
        policy: as in `SyncCollector` (``None``, an object with ``apply``, or a callable); sent with
            cloudpickle. It runs on CPU in the workers.
        params: the policy's parameters, a TensorDict (or ``None`` for a random policy); the workers
            get a CPU copy in shared memory.
        num_workers: worker processes.
        frames_per_batch: frames in each worker's batch (a multiple of the envs per worker).
        total_frames: the frame budget over all workers; -1 for no end.
        key: an `frl.random` key (or ``seed``).
        seed: an int, shortcut for ``key=frl.random.key(seed)``.
        batch_size: the env batch each worker resets (see `SyncCollector`).
        compile: compile each worker's collect step (as `SyncCollector`); off by default, since
            compiling costs seconds in every worker.
        num_threads: torch threads in each worker.
        poll_s: how long one wait on the queue lasts before the workers' liveness is checked.
        timeout: seconds without any batch after which `TimeoutError` is raised (``None``: wait for
            ever, as long as the workers are alive).

    Example:
        >>> import functools
        >>> make_env = functools.partial(frl.envs.make, "CartPole-v1")
        >>> with frl.collectors.AsyncCollector(make_env, None, num_workers=2, frames_per_batch=256,
        ...                                    total_frames=512, batch_size=(8,), seed=0) as c:
        ...     shapes = [batch.shape for batch in c]
        >>> shapes
        [torch.Size([8, 32]), torch.Size([8, 32])]

    References:
        TorchRL, ``torchrl.collectors.MultiaSyncDataCollector``.
    """

    def __init__(self, make_env: Callable[[], object], policy=None, params: TensorDictBase | None = None, *,
                 num_workers: int, frames_per_batch: int, total_frames: int = -1,
                 key: torch.Tensor | None = None, seed: int | None = None,
                 batch_size: Sequence[int] | int | None = None, compile: bool | dict = False,
                 num_threads: int = 1, poll_s: float = 0.2, timeout: float | None = None):
        self._closed = True  # until the workers exist, shutdown (and __del__) has nothing to do
        check_key_or_seed(_FN, key, seed)
        if num_workers < 1:
            fail(_FN, f"num_workers={num_workers}, expected at least 1")
        if params is not None and not isinstance(params, TensorDictBase):
            fail(_FN, f"params must be a TensorDict or None, got {type(params).__name__}", TypeError)
        if isinstance(batch_size, int):
            batch_size = (batch_size,)
        self.num_workers = int(num_workers)
        self.frames_per_batch, self.total_frames = int(frames_per_batch), int(total_frames)
        if self.total_frames != -1 and self.total_frames < 1:
            fail(_FN, f"total_frames={total_frames}, expected -1 or a positive number")
        self._num_envs = math.prod(batch_size) if batch_size is not None else None
        if self._num_envs is not None:
            self._check_budget(self._num_envs)
        self.poll_s, self.timeout = float(poll_s), timeout
        self.version = 0
        self._frames = 0
        if key is None:
            assert seed is not None  # check_key_or_seed refused neither
            key = fr.key(seed)

        try:
            env_bytes = cloudpickle.dumps(make_env)
            policy_bytes = cloudpickle.dumps(policy)
        except Exception as e:  # noqa: BLE001
            fail(_FN, f"make_env and policy must be picklable with cloudpickle: {e}", TypeError)
        ctx = tmp.get_context("spawn")
        self._shared = None
        if params is not None:
            self._shared = params.detach().to("cpu").clone()
            self._shared.share_memory_()
        self._version = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._lock = ctx.Lock()
        self._stop = ctx.Event()
        # One finished batch per worker may wait: little staleness, and workers still overlap training.
        self._queue = ctx.Queue(maxsize=self.num_workers)
        options = {"frames_per_batch": self.frames_per_batch, "batch_size": batch_size, "compile": compile,
                   "num_threads": int(num_threads)}
        self._workers = []
        self._closed = False
        try:
            for wid in range(self.num_workers):
                p = ctx.Process(target=worker_main, name=f"frl-collector-{wid}", daemon=True,
                                args=(wid, env_bytes, policy_bytes, flatten_params(self._shared), self._version,
                                      self._lock, self._queue, self._stop, fr.fold_in(key, wid), options))
                p.start()
                self._workers.append(p)
        except BaseException:
            self.shutdown()
            raise

    # ---- checks -----------------------------------------------------------------------------------

    def _check_budget(self, num_envs: int) -> None:
        if self.frames_per_batch < 1 or self.frames_per_batch % num_envs:
            fail(_FN, f"frames_per_batch={self.frames_per_batch} must be a positive multiple of the "
                      f"number of envs per worker {num_envs}")
        if self.total_frames != -1 and self.total_frames % num_envs:
            fail(_FN, f"total_frames={self.total_frames} must be -1 or a multiple of the number of envs "
                      f"per worker {num_envs}")

    def _dead_worker_error(self) -> WorkerError | None:
        dead = [(i, p) for i, p in enumerate(self._workers) if not p.is_alive()]
        if not dead:
            return None
        # A worker that raised sent its traceback before exiting: look for it among what is queued.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                msg = self._queue.get(timeout=0.05)
            except queue.Empty:
                break
            except Exception:  # noqa: BLE001 (a half-written message from a killed worker)
                break
            if msg[0] == "error":
                return WorkerError(f"{_FN}: {msg[2]}")
        i, p = dead[0]
        return WorkerError(f"{_FN}: worker {i} (pid {p.pid}) died with exit code {p.exitcode} "
                           "without reporting an error (killed, or os._exit)")

    def _receive(self) -> tuple[int, int, TensorDictBase]:
        start = time.monotonic()
        while True:
            err = self._dead_worker_error()
            if err is not None:
                raise err
            try:
                msg = self._queue.get(timeout=self.poll_s)
            except queue.Empty:
                if self.timeout is not None and time.monotonic() - start > self.timeout:
                    raise TimeoutError(f"{_FN}: no batch from any worker in {self.timeout} s") from None
                continue
            if msg[0] == "error":
                raise WorkerError(f"{_FN}: {msg[2]}")
            _, wid, version, packed = msg
            return wid, version, unpack(packed)

    # ---- public API -------------------------------------------------------------------------------

    @property
    def frames(self) -> int:
        """Frames delivered so far."""
        return self._frames

    def update_policy_weights(self, params: TensorDictBase) -> None:
        """Broadcast ``params`` to the workers: each uses them from its next batch on.

        The values are copied into the shared params under the lock and the version counter is
        incremented; ``params`` must have the keys and shapes of the first params.
        """
        if self._shared is None:
            fail(_FN + ".update_policy_weights", "the collector was built with params=None", TypeError)
        if self._closed:
            fail(_FN + ".update_policy_weights", "the collector is shut down", RuntimeError)
        new = params.detach().to("cpu")
        if set(new.keys(True, True)) != set(self._shared.keys(True, True)):
            fail(_FN + ".update_policy_weights", f"params have keys {sorted(map(str, new.keys(True, True)))}, "
                                                 f"expected {sorted(map(str, self._shared.keys(True, True)))}")
        with self._lock:
            for k, v in self._shared.items(True, True):
                v.copy_(new.get(k))
            self.version += 1
            self._version[0] = self.version

    def __len__(self) -> int:
        if self.total_frames == -1:
            raise TypeError(f"{_FN}: total_frames=-1 has no length (the collector never ends)")
        return -(-self.total_frames // self.frames_per_batch)

    def __iter__(self) -> Iterator[TensorDictBase]:
        if self._closed and (self.total_frames == -1 or self._frames < self.total_frames):
            fail(_FN, "the collector is shut down", RuntimeError)
        try:
            while self.total_frames == -1 or self._frames < self.total_frames:
                wid, version, td = self._receive()
                yield self._finish(wid, version, td)
        except GeneratorExit:
            # The iterator was dropped (a ``break``): the workers stay up for the next iteration.
            raise
        except BaseException:
            # Failing: no graceful wind-down (a worker's interpreter takes seconds to exit); terminate.
            self.shutdown(join_s=0.2)
            raise
        self.shutdown()

    def _finish(self, wid: int, version: int, td: TensorDictBase) -> TensorDictBase:
        batch = tuple(td.batch_size[:-1])
        num_envs = math.prod(batch)
        if self._num_envs is None:
            self._num_envs = num_envs
            self._check_budget(num_envs)
        if self.total_frames != -1:
            left = self.total_frames - self._frames
            if td.numel() > left:
                td = td[..., : left // num_envs]
        shape = tuple(td.batch_size)
        td.set(("collector", "traj_ids"), td.get(("collector", "traj_ids")) * self.num_workers + wid)
        td.set(("collector", "worker_id"), torch.full(shape, wid, dtype=torch.int64))
        td.set(("collector", "policy_version"), torch.full(shape, version, dtype=torch.int64))
        self._frames += td.numel()
        return td

    def shutdown(self, join_s: float = 3.0) -> None:
        """Stop the workers (a request, then terminate, then kill) and release the queue. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        deadline = time.monotonic() + join_s
        for p in self._workers:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
        for p in self._workers:
            if p.is_alive():
                p.terminate()
                p.join(timeout=1.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=1.0)
        self._queue.cancel_join_thread()
        self._queue.close()

    def __enter__(self) -> AsyncCollector:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def __del__(self):
        try:
            self.shutdown(join_s=0.5)
        except Exception:  # noqa: BLE001 (interpreter shutdown: modules may be gone)
            pass

    def __repr__(self) -> str:
        state = "shut down" if self._closed else "running"
        return (f"AsyncCollector(num_workers={self.num_workers}, frames_per_batch={self.frames_per_batch}, "
                f"total_frames={self.total_frames}, frames={self._frames}, version={self.version}, {state})")
