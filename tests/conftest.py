"""Shared test fixtures.

`three_ways` runs a function eagerly, under `torch.func.vmap` and under
`torch.compile(fullgraph=True)`, compares the three, and fails on any recompilation across calls.
`assert_pure` calls a function on locked, cloned inputs and checks that nothing was modified.
"""

from __future__ import annotations

import os

# Triton kernels run in Triton's CPU interpreter in the tests. This must be set before anything imports
# triton, and tensordict imports it: so before every other import here.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from frl._compat import pytree  # noqa: E402
from tensordict import TensorDictBase  # noqa: E402

import frl  # noqa: E402

# One thread per test process: pytest-xdist already runs one process per core, and OpenMP barriers
# stall badly when threads outnumber free cores.
torch.set_num_threads(1)

# Compiled functions make single examples slow (seconds for the first), and CI has 2 cores: no
# per-example deadline, and a fixed derandomized example sequence so CI failures reproduce.
settings.register_profile("frl", deadline=None, max_examples=50, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FRL_HYPOTHESIS_PROFILE", "frl"))


def _assert_tree_close(actual, expected, rtol, atol, what):
    la, sa = pytree.tree_flatten(actual)
    le, se = pytree.tree_flatten(expected)
    assert sa == se, f"{what}: output structure differs:\n{sa}\nvs\n{se}"
    for i, (a, e) in enumerate(zip(la, le)):
        if isinstance(a, torch.Tensor):
            assert a.shape == e.shape, f"{what}: leaf {i} shape {tuple(a.shape)} != {tuple(e.shape)}"
            assert a.dtype == e.dtype, f"{what}: leaf {i} dtype {a.dtype} != {e.dtype}"
            torch.testing.assert_close(a, e, rtol=rtol, atol=atol, equal_nan=True,
                                       msg=lambda m: f"{what}: leaf {i}: {m}")
        else:
            assert a == e, f"{what}: leaf {i}: {a!r} != {e!r}"


def check_three_ways(fn, *arg_sets, in_dims=0, rtol=1e-5, atol=1e-6, compile_vmap=False):
    """Run ``fn`` on each tuple in ``arg_sets`` eagerly, vmapped and compiled, and compare.

    Args:
        fn: the function under test; its arguments are pytrees of tensors (bind the rest with
            functools.partial or a lambda).
        arg_sets: two or more argument tuples of identical shapes and different values.
        in_dims: passed to vmap over the arg sets stacked on a new leading dimension.
        compile_vmap: also compile the vmapped function (for ensemble training steps).

    Returns:
        The list of eager outputs, one per arg set.
    """
    assert len(arg_sets) >= 2, "give at least two arg sets so vmap and recompiles are exercised"
    eager = [fn(*args) for args in arg_sets]

    stacked = [frl.tree.stack([args[i] for args in arg_sets]) for i in range(len(arg_sets[0]))]
    if in_dims != 0:  # unbatched args are taken from the first arg set
        dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(stacked)
        stacked = [s if d is not None else arg_sets[0][i] for i, (s, d) in enumerate(zip(stacked, dims))]
    expected = frl.tree.stack(eager)
    vmapped = torch.vmap(fn, in_dims=in_dims, randomness="error")(*stacked)
    _assert_tree_close(vmapped, expected, rtol, atol, "vmap vs eager")

    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = torch.compile(fn, fullgraph=True)
        for args, out in zip(arg_sets, eager):
            _assert_tree_close(compiled(*args), out, rtol, atol, "compile vs eager")
        if compile_vmap:
            cv = torch.compile(torch.vmap(fn, in_dims=in_dims, randomness="error"), fullgraph=True)
            _assert_tree_close(cv(*stacked), expected, rtol, atol, "compile(vmap) vs eager")
            _assert_tree_close(cv(*stacked), expected, rtol, atol, "compile(vmap), second call")
    return eager


def _clone(x):
    return x.clone() if isinstance(x, (torch.Tensor, TensorDictBase)) else x


def _lock(x):
    if isinstance(x, TensorDictBase):
        x.lock_()
    return x


def check_pure(fn, *args, **kwargs):
    """Call ``fn`` on locked inputs and assert that none of them changed. Returns fn's output."""
    before = pytree.tree_map(_clone, (args, kwargs), is_leaf=lambda x: isinstance(x, TensorDictBase))
    locked = pytree.tree_map(lambda x: _lock(_clone(x)), (args, kwargs),
                             is_leaf=lambda x: isinstance(x, TensorDictBase))
    out = fn(*locked[0], **locked[1])
    _assert_tree_close(locked, before, 0, 0, "inputs after the call")
    return out


@pytest.fixture
def three_ways():
    return check_three_ways


@pytest.fixture
def assert_pure():
    return check_pure
