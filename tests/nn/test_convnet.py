"""frl.nn.convnet against torch.nn.Sequential(Conv2d, ReLU, ..., Flatten)."""

import math

import pytest
import torch
from tensordict import TensorDict

import frl
from frl import nn as fnn


def _sequential(in_c, cells, kernels, strides, pads, activate_last, dtype=torch.float64):
    layers = []
    c = in_c
    for i, (o, k, s, p) in enumerate(zip(cells, kernels, strides, pads, strict=True)):
        layers.append(torch.nn.Conv2d(c, o, k, s, p, dtype=dtype))
        if activate_last or i < len(cells) - 1:
            layers.append(torch.nn.ReLU())
        c = o
    return torch.nn.Sequential(*layers, torch.nn.Flatten())


@pytest.mark.parametrize("activate_last", [True, False], ids=["act-last", "linear-last"])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)], ids=["unbatched", "B3", "B2x2"])
def test_matches_nn_sequential(activate_last, batch):
    cells, kernels, strides, pads = (4, 8), (3, 2), (2, 1), (1, 0)
    m = fnn.convnet(3, cells, kernels, strides, pads, activate_last=activate_last, dtype=torch.float64)
    params = m.init(frl.random.key(0))
    seq = _sequential(3, cells, kernels, strides, pads, activate_last)
    assert set(params.keys(True, True)) == set(TensorDict.from_module(seq).keys(True, True))
    params.to_module(seq)
    x = torch.randn(*batch, 3, 9, 9, dtype=torch.float64)
    ref = seq(x.reshape(-1, 3, 9, 9)).reshape(*batch, -1)
    torch.testing.assert_close(m.apply(params, x), ref, rtol=0, atol=1e-12)


def test_nature_encoder_shape_and_torch_init_bounds():
    m = fnn.convnet(4)
    p = m.init(frl.random.key(1))
    assert m.apply(p, torch.zeros(2, 4, 84, 84)).shape == (2, 64 * 7 * 7)
    # Conv2d's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * k * k.
    bound = 1 / math.sqrt(32 * 4 * 4)
    w = p["2", "weight"]
    assert w.shape == (64, 32, 4, 4)
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    torch.testing.assert_close(w.var().item(), bound**2 / 3, rtol=0.05, atol=0)


def test_orthogonal_conv_rows_are_orthogonal():
    p = fnn.convnet(2, (8,), 3, 1, init="orthogonal", gain=1.0).init(frl.random.key(2))
    w = p["0", "weight"].reshape(8, -1).double()
    torch.testing.assert_close(w @ w.T, torch.eye(8, dtype=torch.float64), atol=1e-5, rtol=0)


def test_three_ways(three_ways):
    m = fnn.convnet(2, (4,), 3, 1)
    three_ways(m.apply, *[(m.init(frl.random.key(i)), torch.randn(2, 2, 5, 5)) for i in range(2)], atol=1e-5)


def test_bad_input():
    m = fnn.convnet(3, (4,), 3, 1)
    with pytest.raises(ValueError,
                       match=r"frl.nn.convnet.apply: input has shape \[2, 4, 8, 8\], expected \[\*B, 3, H, W\]"):
        m.apply(m.init(frl.random.key(0)), torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"frl.nn.convnet: strides has 2 entries, expected 1"):
        fnn.convnet(3, (4,), 3, (1, 2))
