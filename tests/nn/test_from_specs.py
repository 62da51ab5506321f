"""frl.nn.make_actor / make_critic / make_q: the distribution and sizes follow the env's specs."""

from types import SimpleNamespace

import pytest
import torch
from tensordict import TensorDict
from torch import nn

import frl
from frl import random as fr
from frl.envs.specs import Bounded, Composite, OneHot, Unbounded


def fake_env(obs, act):
    return SimpleNamespace(observation_spec=obs, action_spec=act)


def obs_td(n, shape=(3,), key="observation", seed=0):
    return TensorDict({key: torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))}, batch_size=[n])


def test_categorical_for_cartpole(three_ways):
    env = frl.envs.CartPole()
    actor = frl.nn.make_actor(env, num_cells=(16,))
    p = [actor.init(fr.key(i)) for i in range(2)]
    tds = [obs_td(5, (4,), seed=i) for i in range(2)]
    outs = three_ways(lambda params, td, k: actor.apply(params, td, k), (p[0], tds[0], fr.key(7)),
                      (p[1], tds[1], fr.key(8)))
    assert outs[0]["logits"].shape == (5, 2) and outs[0]["action"].dtype == torch.int64
    assert outs[0]["action"].shape == (5,)
    # The same as building it by hand from the specs.
    by_hand = frl.nn.probabilistic_actor(frl.nn.mlp(4, 2, (16,)), "categorical")
    torch.testing.assert_close(by_hand.apply(p[0], tds[0], fr.key(7))["logits"], outs[0]["logits"])


def test_tanh_normal_on_the_bounds_for_pendulum(three_ways):
    env = frl.envs.Pendulum()
    actor = frl.nn.make_actor(env)
    p = [actor.init(fr.key(i)) for i in range(2)]
    tds = [obs_td(64, seed=i) for i in range(2)]
    outs = three_ways(lambda params, td, k: actor.apply(params, td, k), (p[0], tds[0], fr.key(1)),
                      (p[1], tds[1], fr.key(2)))
    a = outs[0]["action"]
    assert a.shape == (64, 1) and a.abs().max() <= 2.0 and a.abs().max() > 1.0
    by_hand = frl.nn.probabilistic_actor(frl.nn.mlp(3, 2), "tanh_normal", -2.0, 2.0)
    torch.testing.assert_close(by_hand.apply(p[0], tds[0], fr.key(1))["action"], a)


def test_one_hot_and_unbounded_normal():
    oh = frl.nn.make_actor(fake_env(Unbounded((3,)), OneHot(4)))
    out = oh.apply(oh.init(fr.key(0)), obs_td(5), fr.key(1))
    assert out["action"].shape == (5, 4) and (out["action"].sum(-1) == 1).all()
    normal = frl.nn.make_actor(fake_env(Unbounded((3,)), Unbounded((2,))))
    assert isinstance(normal, frl.nn.ProbabilisticActor)
    dist = normal.get_dist(normal.init(fr.key(0)), obs_td(5))
    assert isinstance(dist, frl.nn.IndependentNormal)
    det = frl.nn.make_actor(frl.envs.Pendulum(), distribution="deterministic")
    assert det.apply(det.init(fr.key(0)), obs_td(5))["action"].abs().max() <= 2.0
    with pytest.raises(ValueError, match=r"frl\.nn\.make_actor: distribution='categorical' does not fit"):
        frl.nn.make_actor(frl.envs.Pendulum(), distribution="categorical")


def test_critic_and_q(three_ways):
    critic = frl.nn.make_critic(frl.envs.Pendulum())
    p = [critic.init(fr.key(i)) for i in range(2)]
    outs = three_ways(critic.apply, (p[0], obs_td(5, seed=0)), (p[1], obs_td(5, seed=1)))
    assert outs[0]["state_value"].shape == (5, 1)
    q = frl.nn.make_q(frl.envs.Pendulum())
    td = obs_td(5).set("action", torch.zeros(5, 1))
    assert q.apply(q.init(fr.key(0)), td)["state_action_value"].shape == (5, 1)
    qd = frl.nn.make_q(fake_env(Unbounded((3,)), OneHot(4)))
    out = qd.apply(qd.init(fr.key(0)), obs_td(5))
    assert out["action_value"].shape == (5, 4) and out["action"].shape == (5, 4)


def test_pixels_use_a_convnet(three_ways):
    env = fake_env(Composite(pixels=Bounded(0.0, 1.0, (3, 36, 36))), OneHot(3))
    assert frl.nn.observation_key(env)[0] == "pixels"
    actor = frl.nn.make_actor(env, num_cells=(32,))
    p = [actor.init(fr.key(i)) for i in range(2)]
    tds = [obs_td(2, (3, 36, 36), key="pixels", seed=i) for i in range(2)]
    outs = three_ways(lambda params, td, k: actor.apply(params, td, k), (p[0], tds[0], fr.key(1)),
                      (p[1], tds[1], fr.key(2)))
    enc, head = frl.nn.convnet(3), frl.nn.mlp(p[0]["head", "0", "weight"].shape[-1], 3, (32,))
    logits = head.apply(p[0]["head"], enc.apply(p[0]["encoder"], tds[0]["pixels"]))
    torch.testing.assert_close(outs[0]["logits"], logits)
    with pytest.raises(ValueError, match=r"frl\.nn\.make_actor: the observation is a uint8 image"):
        frl.nn.make_actor(fake_env(Composite(pixels=Bounded(0, 255, (36, 36, 3), torch.uint8)), OneHot(3)))


def test_any_module_as_the_network(three_ways):
    module = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 2))
    actor = frl.nn.make_actor(frl.envs.Pendulum(), net=module)
    p = [actor.init(fr.key(i)) for i in range(2)]
    outs = three_ways(lambda params, td, k: actor.apply(params, td, k), (p[0], obs_td(5, seed=0), fr.key(1)),
                      (p[1], obs_td(5, seed=1), fr.key(2)))
    loc = module.to(torch.float32)  # the module itself, on the params' weights
    p[0].clone().to_module(loc)
    torch.testing.assert_close(outs[0]["loc"], loc(obs_td(5, seed=0)["observation"]).chunk(2, -1)[0])
    with pytest.raises(ValueError, match=r"frl\.nn\.make_actor: net \(BatchNorm1d\) has buffers"):
        frl.nn.make_actor(frl.envs.Pendulum(), net=nn.BatchNorm1d(3))
    with pytest.raises(TypeError, match=r"frl\.nn\.make_critic: env \(int\) has no frl specs"):
        frl.nn.make_critic(3)
