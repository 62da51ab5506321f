"""TransformedEnv: the list of transforms, parents, specs, check_env, purity, errors, action transforms."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import frl
from frl import envs
from frl._checks import FrlKeyError
from frl.envs import (CatFrames, CatTensors, ClipAction, Compose, DoubleToFloat, NoopReset, ObservationNorm,
                      RescaleAction, RewardScaling, RewardSum, StepCounter, TimeLimit, TransformedEnv, Unsqueeze)
from tests.envs.transforms._envs import HostEnv, count_env


def test_compose_list_operations_and_parents():
    norm, rsum, cat = ObservationNorm(running=True), RewardSum(), CatFrames(2)
    env = TransformedEnv(envs.make("Pendulum-v1"), [norm, cat])
    assert list(env.transforms) == [norm, cat] and len(env.transforms) == 2
    env.transforms.insert(1, rsum)
    assert env.transforms[1] is rsum and env.transforms.index(cat) == 2
    # Each parent is the env up to its transform: the frame stack's parent sees 3 features.
    assert env.observation_spec.shape == (6,)
    cat_parent, norm_parent = cat.parent, norm.parent
    assert cat_parent is not None and norm_parent is not None
    assert cat_parent.observation_spec.shape == (3,) and list(cat_parent.transforms) == [norm, rsum]
    assert norm_parent.observation_spec.shape == (3,) and len(norm_parent.transforms) == 0
    env.transforms.remove(cat)
    assert cat.parent is None and env.observation_spec.shape == (3,)
    env.append_transform(Unsqueeze(-1))
    assert env.observation_spec.shape == (3, 1)
    assert isinstance(env.transforms.pop(), Unsqueeze)
    with pytest.raises(ValueError, match="already belongs to another TransformedEnv"):
        TransformedEnv(envs.make("Pendulum-v1"), [norm])
    # A Compose can be passed whole, and a lone transform too.
    env2 = TransformedEnv(envs.make("CartPole-v1"), Compose(cat, StepCounter()))
    cat_parent = cat.parent
    assert cat_parent is not None and cat_parent.base_env is env2.base_env
    assert len(TransformedEnv(envs.make("CartPole-v1"), RewardSum()).transforms) == 1
    with pytest.raises(ValueError, match="is already in this list"):
        env2.transforms.append(cat)
    # init exists where the base env has one (stateless), not over a host env; other attributes forward.
    assert hasattr(env2, "init") and not hasattr(TransformedEnv(HostEnv(count_env()), StepCounter()), "init")
    assert env2.dtype == torch.float32


@pytest.mark.parametrize("case", ["pendulum", "cartpole", "float64", "count_actions", "nested"])
def test_check_env_on_transformed_envs(case):
    if case == "pendulum":
        env = TransformedEnv(envs.make("Pendulum-v1"), [ObservationNorm(running=True), RewardSum(),
                                                         StepCounter(20), CatFrames(4), RewardScaling(0.0, 0.1)])
    elif case == "cartpole":
        env = TransformedEnv(envs.make("CartPole-v1"), [ObservationNorm(0.0, 0.5), TimeLimit(10),
                                                         Unsqueeze(-2), CatFrames(3, dim=-2)])
    elif case == "float64":
        env = TransformedEnv(envs.make("Acrobot-v1", dtype=torch.float64), [DoubleToFloat(), RewardSum()])
    elif case == "count_actions":
        env = TransformedEnv(count_env(), [RescaleAction(-3.0, 3.0), ClipAction()])
    else:
        inner = TransformedEnv(envs.make("Pendulum-v1"), [ObservationNorm(running=True), StepCounter(15)])
        env = TransformedEnv(inner, [CatFrames(2), RewardSum()])
    envs.check_env(env, steps=30)


def test_nested_equals_flat():
    flat = TransformedEnv(envs.make("Pendulum-v1", max_episode_steps=4),
                          [ObservationNorm(running=True), RewardSum(), CatFrames(2)])
    inner = TransformedEnv(envs.make("Pendulum-v1", max_episode_steps=4), [ObservationNorm(running=True)])
    nested = TransformedEnv(inner, [RewardSum(), CatFrames(2)])
    a = envs.rollout(flat, None, flat.reset(seed=1, batch_size=(3,)), 6)
    b = envs.rollout(nested, None, nested.reset(seed=1, batch_size=(3,)), 6)
    assert (a == b).all()


def test_step_reset_and_auto_reset_are_pure(assert_pure):
    env = TransformedEnv(envs.make("Pendulum-v1", max_episode_steps=1),
                         [ObservationNorm(running=True), RewardSum(), StepCounter(), CatFrames(2), NoopReset(3)])
    td = envs.random_action(env, env.reset(seed=0, batch_size=(2,)))
    out = assert_pure(env.step, td)
    assert out["next", "done"].all()
    assert_pure(env.auto_reset, out)
    assert_pure(lambda k: env.init(k), envs.env_keys(frl.random.key(0), (2,)))


def test_rescale_action_matches_gymnasium():
    # gymnasium's RescaleAction on Pendulum maps [-1, 1] to [-2, 2]; frl's base env then sees the same torque.
    base = envs.make("Pendulum-v1")
    env = TransformedEnv(base, RescaleAction(-1.0, 1.0))
    wrapper = gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), -1.0, 1.0)  # pyright: ignore[reportArgumentType]  (gymnasium's stub omits float)
    action_spec = env.action_spec
    assert isinstance(action_spec, envs.Bounded)
    assert action_spec.low.tolist() == [-1.0] and action_spec.high.tolist() == [1.0]
    a = torch.tensor([[-1.0], [-0.3], [0.5], [1.0], [1.7]])
    td = env.reset(seed=0, batch_size=(5,))
    out = env.step(td.set("action", a))
    want = torch.from_numpy(np.stack([wrapper.action(x.numpy()) for x in a])).float()
    ref = base.step(td.set("action", want))
    torch.testing.assert_close(out["next", "observation"], ref["next", "observation"])
    torch.testing.assert_close(out["action"], a)   # the user's action stays in the transition


def test_clip_action_matches_gymnasium():
    env = TransformedEnv(count_env(), ClipAction())
    wrapper = gym.wrappers.ClipAction(gym.make("MountainCarContinuous-v0"))   # Box(-1, 1, (1,)), as CountEnv
    assert isinstance(env.action_spec, envs.Unbounded)
    a = torch.tensor([[-5.0], [0.25], [3.0]])
    out = env.step(env.reset(seed=0, batch_size=(3,)).set("action", a))
    want = np.stack([wrapper.action(x.numpy()) for x in a])
    torch.testing.assert_close(out["next", "state"], torch.from_numpy(want).float())


def test_clear_errors():
    env = TransformedEnv(count_env(), [RewardSum(), StepCounter(step_count_key="t")])
    td = env.reset(seed=0, batch_size=(2,)).set("action", torch.zeros(2, 1))
    with pytest.raises(FrlKeyError, match=r"frl.envs.StepCounter: step's input TensorDict has no key 't'"):
        env.step(td.exclude("t"))
    with pytest.raises(FrlKeyError, match=r"frl.envs.RewardSum: step's input TensorDict has no key 'episode_reward'"):
        env.step(td.exclude("episode_reward"))
    with pytest.raises(FrlKeyError, match=r"frl.envs.TransformedEnv.step: input TensorDict has no key 'action'"):
        env.step(td.exclude("action"))
    with pytest.raises(FrlKeyError, match=r"frl.envs.ObservationNorm: reset TensorDict has no key 'pixels'"):
        TransformedEnv(count_env(), ObservationNorm(1.0, 1.0, in_keys=["pixels"])).reset(seed=0)
    with pytest.raises(RuntimeError, match=r"frl.envs.ObservationNorm: loc and scale are not set"):
        TransformedEnv(count_env(), ObservationNorm()).reset(seed=0)
    with pytest.raises(RuntimeError, match=r"frl.envs.ObservationNorm: this transform is not in a TransformedEnv"):
        ObservationNorm().init_stats(frl.random.key(0))
    with pytest.raises(ValueError, match=r"frl.envs.ObservationNorm: give both loc and scale"):
        ObservationNorm(loc=0.0)
    with pytest.raises(ValueError, match=r"frl.envs.CatFrames: dim=1, expected a negative dimension"):
        CatFrames(2, dim=1)
    with pytest.raises(ValueError, match=r"frl.envs.Unsqueeze: dim=0, expected a negative dimension"):
        Unsqueeze(0)
    # One out_key per in_key: a longer or shorter list used to be cut silently at the shorter one.
    with pytest.raises(ValueError, match=r"frl.envs.CatFrames: got 1 in_keys and 2 out_keys; give one out_key"):
        CatFrames(2, in_keys=["observation"], out_keys=["a", "b"])
    with pytest.raises(ValueError, match=r"frl.envs.RewardSum: got 2 in_keys and 1 out_keys; give one out_key"):
        RewardSum(in_keys=["reward", "cost"], out_keys=["episode_reward"])
    with pytest.raises(ValueError, match=r"frl.envs.StepCounter: max_steps=0, expected at least 1"):
        StepCounter(0)
    bad = TransformedEnv(count_env(), [StepCounter(), CatTensors(["observation", "step_count"], dim=-2)])
    with pytest.raises(ValueError, match=r"frl.envs.CatTensors: 'step_count' has shape \[3, 1\], which does not "
                                         r"match 'observation''s \[3, 2\] except along dim=-2"):
        bad.reset(seed=0, batch_size=(3,))
    with pytest.raises(TypeError, match=r"frl.envs.RescaleAction: needs a float Bounded action spec below it"):
        TransformedEnv(envs.make("CartPole-v1"), RescaleAction()).step(
            envs.make("CartPole-v1").reset(seed=0, batch_size=(1,)).set("action", torch.zeros(1)))
    # A frame stack of the wrong size (e.g. from another env) is named.
    cat = TransformedEnv(count_env(), CatFrames(3))
    td = cat.reset(seed=0, batch_size=(1,)).set("action", torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"frl.envs.CatFrames: the frame stack '_observation_frames' has 4 entries"):
        cat.step(td.set("_observation_frames", torch.zeros(1, 4)))
