"""frl.nn.from_torch: any torch.nn.Module as a pure Module, checked against the module called directly."""

import copy

import pytest
import torch
from tensordict import TensorDict
from torch import nn

import frl
from frl import random as fr


def small_transformer():
    torch.manual_seed(0)
    return nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
                          dropout=0.0, batch_first=True)


def direct(module, params, *inputs, **kwargs):
    """The module itself, on a copy that holds ``params``: the reference for apply."""
    m = copy.deepcopy(module)
    params.clone().to_module(m)  # a clone: the module updates its buffers in place
    return m(*inputs, **kwargs), m


class TwoInputs(nn.Module):
    """A user-style module: two inputs, a keyword option, parameters of its own and a submodule."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.scale = nn.Parameter(torch.full((4,), 0.5))

    def forward(self, x, y, shift=0.0):
        return torch.tanh(self.proj(x)) * self.scale + y + shift


def test_transformer_three_ways_and_direct(three_ways):
    t = small_transformer()
    net = frl.nn.from_torch(t)
    params = [net.init(fr.key(i)) for i in range(2)]
    g = torch.Generator().manual_seed(1)
    inputs = [(torch.randn(3, 5, 16, generator=g), torch.randn(3, 4, 16, generator=g)) for _ in range(2)]
    outs = three_ways(net.apply, *[(p, *x) for p, x in zip(params, inputs, strict=True)])
    for p, x, out in zip(params, inputs, outs, strict=True):
        torch.testing.assert_close(out, direct(t, p, *x)[0], rtol=1e-5, atol=1e-5)


def test_current_weights_are_params_and_module_untouched():
    t = small_transformer()
    before = TensorDict.from_module(t).clone()
    net = frl.nn.from_torch(t)
    src, tgt = torch.randn(2, 5, 16), torch.randn(2, 3, 16)
    out = net.apply(TensorDict.from_module(t), src, tgt)
    torch.testing.assert_close(out, t(src, tgt), rtol=0, atol=0)
    net.apply(net.init(fr.key(3)), src, tgt)
    assert (TensorDict.from_module(t) == before).all()


def test_user_module_several_inputs_and_kwargs(three_ways):
    m = TwoInputs()
    net = frl.nn.from_torch(m)
    p = [net.init(fr.key(i)) for i in range(2)]
    x, y = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    outs = three_ways(lambda params, a, b: net.apply(params, a, b, shift=1.0),
                      (p[0], x[0], y[0]), (p[1], x[1], y[1]))
    for i in range(2):
        torch.testing.assert_close(outs[i], direct(m, p[i], x[i], y[i], shift=1.0)[0])
    # A parameter made in __init__, not by a reset_parameters, keeps the module's value.
    torch.testing.assert_close(p[0]["scale"], m.scale.detach())
    assert not torch.equal(p[0]["proj", "weight"], p[1]["proj", "weight"])


def test_lstm_eager_and_compiled():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, batch_first=True)
    net = frl.nn.from_torch(lstm)
    p = net.init(fr.key(0))
    x = torch.randn(2, 7, 3)
    out, (h, c) = net.apply(p, x)
    ref, (h_ref, c_ref) = direct(lstm, p, x)[0]
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)
    # Dynamo traces RNN modules only with allow_rnn (see from_torch's docstring); torch has no vmap rule.
    torch._dynamo.reset()
    with torch._dynamo.config.patch(allow_rnn=True):
        compiled = torch.compile(net.apply, fullgraph=True)(p, x)[0]
    torch.testing.assert_close(compiled, ref)


def bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_batchnorm_buffers_are_explicit_state(three_ways, assert_pure):
    m = bn_net()
    net = frl.nn.from_torch(m)
    assert net.returns_state
    p = [net.init(fr.key(i)) for i in range(2)]
    x = torch.randn(2, 6, 3)
    out, new = assert_pure(net.apply, p[0], x[0])
    ref, moved = direct(m, p[0], x[0])
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(new["1", "running_mean"], moved[1].running_mean)
    torch.testing.assert_close(new["1", "running_var"], moved[1].running_var)
    assert int(new["1", "num_batches_tracked"]) == 1 and int(p[0]["1", "num_batches_tracked"]) == 0
    assert not torch.equal(new["1", "running_mean"], p[0]["1", "running_mean"])
    three_ways(net.apply, (p[0], x[0]), (p[1], x[1]))


def test_batchnorm_eval_mode_keeps_state_and_return_state_false():
    m = bn_net().eval()
    net = frl.nn.from_torch(m)
    p = net.init(fr.key(0))
    p["1", "running_mean"] = torch.randn(4)
    x = torch.randn(6, 3)
    out, new = net.apply(p, x)
    torch.testing.assert_close(out, direct(m, p, x)[0])
    assert (new == p).all()
    plain = frl.nn.from_torch(m, return_state=False)
    torch.testing.assert_close(plain.apply(p, x), out)


def test_init_is_driven_by_the_key():
    t = small_transformer()
    net = frl.nn.from_torch(t)
    a, b, c = net.init(fr.key(0)), net.init(fr.key(0)), net.init(fr.key(1))
    assert (a == b).all()
    w = ("encoder", "layers", "0", "linear1", "weight")
    assert not torch.equal(a[w], c[w])
    assert set(a.keys(include_nested=True, leaves_only=True)) == \
        set(TensorDict.from_module(t).keys(include_nested=True, leaves_only=True))
    # The module's own initialization: nn.Transformer's xavier pass over matrices, LayerNorm's ones.
    bound = (6.0 / (32 + 16)) ** 0.5
    assert a[w].abs().max() <= bound and a[w].std() > bound / 4
    assert (a["encoder", "layers", "0", "norm1", "weight"] == 1).all()
    lin = frl.nn.from_torch(nn.Linear(10, 3)).init(fr.key(0))
    assert lin["weight"].abs().max() <= 10 ** -0.5 and lin["bias"].abs().max() <= 10 ** -0.5


def test_init_batch_of_keys_is_an_ensemble_and_vmap_says_so():
    net = frl.nn.from_torch(nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)))
    keys = fr.split(fr.key(0), 4)
    ens = net.init(keys)
    assert ens.batch_size == (4,)
    for i in range(4):
        assert (ens[i] == net.init(keys[i])).all()
    with pytest.raises(ValueError, match=r"frl\.nn\.from_torch\.init: cannot run under torch\.vmap.*init\(keys"):
        torch.vmap(net.init)(keys)


def test_ensemble_of_8_trains_with_frl_optim_as_torch_optim():
    """Eight wrapped modules as one vmapped call, trained by frl.optim.adam: equal to eight torch.optim loops."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    net = frl.nn.from_torch(module)
    params = net.init(fr.split(fr.key(0), 8))
    x = torch.randn(32, 3)
    y = torch.sin(x.sum(-1, keepdim=True))

    def loss_fn(p):
        return ((net.apply(p, x) - y) ** 2).mean()

    opt = frl.optim.adam(1e-2)

    def step(p, state):
        grads, loss = torch.func.grad_and_value(loss_fn)(p)
        updates, state = opt.update(grads, state, p)
        return frl.optim.apply_updates(p, updates), state, loss

    vstep = torch.compile(torch.vmap(step), fullgraph=True)
    refs = [copy.deepcopy(module) for _ in range(8)]
    for i, r in enumerate(refs):
        params[i].to_module(r)
    ref_opts = [torch.optim.Adam(r.parameters(), lr=1e-2) for r in refs]

    p, state = params, torch.vmap(opt.init)(params)
    losses = []
    for _ in range(20):
        p, state, loss = vstep(p, state)
        ref_loss = []
        for r, o in zip(refs, ref_opts, strict=True):
            o.zero_grad()
            lr = ((r(x) - y) ** 2).mean()
            lr.backward()
            o.step()
            ref_loss.append(lr.detach())
        torch.testing.assert_close(loss, torch.stack(ref_loss), rtol=1e-5, atol=1e-6)
        losses.append(loss)
    assert (losses[-1] < losses[0]).all()
    # Adam divides by sqrt(nu): where a gradient is near zero, a compiled kernel's rounding moves the
    # weight by up to ~1e-6 over 20 steps of lr 1e-2 (the losses above agree to 1e-6).
    for i, r in enumerate(refs):
        torch.testing.assert_close(p[i], TensorDict.from_module(r).detach(), rtol=1e-4, atol=1e-5)


def test_errors():
    with pytest.raises(TypeError, match=r"frl\.nn\.from_torch: module is a function, expected a torch\.nn\.Module"):
        frl.nn.from_torch(lambda x: x)  # pyright: ignore[reportArgumentType]  # the wrong type is the point
    net = frl.nn.from_torch(nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"frl\.nn\.from_torch\.apply: params have no entry 'bias'"):
        net.apply(TensorDict(weight=torch.zeros(2, 3)), torch.zeros(3))
    with pytest.raises(TypeError, match=r"frl\.nn\.from_torch\.init: key must be an int64 key"):
        net.init(torch.zeros(3))
