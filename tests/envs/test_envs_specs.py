"""frl.envs.specs: is_in, sample and zero of each spec, against hand-checked ranges and shapes."""

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.envs import Bounded, Categorical, Composite, Unbounded

KEY = frl.random.key(0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_bounded_float(dtype):
    spec = Bounded(torch.tensor([-1.0, 0.0, 5.0]), torch.tensor([1.0, 2.0, 6.0]), (3,), dtype)
    x = spec.sample(KEY, (1000,))
    assert x.shape == (1000, 3) and x.dtype == dtype
    assert bool(spec.is_in(x))
    assert (x.min(0).values >= spec.low).all() and (x.max(0).values <= spec.high).all()
    # Uniform: every coordinate covers most of its interval.
    assert ((x.max(0).values - x.min(0).values) > 0.95 * (spec.high - spec.low)).all()
    assert spec.zero((2, 5)).shape == (2, 5, 3) and not spec.zero().any()
    assert not bool(spec.is_in(torch.tensor([0.0, 1.0, 6.5], dtype=dtype)))
    assert not bool(spec.is_in(torch.tensor([-1.5, 1.0, 5.5], dtype=dtype)))
    assert bool(spec.is_in(torch.tensor([-1.0, 2.0, 6.0], dtype=dtype)))  # the bounds are inside
    assert not bool(spec.is_in(torch.zeros(4, dtype=dtype)))  # wrong trailing shape
    assert spec.shape == (3,) and spec.dtype == dtype and spec.device == torch.device("cpu")


def test_bounded_huge_bounds_sample_finite():
    big = torch.finfo(torch.float32).max
    spec = Bounded(-big, big, (2,))
    x = spec.sample(KEY, (100,))
    assert torch.isfinite(x).all() and bool(spec.is_in(x))


def test_bounded_integer():
    spec = Bounded(-2, 3, (), torch.int64)
    x = spec.sample(KEY, (5000,))
    assert x.dtype == torch.int64
    assert set(x.unique().tolist()) == {-2, -1, 0, 1, 2, 3}
    assert bool(spec.is_in(x)) and not bool(spec.is_in(torch.tensor(4)))


def test_unbounded():
    spec = Unbounded((2,))
    x = spec.sample(KEY, (20_000,))
    assert x.shape == (20_000, 2) and abs(x.mean().item()) < 0.03 and abs(x.std().item() - 1) < 0.03
    assert bool(spec.is_in(x))
    assert not bool(spec.is_in(torch.tensor([0.0, float("nan")])))
    assert not bool(spec.is_in(torch.tensor([0.0, float("inf")])))
    assert not bool(spec.is_in(torch.zeros(3)))
    assert spec.zero((4,)).shape == (4, 2)
    assert Unbounded((), torch.int64).sample(KEY, (3,)).dtype == torch.int64


def test_categorical():
    spec = Categorical(3)
    x = spec.sample(KEY, (3000,))
    assert x.shape == (3000,) and x.dtype == torch.int64
    torch.testing.assert_close(torch.bincount(x).float() / 3000, torch.full((3,), 1 / 3), atol=0.03, rtol=0)
    assert bool(spec.is_in(x))
    assert not bool(spec.is_in(torch.tensor([0, 3])))
    assert not bool(spec.is_in(torch.tensor([-1])))
    assert not bool(spec.is_in(torch.tensor([0.0, 1.0])))  # floats are not category indices
    assert spec.zero((2,)).tolist() == [0, 0]
    multi = Categorical(4, (2,))
    assert multi.sample(KEY, (5,)).shape == (5, 2) and not bool(multi.is_in(torch.tensor([1])))


def test_composite():
    spec = Composite({"observation": Bounded(-1.0, 1.0, (3,)),
                      "inner": Composite(action=Categorical(2))})
    td = spec.sample(KEY, (7,))
    assert isinstance(td, TensorDict) and td.batch_size == (7,)
    assert td["observation"].shape == (7, 3) and td["inner", "action"].shape == (7,)
    assert bool(spec.is_in(td))
    inner_action = spec["inner", "action"]
    assert isinstance(inner_action, Categorical) and inner_action.n == 2
    zero = spec.zero((2,))
    assert zero["observation"].shape == (2, 3) and bool(spec.is_in(zero))
    bad = td.clone()
    bad["inner", "action"] = torch.full((7,), 2)
    assert not bool(spec.is_in(bad))
    assert not bool(spec.is_in(td.exclude("observation")))


def test_specs_compile_and_vmap(three_ways):
    spec = Bounded(-2.0, 2.0, (1,))

    def fn(key):
        x = spec.sample(key, (4,))
        return x, spec.is_in(x), spec.zero((4,))

    three_ways(fn, (frl.random.key(1),), (frl.random.key(2),))


def test_one_hot():
    spec = frl.envs.OneHot(4)
    x = spec.sample(KEY, (2000,))
    assert x.shape == (2000, 4) and x.dtype == torch.int64 and (x.sum(-1) == 1).all()
    torch.testing.assert_close(x.float().mean(0), torch.full((4,), 0.25), atol=0.03, rtol=0)
    assert bool(spec.is_in(x))
    assert not bool(spec.is_in(torch.tensor([1, 1, 0, 0])))
    assert not bool(spec.is_in(torch.tensor([0, 0, 0, 0])))
    assert not bool(spec.is_in(torch.tensor([0, 2, 0, -1])))
    assert spec.project(torch.tensor([[0.1, 2.0, -1.0, 0.5]])).tolist() == [[0, 1, 0, 0]]
    assert spec.to_categorical(x).tolist() == x.argmax(-1).tolist()
    assert spec.zero((3,)).shape == (3, 4)
    with pytest.raises(ValueError, match="must end with n=4"):
        frl.envs.OneHot(4, (4, 3))


def test_multi_categorical_and_binary():
    spec = frl.envs.MultiCategorical((2, 5, 3))
    x = spec.sample(KEY, (3000,))
    assert x.shape == (3000, 3) and bool(spec.is_in(x))
    assert x.max(0).values.tolist() == [1, 4, 2] and x.min(0).values.tolist() == [0, 0, 0]
    assert not bool(spec.is_in(torch.tensor([1, 5, 0])))
    assert spec.project(torch.tensor([7, -2, 1])).tolist() == [1, 0, 1]
    assert spec.project(torch.tensor([0.6, 3.2, 9.0])).tolist() == [1, 3, 2]
    bits = frl.envs.Binary(5)
    b = bits.sample(KEY, (4000,))
    assert b.shape == (4000, 5) and b.dtype == torch.int8 and bool(bits.is_in(b))
    assert abs(b.float().mean().item() - 0.5) < 0.02
    assert not bool(bits.is_in(torch.tensor([0, 1, 2, 0, 1])))
    assert bits.project(torch.tensor([0.2, 0.7, -3.0, 9.0, 0.5])).tolist() == [0, 1, 0, 1, 0]


def test_project_lands_in_the_spec():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g) * 10
    for spec in (Bounded(-1.0, torch.tensor([1.0, 2.0, 3.0]), (3,)), Bounded(-2, 2, (3,), torch.int64),
                 Categorical(4, (3,)), frl.envs.OneHot(3), frl.envs.MultiCategorical((2, 3, 4)),
                 frl.envs.Binary(3), Unbounded((3,))):
        p = spec.project(x)
        assert p.shape == x.shape and p.dtype == spec.dtype and bool(spec.is_in(p)), spec
    b = Bounded(-1.0, 1.0, (3,))
    assert b.project(torch.tensor([-3.0, 0.5, 9.0])).tolist() == [-1.0, 0.5, 1.0]
    assert Unbounded((2,)).project(torch.tensor([float("nan"), 1.0])).tolist() == [0.0, 1.0]
    comp = Composite(a=Bounded(0.0, 1.0, (2,)), b=Categorical(3))
    td = TensorDict({"a": torch.tensor([[2.0, -1.0]]), "b": torch.tensor([5])}, [1])
    assert bool(comp.is_in(comp.project(td))) and not bool(comp.is_in(td))
