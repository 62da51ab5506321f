"""frl._checks.check_values: raises on bad values eagerly, under vmap and compiled, and never drops out."""

import pytest
import torch

from frl._checks import check_values


def _guarded(x):
    return check_values("frl.test", "x", x, (x >= 0) & (x <= 1), "[0, 1]") * 2


@pytest.mark.parametrize("way", ["eager", "vmap", "compiled", "compiled vmap"])
def test_check_values_raises_every_way(way):
    fn = torch.vmap(_guarded) if "vmap" in way else _guarded
    if "compiled" in way:
        torch._dynamo.reset()
        fn = torch.compile(fn, fullgraph=True)
    good = torch.rand(3, 4)
    torch.testing.assert_close(fn(good), good * 2)
    bad = good.clone()
    bad[2, 1] = 1.5  # one member of the vmapped batch only
    with pytest.raises(RuntimeError, match=r"frl\.test: x has values outside \[0, 1\]"):
        fn(bad)
    nan = good.clone()
    nan[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="outside"):
        fn(nan)
