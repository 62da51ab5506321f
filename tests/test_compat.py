"""Pins what each entry of frl/_compat.py relies on in torch and tensordict.

frl reaches private internals only through `frl._compat`. When a torch or tensordict upgrade changes
one of them, a test here fails first and says which assumption broke, instead of a distant failure in
an env step or an optimizer.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from tensordict import TensorDict

from frl import _compat


def test_pytree_registry_knows_tensordict():
    # frl.tree, frl.optim and frl.envs flatten TensorDicts with torch's pytree: TensorDict must be
    # registered there (tensordict does it on import), with its entries as children.
    assert TensorDict in _compat.pytree.SUPPORTED_NODES, "tensordict no longer registers TensorDict in torch's pytree"
    td = TensorDict(a=torch.zeros(2), b=TensorDict(c=torch.ones(2, 3), batch_size=[2]), batch_size=[2])
    leaves, spec = _compat.pytree.tree_flatten(td)
    assert len(leaves) == 2
    back = _compat.pytree.tree_unflatten(leaves, spec)
    assert type(back) is TensorDict and back.batch_size == td.batch_size
    assert (back["b", "c"] == 1).all()
    paths = [path for path, _ in _compat.pytree.tree_flatten_with_path(td)[0]]
    assert all(isinstance(p[0], _compat.pytree.MappingKey) for p in paths), paths


def test_new_td_unsafe_builds_without_copying():
    a = torch.zeros(3, 2)
    td = _compat.new_td_unsafe({"a": a}, torch.Size([3]))
    assert type(td) is TensorDict and td.batch_size == torch.Size([3]) and td.device is None
    assert td["a"] is a
    params = inspect.signature(TensorDict._new_unsafe).parameters
    assert {"source", "batch_size", "device"} <= set(params), "TensorDict._new_unsafe changed its signature"


def test_tensordict_instance_attributes():
    # new_td_fast writes these four attributes, and td_entries / is_plain_td read two of them.
    td = TensorDict(a=torch.zeros(2), batch_size=[2])
    assert {"_tensordict", "_batch_size", "_device", "_td_dim_names"} <= set(vars(td)), sorted(vars(td))
    assert td._td_dim_names is None
    assert dict(_compat.td_entries(td)).keys() == {"a"}
    assert _compat.td_entries(td)["a"] is td.get("a")
    assert _compat.td_batch_and_device(td) == (td.batch_size, td.device)
    on_cpu = TensorDict(a=torch.zeros(2), batch_size=[2], device="cpu")
    assert _compat.td_batch_and_device(on_cpu) == (torch.Size([2]), torch.device("cpu"))


def test_new_td_fast_builds_what_new_unsafe_builds():
    x = torch.zeros(4, 1)
    fast = _compat.new_td_fast({"x": x}, torch.Size([4]))
    ref = TensorDict._new_unsafe({"x": x}, batch_size=torch.Size([4]))
    assert type(fast) is TensorDict and fast.batch_size == ref.batch_size and fast.device == ref.device
    assert vars(fast).keys() == vars(ref).keys()
    assert fast["x"] is x
    # This tensordict release takes the fast path (the probe matched); a new layout falls back to
    # _new_unsafe, which is correct but slower: this says so plainly.
    assert _compat.new_td_fast.__name__ == "fast", (
        "frl._compat.new_td_fast fell back to TensorDict._new_unsafe: the probe no longer matches "
        "this tensordict's instance layout (host env steps are slower)")
    # With a device it builds through _new_unsafe.
    on_cpu = _compat.new_td_fast({"x": x}, torch.Size([4]), torch.device("cpu"))
    assert on_cpu.device == torch.device("cpu")


def test_is_plain_td():
    td = TensorDict(a=torch.zeros(2, 3), batch_size=[2])
    assert _compat.is_plain_td(td)
    assert not _compat.is_plain_td(TensorDict(a=torch.zeros(2, 3), batch_size=[2], names=["n"]))
    assert not _compat.is_plain_td({"a": torch.zeros(2)})


def test_is_batched_tensor_inside_vmap_only():
    x = torch.zeros(3, 2)
    assert _compat.is_batched_tensor(x) is False
    seen = []

    def f(row):
        seen.append(_compat.is_batched_tensor(row))
        return row

    torch.func.vmap(f)(x)
    assert seen == [True]


def test_functional_all_reduce_exists():
    funcol = _compat.functional_collectives()
    assert callable(getattr(funcol, "all_reduce", None)), "torch.distributed._functional_collectives.all_reduce is gone"
    params = inspect.signature(funcol.all_reduce).parameters
    assert list(params)[:3] == ["self", "reduceOp", "group"], list(params)


def test_global_guard_filter():
    filt = _compat.global_guard_filter()
    # torch 2.13 has it; an older torch returns None and frl compiles with the default guards.
    assert filt is None or callable(filt)
    if hasattr(torch.compiler, "skip_guard_on_globals_unsafe"):
        assert filt is torch.compiler.skip_guard_on_globals_unsafe


@pytest.mark.parametrize("name", _compat.__all__)
def test_every_entry_exists(name):
    assert getattr(_compat, name) is not None


def test_is_functorch_wrapped_inside_vmap_and_grad():
    x = torch.ones(3)
    assert not _compat.is_functorch_wrapped(x)
    seen = []

    def f(v):
        seen.append(_compat.is_functorch_wrapped(v))
        return (v * v).sum()

    torch.func.grad(f)(x)
    torch.func.vmap(f)(torch.ones(2, 3))
    assert seen == [True, True]


def test_foreach_ops_exist_and_compute():
    for name in _compat.FOREACH_OPS:
        assert callable(getattr(_compat.foreach_ops, name)), f"torch._foreach_{name} is gone"
    xs, ys = [torch.ones(2), torch.full((3,), 2.0)], [torch.ones(2), torch.ones(3)]
    out = _compat.foreach_ops.add(xs, ys, alpha=2.0)
    assert [o.tolist() for o in out] == [[3.0, 3.0], [4.0, 4.0, 4.0]]
    assert [float(n) for n in _compat.foreach_ops.norm([torch.tensor([3.0, 4.0])])] == [5.0]
    lerp = _compat.foreach_ops.lerp([torch.zeros(2)], [torch.ones(2)], 0.25)
    assert lerp[0].tolist() == [0.25, 0.25]


def test_assert_async_raises_on_cpu():
    _compat.assert_async(torch.tensor(True), "fine")
    with pytest.raises(RuntimeError, match="frl.test: broken"):
        _compat.assert_async(torch.tensor(False), "frl.test: broken")
