"""all_reduce_gradients: two processes with half a batch each get the gradient of the whole batch."""

import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tensordict import TensorDict

from frl.train import all_reduce_gradients


def loss(params, x, y):
    return ((x @ params["w"] + params["b"] - y) ** 2).mean()


def problem():
    g = torch.Generator().manual_seed(0)
    params = TensorDict(w=torch.randn(3, 1, generator=g), b=torch.zeros(1))
    return params, torch.randn(8, 3, generator=g), torch.randn(8, 1, generator=g)


def worker(rank, world, port, compiled, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        params, x, y = problem()
        shard = slice(rank * 4, (rank + 1) * 4)

        def step(params, x, y):
            return all_reduce_gradients(torch.func.grad(loss)(params, x, y))

        fn = torch.compile(step, fullgraph=True) if compiled else step
        grads = fn(params, x[shard], y[shard])
        queue.put((rank, {k: v.tolist() for k, v in grads.items()}))  # lists: no shared-memory handles
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built")
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_two_process_average_equals_full_batch_gradient(compiled):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=worker, args=(r, 2, port, compiled, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    params, x, y = problem()
    full = torch.func.grad(loss)(params, x, y)
    for rank in (0, 1):
        for k in ("w", "b"):
            torch.testing.assert_close(torch.tensor(results[rank][k]), full[k])


def test_without_process_group_is_identity():
    params, x, y = problem()
    g = torch.func.grad(loss)(params, x, y)
    assert all_reduce_gradients(g) is g
