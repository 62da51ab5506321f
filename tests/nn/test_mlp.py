"""frl.nn.mlp against torch.nn.Sequential: layout, outputs, gradients, init distributions, ensembles."""

import math

import pytest
import torch
from tensordict import TensorDict

import frl
from frl import nn as fnn

_ACT = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU, "silu": torch.nn.SiLU}


def _sequential(in_f, out_f, cells, act, activate_last=False, dtype=torch.float32):
    widths = [in_f, *cells, out_f]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1], dtype=dtype))
        if i < len(widths) - 2 or activate_last:
            layers.append(_ACT[act]())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("cells,act,last", [((64, 64), "tanh", False), ((), "tanh", False),
                                            ((128, 128, 128), "relu", False), ((8,), "elu", True),
                                            ((16, 8), "silu", True)],
                         ids=["64x64-tanh", "linear", "3x128-relu", "8-elu-last", "16x8-silu-last"])
@pytest.mark.parametrize("batch", [(), (5,), (2, 3)], ids=["unbatched", "B5", "B2x3"])
def test_matches_nn_sequential_outputs_and_grads(cells, act, last, batch):
    m = fnn.mlp(3, 2, cells, act, activate_last=last, dtype=torch.float64)
    params = m.init(frl.random.key(0))
    seq = _sequential(3, 2, cells, act, last, torch.float64)
    # Same layout both ways: frl's params load into the Sequential and match its own keys.
    assert set(params.keys(True, True)) == set(TensorDict.from_module(seq).keys(True, True))
    params.to_module(seq)
    x = torch.randn(*batch, 3, dtype=torch.float64)
    torch.testing.assert_close(m.apply(params, x), seq(x), rtol=0, atol=0)

    p = params.clone().apply(lambda t: t.requires_grad_())
    grads = torch.autograd.grad(m.apply(p, x).pow(2).sum(), list(p.values(True, True)))
    seq.zero_grad()
    seq(x).pow(2).sum().backward()
    ref = TensorDict.from_module(seq).apply(lambda t: t.grad)
    for g, key in zip(grads, p.keys(True, True), strict=True):
        torch.testing.assert_close(g, ref[key], rtol=1e-12, atol=1e-12)


def test_params_from_torch_module_work_in_apply():
    seq = _sequential(4, 3, (32,), "tanh")
    m = fnn.mlp(4, 3, (32,))
    x = torch.randn(7, 4)
    torch.testing.assert_close(m.apply(TensorDict.from_module(seq).data, x), seq(x).detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_torch_init_matches_nn_linear_distribution(dtype):
    # nn.Linear(in, out): weight and bias both U(-1/sqrt(in), 1/sqrt(in)).
    in_f, out_f = 400, 500
    p = fnn.mlp(in_f, out_f, (), dtype=dtype).init(frl.random.key(3))
    bound = 1 / math.sqrt(in_f)
    for name, t in [("weight", p["0", "weight"]), ("bias", p["0", "bias"])]:
        assert t.dtype == dtype
        assert t.abs().max() <= bound, name
        assert t.abs().max() > 0.99 * bound, name
        n = t.numel()
        assert abs(t.mean().item()) < 4 * bound / math.sqrt(3 * n), name
        torch.testing.assert_close(t.var().item(), bound**2 / 3, rtol=8 / math.sqrt(n), atol=0)
    assert p["0", "weight"].shape == (out_f, in_f) and p["0", "bias"].shape == (out_f,)


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (32, 32)], ids=["tall", "wide", "square"])
def test_orthogonal_init(shape):
    out_f, in_f = shape
    gain, last_gain = math.sqrt(2), 0.01
    p = fnn.mlp(in_f, 5, (out_f,), init="orthogonal", gain=gain, last_gain=last_gain).init(frl.random.key(4))
    w = p["0", "weight"].double()
    small = min(shape)
    gram = w @ w.T if out_f <= in_f else w.T @ w
    torch.testing.assert_close(gram, gain**2 * torch.eye(small, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.equal(p["0", "bias"], torch.zeros(out_f))
    w_last = p["2", "weight"].double()
    torch.testing.assert_close(w_last @ w_last.T, last_gain**2 * torch.eye(5, dtype=torch.float64), atol=1e-8, rtol=0)


def test_orthogonal_init_is_sign_symmetric():
    # Haar-distributed matrices: every entry is symmetric about 0. Without the sign fix the diagonal
    # of Q would lean to one sign.
    ws = torch.vmap(fnn.mlp(4, 1, (4,), init="orthogonal", gain=1.0).init)(frl.random.split(frl.random.key(5), 2000))
    diag = torch.diagonal(ws["0", "weight"], dim1=-2, dim2=-1)
    assert abs(diag.mean().item()) < 0.05


def test_same_key_same_params_and_different_keys_differ():
    m = fnn.mlp(3, 2)
    a, b, c = m.init(frl.random.key(0)), m.init(frl.random.key(0)), m.init(frl.random.key(1))
    assert frl.tree.tree_allclose(a, b, rtol=0, atol=0)
    assert not torch.equal(a["0", "weight"], c["0", "weight"])


def test_vmapped_ensemble():
    m = fnn.mlp(3, 2, (16, 16))
    keys = frl.random.split(frl.random.key(0), 8)
    ens = torch.vmap(m.init)(keys)
    assert ens.batch_size == (8,) and ens["0", "weight"].shape == (8, 16, 3)
    flat = ens["0", "weight"].reshape(8, -1)
    assert all(not torch.equal(flat[i], flat[j]) for i in range(8) for j in range(i + 1, 8))
    for i in range(8):
        assert frl.tree.tree_allclose(ens[i], m.init(keys[i]), rtol=0, atol=0)
    x = torch.randn(8, 5, 3)
    out = torch.vmap(m.apply)(ens, x)
    for i in range(8):
        torch.testing.assert_close(out[i], m.apply(ens[i], x[i]))
    shared = torch.vmap(m.apply, in_dims=(0, None))(ens, x[0])
    torch.testing.assert_close(shared[3], m.apply(ens[3], x[0]))


def test_three_ways(three_ways):
    m = fnn.mlp(3, 2, (8, 8))
    arg_sets = [(m.init(frl.random.key(i)), torch.randn(4, 3)) for i in range(3)]
    three_ways(m.apply, *arg_sets, compile_vmap=True)


def test_bad_input_names_function_and_dims():
    m = fnn.mlp(3, 2)
    p = m.init(frl.random.key(0))
    with pytest.raises(ValueError, match=r"^frl.nn.mlp.apply: input has last dimension 4, expected 3$"):
        m.apply(p, torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"frl.nn.mlp: unknown activation 'tanhh'"):
        fnn.mlp(3, 2, activation="tanhh")
    with pytest.raises(ValueError, match=r"frl.nn.mlp: unknown init 'xavier'"):
        fnn.mlp(3, 2, init="xavier")


def test_callable_activation():
    m = fnn.mlp(3, 2, (4,), activation=torch.sin)
    p = m.init(frl.random.key(0))
    x = torch.randn(6, 3)
    h = torch.sin(x @ p["0", "weight"].T + p["0", "bias"])
    torch.testing.assert_close(m.apply(p, x), h @ p["2", "weight"].T + p["2", "bias"])


@pytest.mark.parametrize("args,message", [
    ((0, 2), r"frl.nn.mlp: in_features=0, expected a positive integer"),
    ((3, 0), r"frl.nn.mlp: out_features=0, expected a positive integer"),
    ((-1, 2), r"frl.nn.mlp: in_features=-1, expected a positive integer"),
    ((3, 2, (64, 0)), r"frl.nn.mlp: num_cells\[1\]=0 \(num_cells=\(64, 0\)\), expected positive widths"),
    ((3, 2, (-8,)), r"frl.nn.mlp: num_cells\[0\]=-8 \(num_cells=\(-8,\)\), expected positive widths"),
], ids=["no-inputs", "no-outputs", "negative-inputs", "zero-cells", "negative-cells"])
def test_empty_or_negative_widths_are_clear_errors(args, message):
    # Zero widths used to build a network of empty weight matrices (mlp(0, 2) computes its biases).
    with pytest.raises(ValueError, match=message):
        fnn.mlp(*args)
