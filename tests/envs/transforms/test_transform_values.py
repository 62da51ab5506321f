"""Each transform against hand-computed values (CountEnv's numbers are exact) and TorchRL's semantics."""

import math

import numpy as np
import pytest
import torch
from gymnasium.wrappers.utils import RunningMeanStd

import frl
from frl import envs
from frl.envs import (CatFrames, CatTensors, DoubleToFloat, NoopReset, ObservationNorm, RewardScaling, RewardSum,
                      StepCounter, TimeLimit, TransformedEnv, Unsqueeze)
from tests.envs.transforms._envs import count_env, pendulum


def _act(td, *values):
    """Set one action per env (CountEnv: [B, 1])."""
    return td.set("action", torch.tensor(values, dtype=torch.float32).reshape(-1, 1))


def _run(env, actions, batch=(2,)):
    """Reset, then step_and_reset with the given per-step action tuples; returns (reset, [outs], last td)."""
    td = env.reset(seed=0, batch_size=batch)
    first, outs = td, []
    for a in actions:
        out, td = envs.step_and_reset(env, _act(td, *a))
        outs.append(out)
    return first, outs, td


@pytest.mark.parametrize("standard_normal", [False, True], ids=["affine", "standard_normal"])
def test_observation_norm_fixed(standard_normal):
    env = TransformedEnv(count_env(), ObservationNorm(1.0, 2.0, standard_normal=standard_normal))
    first, outs, _ = _run(env, [(1.0, 0.5)])
    raw = torch.tensor([[1.0, 2.0], [0.5, 1.0]])
    # TorchRL: x * scale + loc, or (x - loc) / scale with standard_normal.
    want = (raw - 1.0) / 2.0 if standard_normal else raw * 2.0 + 1.0
    want0 = torch.full((2, 2), -0.5) if standard_normal else torch.ones(2, 2)
    torch.testing.assert_close(first["observation"], want0)
    torch.testing.assert_close(outs[0]["next", "observation"], want)
    # The fixed map of a Bounded spec is Bounded, with the bounds mapped.
    spec = env.observation_spec
    lo = (-100.0 - 1) / 2 if standard_normal else -100.0 * 2 + 1
    assert isinstance(spec, envs.Bounded) and float(spec.low.min()) == lo


def test_observation_norm_running_matches_gymnasium():
    # gymnasium's NormalizeObservation: RunningMeanStd (float64) updated with each batch of
    # observations, the reset's included, then (x - mean) / sqrt(var + 1e-8).
    base = pendulum(max_episode_steps=1000)
    env = TransformedEnv(base, ObservationNorm(running=True))
    key = frl.random.key(3)
    td, raw = env.reset(key, (5,)), base.reset(key, (5,))
    rms = RunningMeanStd(shape=(3,))

    def ref(x):
        rms.update(x.double().numpy())
        return torch.from_numpy((x.double().numpy() - rms.mean) / np.sqrt(rms.var + 1e-8)).float()

    torch.testing.assert_close(td["observation"], ref(raw["observation"]), rtol=1e-5, atol=1e-5)
    for t in range(6):
        a = torch.full((5, 1), math.sin(t))
        out = env.step(td.set("action", a))
        rout = base.step(raw.set("action", a))
        torch.testing.assert_close(out["next", "observation"], ref(rout["next", "observation"]), rtol=1e-5, atol=1e-5)
        td, raw = envs.step_mdp(out), envs.step_mdp(rout)
    torch.testing.assert_close(td["_observation_mean"][0], torch.from_numpy(rms.mean).float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(td["_observation_var"][0], torch.from_numpy(rms.var).float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(td["_observation_count"][0], torch.tensor(rms.count, dtype=torch.float32))


@pytest.mark.parametrize("standard_normal", [False, True], ids=["affine", "standard_normal"])
def test_observation_norm_init_stats(standard_normal):
    base = pendulum()
    norm = ObservationNorm(standard_normal=standard_normal)
    env = TransformedEnv(base, norm)
    assert norm.init_stats(frl.random.key(0), steps=20, batch_size=(4,)) is norm
    # The same rollout of the base env, by hand: its mean and std per feature.
    traj = envs.rollout(base, None, base.reset(frl.random.key(0), (4,)), 20)
    obs = traj["next", "observation"].reshape(-1, 3).double()
    mean, std = obs.mean(0), obs.std(0)
    assert norm.loc is not None and norm.scale is not None
    torch.testing.assert_close(norm.loc.double(), mean if standard_normal else -mean / std, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.scale.double(), std if standard_normal else 1 / std, rtol=1e-5, atol=1e-6)
    # Either way, the normalized rollout has mean 0 and standard deviation 1.
    z = envs.rollout(env, None, env.reset(frl.random.key(0), (4,)), 20)["next", "observation"].reshape(-1, 3)
    torch.testing.assert_close(z.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(3), atol=1e-4, rtol=0)


@pytest.mark.parametrize("standard_normal", [False, True], ids=["affine", "standard_normal"])
def test_reward_scaling(standard_normal):
    env = TransformedEnv(count_env(), RewardScaling(loc=1.0, scale=4.0, standard_normal=standard_normal))
    _, outs, _ = _run(env, [(1.0, -0.5)])
    r = torch.tensor([[1.0], [-0.5]])
    want = (r - 1.0) / 4.0 if standard_normal else r * 4.0 + 1.0
    torch.testing.assert_close(outs[0]["next", "reward"], want)


def test_reward_sum_resets_with_the_episode():
    # env 0: x = 1, 2, 3 (terminates at 3), then 1 in a new episode; env 1: x = 0.5, 1, 1.5, 2.
    env = TransformedEnv(count_env(), RewardSum())
    first, outs, td = _run(env, [(1.0, 0.5)] * 4)
    assert torch.equal(first["episode_reward"], torch.zeros(2, 1))
    sums = torch.cat([o["next", "episode_reward"] for o in outs], dim=1)
    torch.testing.assert_close(sums, torch.tensor([[1.0, 3.0, 6.0, 1.0], [0.5, 1.5, 3.0, 5.0]]))
    assert outs[2]["next", "done"].flatten().tolist() == [True, False]
    torch.testing.assert_close(td["episode_reward"], torch.tensor([[1.0], [5.0]]))
    assert isinstance(env.full_observation_spec["episode_reward"], envs.Unbounded)


@pytest.mark.parametrize("cls", [StepCounter, TimeLimit])
def test_step_counter_truncates_at_max_steps(cls):
    env = TransformedEnv(count_env(), cls(2))
    first, outs, td = _run(env, [(0.0, 0.0)] * 3)
    assert torch.equal(first["step_count"], torch.zeros(2, 1, dtype=torch.int64))
    counts = [o["next", "step_count"].flatten().tolist() for o in outs]
    assert counts == [[1, 1], [2, 2], [1, 1]]
    assert [o["next", "truncated"].flatten().tolist() for o in outs] == [[False] * 2, [True] * 2, [False] * 2]
    assert [o["next", "done"].flatten().tolist() for o in outs] == [[False] * 2, [True] * 2, [False] * 2]
    assert not outs[1]["next", "terminated"].any()
    assert env.params.max_episode_steps == 2 and env.base_env.params.max_episode_steps == 100


def test_step_counter_without_limit_only_counts():
    env = TransformedEnv(count_env(max_episode_steps=1000), StepCounter())
    _, outs, _ = _run(env, [(0.0, 0.0)] * 5)
    assert outs[-1]["next", "step_count"].flatten().tolist() == [5, 5]
    assert not any(o["next", "done"].any() for o in outs)


def test_cat_frames_same_and_constant_padding():
    # Observation (x, 2x); actions +1 then +0.5: frames oldest first.
    env = TransformedEnv(count_env(), CatFrames(3, dim=-1))
    first, outs, _ = _run(env, [(1.0,), (0.5,)], batch=(1,))
    assert first["observation"].tolist() == [[0.0] * 6]
    assert outs[0]["next", "observation"].tolist() == [[0, 0, 0, 0, 1, 2]]
    assert outs[1]["next", "observation"].tolist() == [[0, 0, 1, 2, 1.5, 3]]
    assert env.observation_spec.shape == (6,)
    env = TransformedEnv(count_env(), CatFrames(3, dim=-1, padding="constant", padding_value=-1.0))
    first, outs, _ = _run(env, [(1.0,)], batch=(1,))
    assert first["observation"].tolist() == [[-1, -1, -1, -1, 0, 0]]
    assert outs[0]["next", "observation"].tolist() == [[-1, -1, 0, 0, 1, 2]]


def test_cat_frames_along_a_new_dim():
    # TorchRL's recipe: unsqueeze a frame dimension, then stack along it.
    env = TransformedEnv(count_env(), [Unsqueeze(-2), CatFrames(2, dim=-2)])
    first, outs, _ = _run(env, [(1.0,)], batch=(1,))
    assert first["observation"].shape == (1, 2, 2)
    assert outs[0]["next", "observation"].tolist() == [[[0, 0], [1, 2]]]
    assert env.observation_spec.shape == (2, 2)


def test_unsqueeze():
    env = TransformedEnv(count_env(), Unsqueeze(-1))
    first, outs, _ = _run(env, [(1.0, 0.5)])
    assert first["observation"].shape == (2, 2, 1)
    assert outs[0]["next", "observation"].tolist() == [[[1.0], [2.0]], [[0.5], [1.0]]]
    spec = env.observation_spec
    assert isinstance(spec, envs.Bounded) and spec.shape == (2, 1) and spec.low.shape == (2, 1)


def test_double_to_float():
    base = envs.make("Pendulum-v1", dtype=torch.float64)
    env = TransformedEnv(base, DoubleToFloat())
    td, raw = env.reset(seed=0, batch_size=(3,)), base.reset(seed=0, batch_size=(3,))
    assert td["observation"].dtype == torch.float32 and td["state"].dtype == torch.float64
    torch.testing.assert_close(td["observation"], raw["observation"].float())
    a = torch.full((3, 1), 0.25)
    out, rout = env.step(td.set("action", a)), base.step(raw.set("action", a))
    assert out["next", "reward"].dtype == torch.float32
    torch.testing.assert_close(out["next", "reward"], rout["next", "reward"].float())
    torch.testing.assert_close(out["next", "observation"], rout["next", "observation"].float())
    assert env.observation_spec.dtype == torch.float32 and env.reward_spec.dtype == torch.float32
    envs.check_env(env)


def test_cat_tensors_with_out_keys():
    # A second entry from ObservationNorm's out_keys, then both concatenated into "observation".
    env = TransformedEnv(count_env(), [ObservationNorm(1.0, 2.0, out_keys=["scaled"]),
                                       CatTensors(["observation", "scaled"], out_key="observation")])
    first, outs, _ = _run(env, [(1.0, 0.5)])
    assert first["observation"].tolist() == [[0, 0, 1, 1]] * 2
    assert outs[0]["next", "observation"].tolist() == [[1, 2, 3, 5], [0.5, 1, 2, 3]]
    assert "scaled" not in outs[0]["next"].keys()
    spec = env.observation_spec
    assert isinstance(spec, envs.Bounded) and spec.shape == (4,) and spec.low.tolist() == [-100, -100, -199, -199]
    envs.check_env(env)


def test_noop_reset_takes_the_drawn_number_of_steps():
    # action +0.25 per no-op: x = 0.25 * (number of no-ops), and the step count counts them.
    env = TransformedEnv(count_env(), NoopReset(noops=5, action=torch.tensor([0.25])))
    td = env.reset(seed=0, batch_size=(64,))
    n = td["step_count"].flatten()
    torch.testing.assert_close(td["state"].flatten(), 0.25 * n.float())
    assert int(n.min()) >= 0 and int(n.max()) <= 4 and len(set(n.tolist())) > 1   # U{0, ..., 4}
    assert torch.equal(env.reset(seed=0, batch_size=(64,))["state"], td["state"])
    fixed = TransformedEnv(count_env(), NoopReset(noops=3, random=False, action=torch.tensor([0.5])))
    assert fixed.reset(seed=1, batch_size=(2,))["step_count"].flatten().tolist() == [3, 3]


def test_noop_reset_stops_before_ending_the_episode():
    # +1 per no-op with the threshold at 3: the third no-op would terminate, so it is not taken.
    env = TransformedEnv(count_env(), NoopReset(noops=5, random=False, action=torch.tensor([1.0])))
    td = env.reset(seed=0, batch_size=(2,))
    assert td["state"].flatten().tolist() == [2.0, 2.0]
    assert not td["done"].any()
