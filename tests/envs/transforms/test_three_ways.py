"""Transformed envs under the three ways to run: eager, vmap, compile(fullgraph=True) with no recompile.

Each `three_ways` call compares consecutive steps of one run (so a recompile across steps fails).
Kept few and tiny: compile time dominates.
"""

import torch

import frl
from frl import envs
from frl.envs import (CatFrames, CatTensors, ClipAction, DoubleToFloat, GrayScale, NoopReset, ObservationNorm,
                      RescaleAction, Resize, RewardScaling, RewardSum, StepCounter, TimeLimit, Unsqueeze,
                      ToTensorImage, TransformedEnv)
from tests.envs.transforms._envs import ImageEnv


def _consecutive(env, n, batch=(3,)):
    td = envs.random_action(env, env.reset(seed=0, batch_size=batch))
    out = [td]
    for _ in range(n - 1):
        td = envs.random_action(env, envs.step_and_reset(env, td)[1])
        out.append(td)
    return out


def test_pendulum_step_and_reset_three_ways(three_ways, assert_pure):
    # A time limit of 2 puts auto-resets among the compared steps.
    env = TransformedEnv(envs.make("Pendulum-v1"),
                         [ObservationNorm(running=True), RewardSum(), StepCounter(2), CatFrames(3)])
    tds = _consecutive(env, 3)
    assert_pure(envs.step_and_reset, env, tds[0])
    outs = three_ways(lambda td: envs.step_and_reset(env, td), *[(td,) for td in tds], rtol=1e-4, atol=1e-5)
    assert any(bool(o[0]["next", "done"].any()) for o in outs)


def test_noop_reset_three_ways(three_ways):
    env = TransformedEnv(envs.make("CartPole-v1"), NoopReset(noops=3))
    outs = three_ways(lambda key: env.reset(key, (4,)), (frl.random.key(0),), (frl.random.key(1),))
    assert any(bool((o["step_count"] > 0).any()) for o in outs)


def test_image_pipeline_three_ways(three_ways):
    env = TransformedEnv(ImageEnv(), [ToTensorImage(in_keys=["observation"]), Resize(3, 5, in_keys=["observation"]),
                                      GrayScale(in_keys=["observation"]), CatFrames(2, dim=-3)])
    tds = _consecutive(env, 2, batch=(2,))
    outs = three_ways(lambda td: envs.step_and_reset(env, td), *[(td,) for td in tds])
    assert outs[0][1]["observation"].shape == (2, 2, 3, 5)
    assert outs[0][0]["next", "observation"].dtype == torch.float32


def test_remaining_transforms_three_ways(three_ways):
    # Every transform not covered above, in one pipeline over float64 Pendulum (time limit 2, so the
    # compared steps include auto-resets).
    env = TransformedEnv(envs.make("Pendulum-v1", dtype=torch.float64),
                         [DoubleToFloat(), RewardScaling(0.0, 0.1), RewardSum(),
                          CatTensors(["observation", "episode_reward"], del_keys=False),
                          Unsqueeze(-1, in_keys=["observation_vector"]), TimeLimit(2),
                          RescaleAction(-1.0, 1.0), ClipAction()])
    tds = _consecutive(env, 3)
    outs = three_ways(lambda td: envs.step_and_reset(env, td), *[(td,) for td in tds], rtol=1e-4, atol=1e-5)
    assert outs[0][0]["next", "observation_vector"].shape == (3, 4, 1)
    assert outs[0][0]["next", "reward"].dtype == torch.float32
    assert any(bool(o[0]["next", "truncated"].any()) for o in outs)
