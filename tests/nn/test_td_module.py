"""frl.nn.td_module / td_operator: key-wired modules, against the wrapped module called directly."""

import copy

import pytest
import torch
from tensordict import TensorDict
from torch import nn

import frl
from frl import random as fr
from frl._checks import FrlKeyError


def small_transformer():
    torch.manual_seed(0)
    return nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
                          dropout=0.0, batch_first=True)


def test_readme_transformer_equals_nn_transformer(three_ways, assert_pure):
    """TorchRL README's snippet: TensorDictModule(transformer, in_keys=["src", "tgt"], out_keys=["out"])."""
    t = small_transformer()
    m = frl.nn.td_module(t, in_keys=["src", "tgt"], out_keys=["out"])
    assert m.in_keys == ("src", "tgt") and m.out_keys == ("out",)
    g = torch.Generator().manual_seed(0)
    tds = [TensorDict(src=torch.rand(4, 10, 16, generator=g), tgt=torch.rand(4, 20, 16, generator=g),
                      batch_size=[4]) for _ in range(2)]
    params = [TensorDict.from_module(t).detach().clone(), m.init(fr.key(1))]
    outs = three_ways(m.apply, *zip(params, tds, strict=True))
    for p, td, out in zip(params, tds, outs, strict=True):
        ref = copy.deepcopy(t)
        p.to_module(ref)
        torch.testing.assert_close(out["out"], ref(td["src"], td["tgt"]), rtol=1e-5, atol=1e-5)
        assert set(out.keys()) == {"src", "tgt", "out"}
    assert_pure(m.apply, params[0], tds[0])


def test_nested_keys_and_several_outputs(three_ways):
    net = frl.nn.mlp(3, 4)

    def two(params, x, y):
        h = net.apply(params, x) + y
        return h.sum(-1, keepdim=True), h

    m = frl.nn.td_module(frl.nn.Module(net.init, two), in_keys=[("agent", "obs"), "y"],
                         out_keys=[("agent", "value"), ("agent", "features")])
    p = [m.init(fr.key(i)) for i in range(2)]
    tds = [TensorDict({"agent": {"obs": torch.randn(5, 3)}, "y": torch.randn(5, 4)}, batch_size=[5]) for _ in range(2)]
    outs = three_ways(m.apply, (p[0], tds[0]), (p[1], tds[1]))
    v, h = two(p[0], tds[0]["agent", "obs"], tds[0]["y"])
    torch.testing.assert_close(outs[0]["agent", "value"], v)
    torch.testing.assert_close(outs[0]["agent", "features"], h)


def test_plain_function_has_empty_params():
    m = frl.nn.td_module(lambda a, b: a + b, ["a", "b"], "c")
    p = m.init(fr.key(0))
    assert p.is_empty()
    assert m.init(fr.split(fr.key(0), 3)).batch_size == (3,)
    td = TensorDict(a=torch.ones(2), b=torch.ones(2), batch_size=[2])
    assert (m.apply(p, td)["c"] == 2).all()


def test_errors():
    m = frl.nn.td_module(frl.nn.mlp(3, 2), "observation", ["a", "b"])
    p = m.init(fr.key(0))
    td = TensorDict(observation=torch.zeros(4, 3), batch_size=[4])
    with pytest.raises(ValueError, match=r"frl\.nn\.td_module\.apply: the network returned one tensor, expected 2 "
                                         r"\(one per out_key: 'a', 'b'\)"):
        m.apply(p, td)
    with pytest.raises(FrlKeyError, match=r"frl\.nn\.td_module\.apply: input TensorDict has no key 'observation'"):
        m.apply(p, TensorDict(obs=torch.zeros(4, 3), batch_size=[4]))
    three = frl.nn.td_module(lambda x: (x, x, x), "observation", ["a", "b"])
    with pytest.raises(ValueError, match=r"returned 3 outputs, expected 2"):
        three.apply(three.init(fr.key(0)), td)
    with pytest.raises(ValueError, match=r"frl\.nn\.td_module: the BatchNorm1d has buffers"):
        frl.nn.td_module(nn.BatchNorm1d(3), "observation", "out")
    with pytest.raises(TypeError, match=r"frl\.nn\.td_module: in_keys has 3"):
        frl.nn.td_module(lambda x: x, [3], "out")  # pyright: ignore[reportArgumentType]  # the wrong type is the point
    with pytest.raises(ValueError, match=r"frl\.nn\.td_module: out_keys is empty"):
        frl.nn.td_module(lambda x: x, "a", [])


def test_td_operator_declares_an_actors_keys(three_ways):
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(3, 2), in_key="observation")
    op = frl.nn.td_operator(actor, ["observation"], ["action", "action_log_prob"])
    assert op.takes_key
    p = [op.init(fr.key(i)) for i in range(2)]
    tds = [TensorDict(observation=torch.randn(5, 3), batch_size=[5]) for _ in range(2)]
    outs = three_ways(lambda params, td, k: op.apply(params, td, key=k),
                      (p[0], tds[0], fr.key(7)), (p[1], tds[1], fr.key(8)))
    full = actor.apply(p[0], tds[0], fr.key(7))
    assert set(outs[0].keys()) == {"observation", "action", "action_log_prob"}
    torch.testing.assert_close(outs[0]["action"], full["action"])
    with pytest.raises(FrlKeyError, match=r"frl\.nn\.td_operator\.apply: operator's output TensorDict has no key "
                                          r"'nope'"):
        frl.nn.td_operator(actor, "observation", "nope").apply(p[0], tds[0], key=fr.key(0))
