"""frl_triton.sumtree's Triton kernels and custom ops, in Triton's interpreter, against the pure-torch CPU tree.

Triton's interpreter must be switched on (TRITON_INTERPRET=1) before triton is first imported. When
this process imported triton earlier without it (tensordict imports triton), each check re-runs in a
fresh subprocess with the variable set, so the kernels are still tested on a CPU-only machine.
"""

import os
import subprocess
import sys

import pytest
import torch

from frl_triton.sumtree import cpu

triton = pytest.importorskip("triton")


def _interpreted() -> bool:
    import triton.language as tl

    return type(tl.zeros).__name__ == "InterpretedFunction"


def _run(check, *args):
    if torch.cuda.is_available() or _interpreted():
        check(*args)
        return
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, os.path.abspath(__file__), check.__name__, *map(str, args)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr


def _assert_consistent(lay, s, m, leaves):
    torch.testing.assert_close(s[: lay.capacity], leaves, rtol=0, atol=0)
    for level in range(len(lay.offsets) - 1):
        n_par = lay.sizes[level] // lay.arity
        a, p = lay.offsets[level], lay.offsets[level + 1]
        torch.testing.assert_close(s[p: p + n_par], s[a: a + lay.sizes[level]].view(n_par, -1).sum(-1),
                                   rtol=1e-15, atol=0)
        assert torch.equal(m[p: p + n_par], m[a: a + lay.sizes[level]].view(n_par, -1).amin(-1))


def check_kernels(capacity, arity):
    capacity, arity = int(capacity), int(arity)
    from frl_triton.sumtree import op

    lay = cpu.layout(capacity, arity)
    g = torch.Generator().manual_seed(capacity)
    x = torch.rand(capacity, dtype=torch.float64, generator=g)
    x[::3] = 0.0
    s, m = cpu.rebuild(lay, x)
    u = torch.rand(70, dtype=torch.float64, generator=g) * cpu.total(lay, s)
    got = op.launch_sample(s, u, capacity, arity)
    assert torch.equal(got, cpu.sample(lay, s, u))
    assert (x[got] > 0).all()
    idx = torch.randint(0, capacity, (90,), generator=g)  # duplicates included
    val = torch.rand(90, dtype=torch.float64, generator=g)
    s2, m2 = s.clone(), m.clone()
    cpu.update(lay, s, m, idx, val)
    op.launch_update(s2, m2, idx, val, capacity, arity)
    torch.testing.assert_close(s2, s, rtol=1e-14, atol=0)
    assert torch.equal(m2, m)
    # An ensemble of trees [M, nodes] in one launch.
    S = torch.stack([s, s2 * 2])
    U = torch.stack([u, u * 2])
    assert torch.equal(op.launch_sample(S, U, capacity, arity), torch.stack([cpu.sample(lay, s, u)] * 2))


def check_custom_ops():
    from frl_triton.sumtree import op  # noqa: F401  (registers the ops)

    capacity, arity = 50, 4
    lay = cpu.layout(capacity, arity)
    x = torch.linspace(0.0, 1.0, capacity, dtype=torch.float64)
    s, m = cpu.rebuild(lay, x)
    u = torch.linspace(0.0, 0.99, 16, dtype=torch.float64) * cpu.total(lay, s)
    want = cpu.sample(lay, s, u)

    def step(s, m, u, idx, val):
        out = torch.ops.frl_triton.sumtree_sample(s, u, capacity, arity)
        torch.ops.frl_triton.sumtree_update(s, m, idx, val, capacity, arity)
        return out

    idx = torch.tensor([3, 7, 3])
    val = torch.tensor([5.0, 6.0, 7.0], dtype=torch.float64)
    torch._dynamo.reset()
    s1, m1 = s.clone(), m.clone()
    got = torch.compile(step, fullgraph=True)(s1, m1, u, idx, val)
    assert torch.equal(got, want)
    x2 = x.clone()
    x2[3], x2[7] = 7.0, 6.0
    _assert_consistent(lay, s1, m1, x2)
    # vmap over an ensemble of two trees.
    S, M = torch.stack([s.clone(), s.clone()]), torch.stack([m.clone(), m.clone()])
    out = torch.vmap(step, in_dims=(0, 0, None, None, 0))(S, M, u, idx, torch.stack([val, val * 2]))
    assert torch.equal(out, torch.stack([want, want]))
    assert S[0, 3].item() == 7.0 and S[1, 3].item() == 14.0


@pytest.mark.parametrize("capacity,arity", [(7, 2), (100, 4), (300, 32)])
def test_triton_kernels_match_the_cpu_tree(capacity, arity):
    _run(check_kernels, capacity, arity)


def test_custom_ops_compile_and_vmap():
    _run(check_custom_ops)


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
