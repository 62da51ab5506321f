"""frl.nn actors and critics: keys, shapes, log-prob conventions, purity, the three ways to run."""

import pytest
import torch
import torch.distributions as D
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor

import frl
from frl import nn as fnn

OBS, ACT = 3, 2


def _td(batch, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return TensorDict(observation=torch.randn(*batch, OBS, generator=g, dtype=dtype), batch_size=batch)


@pytest.mark.parametrize("mapping", ["biased_softplus_1.0", "biased_softplus_0.5_0.1", "softplus", "exp",
                                     "none"])
def test_normal_params_match_tensordict_extractor(mapping):
    x = torch.randn(5, 2 * ACT, dtype=torch.float64) * 3
    ref_loc, ref_scale = NormalParamExtractor(scale_mapping=mapping, scale_lb=1e-4)(x)
    loc, scale = fnn.normal_params(x, mapping, 1e-4)
    torch.testing.assert_close(loc, ref_loc)
    torch.testing.assert_close(scale, ref_scale)


def test_default_scale_mapping_gives_unit_scale_at_zero():
    loc, scale = fnn.normal_params(torch.zeros(2, 4))
    torch.testing.assert_close(scale, torch.ones(2, 2))


DISTS = [("tanh_normal", 2 * ACT, (ACT,)), ("normal", 2 * ACT, (ACT,)), ("categorical", 4, ()),
         ("one_hot_categorical", 4, (4,))]


@pytest.mark.parametrize("dist,out_f,action_shape", DISTS, ids=[d[0] for d in DISTS])
@pytest.mark.parametrize("batch", [(), (5,), (4, 3)], ids=["unbatched", "B5", "B4x3"])
def test_actor_keys_and_shapes(dist, out_f, action_shape, batch):
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, out_f), dist)
    params = actor.init(frl.random.key(0))
    td = _td(batch)
    out = actor.apply(params, td, frl.random.key(1))
    param_keys = {"logits"} if "categorical" in dist else {"loc", "scale"}
    assert set(out.keys()) == {"observation", "action", "action_log_prob"} | param_keys
    assert set(td.keys()) == {"observation"}  # the input is untouched
    assert out.batch_size == batch
    assert out["action"].shape == (*batch, *action_shape)
    assert out["action_log_prob"].shape == batch
    if dist == "categorical":
        assert out["action"].dtype == torch.int64
    # Contiguous outputs: a batch copied through a buffer has the same strides, so a compiled loss
    # sees no stride change and does not recompile.
    assert all(v.is_contiguous() for v in out.values())
    # get_dist re-evaluates the stored action to the same log-prob, with an entropy per batch element.
    d = actor.get_dist(params, out)
    # Re-evaluating the stored action gives exactly the stored log-prob (PPO's first ratio is 1).
    assert torch.equal(d.log_prob(out["action"]), out["action_log_prob"])
    assert d.entropy().shape == batch


def test_tanh_normal_actor_matches_torch_reference_in_float64():
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    net = fnn.mlp(OBS, 2 * ACT, (16,), dtype=torch.float64)
    actor = fnn.probabilistic_actor(net, "tanh_normal", low, high)
    params = actor.init(frl.random.key(0))
    td = _td((6,), dtype=torch.float64)
    out = actor.apply(params, td, frl.random.key(1))
    raw = net.apply(params, td["observation"])
    loc, scale = NormalParamExtractor()(raw)
    torch.testing.assert_close(out["loc"], loc)
    torch.testing.assert_close(out["scale"], scale)
    # tensordict computes the softplus shift in float32; take frl's (float64) loc and scale from here on.
    loc, scale = out["loc"], out["scale"]
    low64, high64 = low.double(), high.double()
    ref = D.Independent(D.TransformedDistribution(D.Normal(loc, scale), [
        D.TanhTransform(), D.AffineTransform((high64 + low64) / 2, (high64 - low64) / 2)]), 1)
    torch.testing.assert_close(out["action_log_prob"], ref.log_prob(out["action"]), rtol=1e-9, atol=1e-9)
    assert (out["action"] >= low64).all() and (out["action"] <= high64).all()
    det = actor.apply(params, td, deterministic=True)
    torch.testing.assert_close(det["action"], (high64 + low64) / 2 + (high64 - low64) / 2 * torch.tanh(loc))
    torch.testing.assert_close(det["action_log_prob"], ref.log_prob(det["action"]), rtol=1e-9, atol=1e-9)


def test_normal_actor_log_prob_is_summed_over_action_dims():
    net = fnn.mlp(OBS, 2 * ACT, dtype=torch.float64)
    actor = fnn.probabilistic_actor(net, "normal")
    params = actor.init(frl.random.key(0))
    out = actor.apply(params, _td((7,), dtype=torch.float64), frl.random.key(1))
    ref = D.Normal(out["loc"], out["scale"]).log_prob(out["action"]).sum(-1)
    torch.testing.assert_close(out["action_log_prob"], ref)


def test_deterministic_is_the_mode_and_needs_no_key():
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 4), "categorical")
    params = actor.init(frl.random.key(0))
    td = _td((9,))
    out = actor.apply(params, td, deterministic=True)
    assert torch.equal(out["action"], out["logits"].argmax(-1))
    torch.testing.assert_close(out["action_log_prob"], torch.log_softmax(out["logits"], -1).max(-1).values)


def test_sampling_depends_on_key_only():
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT))
    params = actor.init(frl.random.key(0))
    td = _td((64,))
    a = actor.apply(params, td, frl.random.key(1))["action"]
    assert torch.equal(a, actor.apply(params, td, frl.random.key(1))["action"])
    assert not torch.equal(a, actor.apply(params, td, frl.random.key(2))["action"])


def test_actor_is_pure(assert_pure):
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT))
    params = actor.init(frl.random.key(0))
    out = assert_pure(actor.apply, params, _td((5,)), frl.random.key(1))
    assert "action" in out.keys()
    critic = fnn.value_operator(fnn.mlp(OBS, 1))
    assert_pure(critic.apply, critic.init(frl.random.key(0)), _td((5,)))


def test_log_prob_grads_are_finite_and_flow_to_params():
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT), action_low=-1.0, action_high=1.0)
    params = actor.init(frl.random.key(0))
    td = _td((8,))
    # Stored actions at and next to the bounds, as PPO re-evaluates them.
    td["action"] = torch.tensor([[-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [0.999999, -0.999999]]).repeat(2, 1)

    def loss(p):
        d = actor.get_dist(p, td)
        return -(d.log_prob(td["action"]).mean() + 0.01 * d.entropy().mean())

    grads = torch.func.grad(loss)(params)
    leaves = list(grads.values(True, True))
    assert all(torch.isfinite(g).all() for g in leaves)
    assert any(g.abs().sum() > 0 for g in leaves)


def test_three_ways_actor(three_ways):
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT, (8,)), action_low=-2.0, action_high=2.0)
    arg_sets = [(actor.init(frl.random.key(i)), _td((4,), seed=i), frl.random.key(10 + i)) for i in range(3)]
    three_ways(actor.apply, *arg_sets, rtol=1e-4, atol=1e-4)


def test_three_ways_get_dist_for_a_loss(three_ways):
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT, (8,)))
    arg_sets = []
    for i in range(2):
        params = actor.init(frl.random.key(i))
        arg_sets.append((params, actor.apply(params, _td((4,), seed=i), frl.random.key(5 + i))))

    def new_log_prob_and_entropy(params, td):
        d = actor.get_dist(params, td)
        return d.log_prob(td["action"]), d.entropy()

    def loss(params, td):
        lp, ent = new_log_prob_and_entropy(params, td)
        return -(lp.mean() + 0.01 * ent.mean())

    three_ways(new_log_prob_and_entropy, *arg_sets, rtol=1e-4, atol=1e-4)
    # The gradient of a loss over a vmapped ensemble, compiled: PPO's update for N agents at once.
    three_ways(torch.func.grad(loss), *arg_sets, rtol=1e-4, atol=1e-4, compile_vmap=True)


def test_three_ways_value(three_ways):
    critic = fnn.value_operator(fnn.mlp(OBS, 1, (8,)))
    three_ways(critic.apply, *[(critic.init(frl.random.key(i)), _td((4,), seed=i)) for i in range(2)])


def test_value_operator():
    net = fnn.mlp(OBS, 1)
    critic = fnn.value_operator(net)
    params = critic.init(frl.random.key(0))
    for batch in [(), (5,), (2, 3)]:
        td = _td(batch)
        out = critic.apply(params, td)
        assert out["state_value"].shape == (*batch, 1)
        torch.testing.assert_close(out["state_value"], net.apply(params, td["observation"]))
        assert "state_value" not in td.keys()
    other = fnn.value_operator(net, in_key=("next", "observation"), out_key="v")
    td = TensorDict(next=TensorDict(observation=torch.zeros(4, OBS), batch_size=[4]), batch_size=[4])
    assert other.apply(params, td)["v"].shape == (4, 1)


def test_q_value_operator_concatenates_observation_and_action():
    net = fnn.mlp(OBS + ACT, 1)
    q = fnn.q_value_operator(net)
    params = q.init(frl.random.key(0))
    td = _td((6,))
    td["action"] = torch.randn(6, ACT)
    out = q.apply(params, td)
    ref = net.apply(params, torch.cat([td["observation"], td["action"]], -1))
    torch.testing.assert_close(out["state_action_value"], ref)


@pytest.mark.parametrize("space", ["categorical", "one_hot"])
def test_q_value_actor(space):
    net = fnn.mlp(OBS, 4)
    qa = fnn.q_value_actor(net, action_space=space)
    params = qa.init(frl.random.key(0))
    td = _td((6,))
    out = qa.apply(params, td)
    q = net.apply(params, td["observation"])
    torch.testing.assert_close(out["action_value"], q)
    index = q.argmax(-1)
    if space == "categorical":
        assert torch.equal(out["action"], index)
    else:
        assert torch.equal(out["action"].argmax(-1), index) and out["action"].shape == (6, 4)
    torch.testing.assert_close(out["chosen_action_value"], q.max(-1, keepdim=True).values)


def test_errors_name_function_and_key():
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT))
    params = actor.init(frl.random.key(0))
    bad = TensorDict(observation=torch.zeros(5, 4), batch_size=[5])
    with pytest.raises(ValueError, match=r"^frl.nn.mlp.apply: input has last dimension 4, expected 3$"):
        actor.apply(params, bad, frl.random.key(1))
    with pytest.raises(KeyError, match=r"frl.nn.probabilistic_actor.apply: input TensorDict has no key 'observation'"):
        actor.apply(params, TensorDict(obs=torch.zeros(5, 3), batch_size=[5]), frl.random.key(1))
    with pytest.raises(ValueError, match=r"frl.nn.probabilistic_actor.apply: key is None"):
        actor.apply(params, _td((5,)))
    with pytest.raises(ValueError, match=r"frl.nn.probabilistic_actor: unknown distribution 'beta'"):
        fnn.probabilistic_actor(fnn.mlp(OBS, 2), "beta")
    with pytest.raises(ValueError, match=r"action_low / action_high apply only to distribution='tanh_normal'"):
        fnn.probabilistic_actor(fnn.mlp(OBS, 2), "normal", action_low=-1.0)
    with pytest.raises(ValueError, match=r"action_high must exceed action_low"):
        fnn.probabilistic_actor(fnn.mlp(OBS, 2), action_low=1.0, action_high=-1.0)
    with pytest.raises(ValueError, match=r"unknown scale_mapping 'softmax'"):
        fnn.probabilistic_actor(fnn.mlp(OBS, 2), scale_mapping="softmax")
    odd = fnn.probabilistic_actor(fnn.mlp(OBS, 3))
    with pytest.raises(ValueError, match=r"network output has last dimension 3, expected an even number"):
        odd.apply(odd.init(frl.random.key(0)), _td((2,)), frl.random.key(1))
    critic = fnn.value_operator(fnn.mlp(OBS, 2))
    with pytest.raises(ValueError,
                       match=r"frl.nn.value_operator.apply: network output has last dimension 2, expected 1"):
        critic.apply(critic.init(frl.random.key(0)), _td((2,)))


def test_vmapped_ensemble_of_actors():
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT, (8,)))
    keys = frl.random.split(frl.random.key(0), 4)
    ens = torch.vmap(actor.init)(keys)
    td = _td((5,))
    act_keys = frl.random.split(frl.random.key(1), 4)
    out = torch.vmap(actor.apply, in_dims=(0, None, 0))(ens, td, act_keys)
    assert out.batch_size == (4, 5)
    for i in range(4):
        single = actor.apply(ens[i], td, act_keys[i])
        torch.testing.assert_close(out[i]["action"], single["action"])
        torch.testing.assert_close(out[i]["action_log_prob"], single["action_log_prob"])


def test_deterministic_actor(three_ways):
    net = fnn.mlp(OBS, ACT)
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    pi = fnn.deterministic_actor(net, low, high)
    params = pi.init(frl.random.key(0))
    td = _td((2, 5))
    out = pi.apply(params, td)
    raw = net.apply(params, td["observation"])
    torch.testing.assert_close(out["action"], low + (high - low) * (torch.tanh(raw) + 1) / 2)
    unbounded = fnn.deterministic_actor(net)
    torch.testing.assert_close(unbounded.apply(params, td)["action"], raw)
    three_ways(pi.apply, *[(pi.init(frl.random.key(i)), _td((4,), seed=i)) for i in range(2)])
    with pytest.raises(ValueError, match=r"frl.nn.deterministic_actor: give both action_low and action_high"):
        fnn.deterministic_actor(net, action_low=-1.0)


def test_stored_log_prob_is_reproduced_exactly_when_tanh_saturates():
    # A float32 policy pushed far past its bound: tanh(u) rounds to 1 for most draws.
    actor = fnn.probabilistic_actor(fnn.mlp(OBS, 2 * ACT, ()), action_low=-1.0, action_high=1.0)
    params = actor.init(frl.random.key(0))
    params["0", "bias"] = torch.tensor([12.0, -12.0, -3.0, -3.0])
    out = actor.apply(params, _td((64,)), frl.random.key(1))
    assert (out["action"].abs() == 1).any()
    assert torch.isfinite(out["action_log_prob"]).all()
    assert torch.equal(actor.get_dist(params, out).log_prob(out["action"]), out["action_log_prob"])
