"""frl.nn.td_sequential: TorchRL's in_keys / out_keys and select_subsequence, checked against tensordict's."""

import copy
import random

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import nn

import frl
from frl import random as fr


def idn(*xs):
    return xs[0] if len(xs) == 1 else xs


def small_transformer():
    torch.manual_seed(0)
    return nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32,
                          dropout=0.0, batch_first=True)


def encoder_decoder(t):
    encoder = frl.nn.td_module(t.encoder, in_keys=["src", "src_mask"], out_keys=["memory"])
    decoder = frl.nn.td_module(t.decoder, in_keys=["tgt", "memory"], out_keys=["output"])
    return frl.nn.td_sequential(encoder, decoder)


def test_readme_encoder_decoder_keys_and_subsequences():
    seq = encoder_decoder(small_transformer())
    assert seq.in_keys == ("src", "src_mask", "tgt")
    assert seq.out_keys == ("memory", "output")
    enc = seq.select_subsequence(out_keys=["memory"])
    dec = seq.select_subsequence(in_keys=["tgt", "memory"])
    assert enc.names == ("0",) and enc.in_keys == ("src", "src_mask") and enc.out_keys == ("memory",)
    assert dec.names == ("1",) and dec.in_keys == ("tgt", "memory") and dec.out_keys == ("output",)


def test_encoder_decoder_equals_nn_transformer(three_ways):
    t = small_transformer()
    g = torch.Generator().manual_seed(0)
    # nn.TransformerEncoder compares a mask with the causal one (a data-dependent branch that vmap cannot
    # take), so the three ways run the chain without a mask, and the README's masked chain runs eagerly.
    seq = frl.nn.td_sequential(frl.nn.td_module(t.encoder, "src", "memory"),
                               frl.nn.td_module(t.decoder, ["tgt", "memory"], "output"))
    params = [seq.init(fr.key(i)) for i in range(2)]
    tds = [TensorDict(src=torch.rand(3, 6, 16, generator=g), tgt=torch.rand(3, 5, 16, generator=g), batch_size=[3])
           for _ in range(2)]
    outs = three_ways(seq.apply, *zip(params, tds, strict=True))
    for p, td, out in zip(params, tds, outs, strict=True):
        ref = copy.deepcopy(t)
        p["0"].to_module(ref.encoder)
        p["1"].to_module(ref.decoder)
        torch.testing.assert_close(out["output"], ref(td["src"], td["tgt"]), rtol=1e-5, atol=1e-5)

    masked = encoder_decoder(t)
    p = masked.init(fr.key(5))
    # batch_size [] so that the [S, S] mask sits beside the [N, S, E] sequences.
    td = TensorDict(src=torch.rand(3, 6, 16, generator=g), tgt=torch.rand(3, 5, 16, generator=g),
                    src_mask=nn.Transformer.generate_square_subsequent_mask(6))
    out = masked.apply(p, td)
    ref = copy.deepcopy(t)
    p["0"].to_module(ref.encoder)
    p["1"].to_module(ref.decoder)
    torch.testing.assert_close(out["output"], ref(td["src"], td["tgt"], src_mask=td["src_mask"]), rtol=1e-5,
                               atol=1e-5)
    # The sub-chains take the full params or their slice, and their init is that slice of the full init.
    enc = masked.select_subsequence(out_keys=["memory"])
    torch.testing.assert_close(enc.apply(p, td)["memory"], out["memory"])
    torch.testing.assert_close(enc.apply(p.select(*enc.names), td)["memory"], out["memory"])
    dec = masked.select_subsequence(in_keys=["tgt", "memory"])
    torch.testing.assert_close(dec.apply(p, out.exclude("output"))["output"], out["output"])
    assert (dec.init(fr.key(0)) == masked.init(fr.key(0)).select("1")).all()


def _theirs(spec):
    mods = []
    for item in spec:
        if isinstance(item, list):
            mods.append(_theirs(item))
        else:
            mods.append(TensorDictModule(idn, in_keys=list(item[0]), out_keys=list(item[1])))
    return TensorDictSequential(*mods)


def _ours(spec):
    mods = []
    for item in spec:
        if isinstance(item, list):
            mods.append(_ours(item))
        else:
            mods.append(frl.nn.td_module(idn, in_keys=list(item[0]), out_keys=list(item[1])))
    return frl.nn.td_sequential(*mods)


def _flat_keys(seq):
    """The modules' (in_keys, out_keys), depth first, for either kind of sequence."""
    out = []
    for m in (seq.modules if isinstance(seq, frl.nn.TDSequential) else seq.module):
        if isinstance(m, (frl.nn.TDSequential, TensorDictSequential)):
            out.append(_flat_keys(m))
        else:
            out.append((list(m.in_keys), list(m.out_keys)))
    return out


def _random_spec(rng, keys, n, depth=0):
    spec = []
    for _ in range(n):
        if depth == 0 and rng.random() < 0.25:
            spec.append(_random_spec(rng, keys, rng.randint(1, 3), depth + 1))
        else:
            ins = rng.sample(keys, rng.randint(1, 2))
            outs = rng.sample(keys, rng.randint(1, 2))
            spec.append((ins, outs))
    return spec


@pytest.mark.parametrize("seed", range(40))
def test_keys_and_select_subsequence_match_tensordict(seed):
    rng = random.Random(seed)
    keys = ["a", "b", "c", "d", "e", "f"]
    spec = _random_spec(rng, keys, rng.randint(1, 5))
    ours, theirs = _ours(spec), _theirs(spec)
    assert list(ours.in_keys) == list(theirs.in_keys)
    assert list(ours.out_keys) == list(theirs.out_keys)
    for _ in range(4):
        sel_in = rng.sample(keys, rng.randint(1, 3)) if rng.random() < 0.7 else None
        sel_out = rng.sample(keys, rng.randint(1, 2)) if rng.random() < 0.7 else None
        try:
            t_sub = theirs.select_subsequence(in_keys=sel_in, out_keys=sel_out)
        except ValueError:
            with pytest.raises(ValueError, match=r"frl\.nn\.td_sequential\.select_subsequence: no module left"):
                ours.select_subsequence(in_keys=sel_in, out_keys=sel_out)
            continue
        o_sub = ours.select_subsequence(in_keys=sel_in, out_keys=sel_out)
        assert _flat_keys(o_sub) == _flat_keys(t_sub)
        assert list(o_sub.in_keys) == list(t_sub.in_keys) and list(o_sub.out_keys) == list(t_sub.out_keys)


def test_tensordict_docstring_examples():
    seq = frl.nn.td_sequential(frl.nn.td_module(idn, "a", "b"), frl.nn.td_module(idn, "b", "c"),
                               frl.nn.td_module(idn, "c", "d"), frl.nn.td_module(idn, "a", "e"))
    assert seq.select_subsequence(in_keys=["c"]).out_keys == ("d",)
    sub = seq.select_subsequence(out_keys=["c"])
    assert (sub.in_keys, sub.out_keys) == (("a",), ("b", "c"))
    assert sub.modules[0] is seq.modules[0]
    nested = frl.nn.td_sequential(
        frl.nn.td_sequential(frl.nn.td_module(idn, "a", "b"), frl.nn.td_module(idn, "b", "c")),
        frl.nn.td_sequential(frl.nn.td_module(idn, "b", "d"), frl.nn.td_module(idn, "d", "e")))
    sub = nested.select_subsequence(in_keys=["b", "d"], out_keys=["e"])
    assert len(sub.modules) == 1 and sub.modules[0].out_keys == ("d", "e") and sub.names == ("1",)
    assert sub.modules[0].names == ("0", "1")


def test_actor_critic_with_a_shared_trunk_equals_frl_actor_critic(three_ways):
    trunk = frl.nn.mlp(3, 8, (16,), activate_last=True)
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(8, 2, ()), in_key="hidden")
    critic = frl.nn.value_operator(frl.nn.mlp(8, 1, ()), in_key="hidden")
    seq = frl.nn.td_sequential({
        "trunk": frl.nn.td_module(trunk, "observation", "hidden"),
        "actor": frl.nn.td_operator(actor, "hidden", ["loc", "scale", "action", "action_log_prob"]),
        "critic": frl.nn.td_operator(critic, "hidden", "state_value"),
    })
    assert seq.in_keys == ("observation",) and seq.takes_key
    assert seq.out_keys == ("hidden", "loc", "scale", "action", "action_log_prob", "state_value")
    ac = frl.nn.actor_critic(trunk, actor, critic)
    params = [seq.init(fr.key(i)) for i in range(2)]
    tds = [TensorDict(observation=torch.randn(5, 3), batch_size=[5]) for _ in range(2)]
    outs = three_ways(lambda p, td: seq.apply(p, td, deterministic=True), *zip(params, tds, strict=True))
    for p, td, out in zip(params, tds, outs, strict=True):
        ref = ac.apply(p, td, deterministic=True)
        for k in seq.out_keys:
            torch.testing.assert_close(out[k], ref[k])
    # Sampling: each stochastic module gets fold_in(key, its position).
    sampled = seq.apply(params[0], tds[0], key=fr.key(3))
    direct = actor.apply(params[0]["actor"], trunk_td(trunk, params[0], tds[0]), fr.fold_in(fr.key(3), 1))
    torch.testing.assert_close(sampled["action"], direct["action"])
    critic_only = seq.select_subsequence(out_keys=["state_value"])
    assert critic_only.names == ("trunk", "critic") and not critic_only.takes_key


def trunk_td(trunk, params, td):
    return td.copy().set("hidden", trunk.apply(params["trunk"], td["observation"]))


def test_errors():
    with pytest.raises(TypeError, match=r"frl\.nn\.td_sequential: module '0' is a Module, expected a key-wired"):
        frl.nn.td_sequential(frl.nn.mlp(3, 2))
    with pytest.raises(ValueError, match=r"frl\.nn\.td_sequential: no modules given"):
        frl.nn.td_sequential()
    seq = frl.nn.td_sequential(frl.nn.td_module(idn, "a", "b"), frl.nn.td_module(frl.nn.mlp(1, 1), "b", "c"))
    with pytest.raises(KeyError, match=r"frl\.nn\.td_sequential\.apply: params have no entry '1'"):
        seq.apply(TensorDict({"0": {}}), TensorDict(a=torch.zeros(2, 1), batch_size=[2]))
    assert seq.init(fr.split(fr.key(0), 3)).batch_size == (3,)
