"""Auto-reset through transforms: where only some envs are done, only they start afresh."""

import numpy as np
import pytest
import torch
from gymnasium.wrappers.utils import RunningMeanStd

from frl import envs
from frl.envs import CatFrames, ObservationNorm, RewardSum, StepCounter, TransformedEnv
from tests.envs.transforms._envs import HostEnv, count_env


def _transforms():
    return [ObservationNorm(running=True), RewardSum(), StepCounter(), CatFrames(2, dim=-1)]


@pytest.mark.parametrize("kind", ["stateless", "host"])
def test_partial_done_resets_only_the_done_envs(kind):
    # env 0 steps +1 (x = 1, 2, 3: terminated at the third step); env 1 steps +0.5 (x = 0.5, 1, 1.5).
    base = count_env() if kind == "stateless" else HostEnv(count_env())
    env = TransformedEnv(base, _transforms())
    td = env.reset(seed=0, batch_size=(2,))
    rms = RunningMeanStd(shape=(2,))
    rms.update(np.zeros((2, 2)))
    a = torch.tensor([[1.0], [0.5]])
    for t in range(1, 4):
        out, td = envs.step_and_reset(env, td.set("action", a))
        raw = torch.tensor([[1.0 * t, 2.0 * t], [0.5 * t, 1.0 * t]], dtype=torch.float64)
        rms.update(raw.numpy())
    assert out["next", "done"].flatten().tolist() == [True, False]

    mean, var = torch.from_numpy(rms.mean), torch.from_numpy(rms.var)

    def norm(x):
        return ((x - mean) / torch.sqrt(var + 1e-8)).float()

    final = norm(torch.tensor([[3.0, 6.0], [1.5, 3.0]], dtype=torch.float64))
    # The transition keeps the true final observation of env 0, normalized like the others.
    torch.testing.assert_close(out["next", "observation"][:, 2:], final)
    torch.testing.assert_close(out["next", "episode_reward"], torch.tensor([[6.0], [3.0]]))
    torch.testing.assert_close(out["next", "step_count"], torch.tensor([[3], [3]]))

    # The next input: env 0 starts a new episode (x = 0), env 1 continues.
    fresh = norm(torch.zeros(1, 2, dtype=torch.float64))[0]
    torch.testing.assert_close(td["observation"][0], torch.cat([fresh, fresh]))       # frame stack refilled
    torch.testing.assert_close(td["observation"][1, 2:], final[1])
    assert td["observation"][1, :2].tolist() != td["observation"][1, 2:].tolist()
    torch.testing.assert_close(td["episode_reward"], torch.tensor([[0.0], [3.0]]))
    torch.testing.assert_close(td["step_count"], torch.tensor([[0], [3]]))
    assert td["done"].flatten().tolist() == [False, False]
    # The running statistics carry on for every env, the reset one included.
    for i in range(2):
        torch.testing.assert_close(td["_observation_mean"][i], mean.float())
        torch.testing.assert_close(td["_observation_var"][i], var.float())
    torch.testing.assert_close(td["_observation_count"], torch.full((2,), rms.count, dtype=torch.float32))

    # One more step: env 0's first step of its new episode, env 1's fourth.
    out, td = envs.step_and_reset(env, td.set("action", a))
    torch.testing.assert_close(out["next", "episode_reward"], torch.tensor([[1.0], [5.0]]))
    torch.testing.assert_close(out["next", "step_count"], torch.tensor([[1], [4]]))


def test_time_limit_done_resets_the_base_env():
    # StepCounter's truncation (not the base env's) must reset the base env's own state too.
    env = TransformedEnv(count_env(), [StepCounter(2), RewardSum()])
    td = env.reset(seed=0, batch_size=(1,))
    xs = []
    for _ in range(5):
        out, td = envs.step_and_reset(env, td.set("action", torch.tensor([[1.0]])))
        xs.append(float(out["next", "state"]))
    assert xs == [1.0, 2.0, 1.0, 2.0, 1.0]


def test_host_env_rollout_equals_stateless():
    transforms = lambda: [ObservationNorm(running=True), RewardSum(), StepCounter(3), CatFrames(3)]  # noqa: E731
    stateless = TransformedEnv(envs.make("Pendulum-v1"), transforms())
    host = TransformedEnv(HostEnv(envs.make("Pendulum-v1")), transforms())
    a = envs.rollout(stateless, None, stateless.reset(seed=5, batch_size=(4,)), 7)
    b = envs.rollout(host, None, host.reset(seed=5, batch_size=(4,)), 7)
    assert bool(a["next", "done"].any())
    a = a.exclude("state", ("next", "state"))
    assert set(a.keys(True, True)) == set(b.keys(True, True))
    for k in a.keys(True, True):
        torch.testing.assert_close(a[k], b[k], msg=lambda m, k=k: f"{k}: {m}")


def test_dict_observation_host_env_with_cat_tensors():
    # A Composite observation spec (a host env's Dict space): CatTensors builds the flat observation,
    # and the run equals the stateless env's.
    from frl.envs import CatTensors
    from tests.envs.transforms._envs import DictHostEnv

    host = TransformedEnv(DictHostEnv(envs.make("Pendulum-v1")),
                          [CatTensors(["angle", "velocity"], out_key="observation"), RewardSum(), StepCounter(3)])
    spec = host.observation_spec
    # A Composite base spec stays Composite, with every entry the transforms write (as TorchRL's).
    assert isinstance(spec, envs.Composite) and spec["observation"].shape == (3,)
    assert list(spec.keys()) == ["observation", "episode_reward", "step_count"]
    stateless = TransformedEnv(envs.make("Pendulum-v1"), [RewardSum(), StepCounter(3)])
    a = envs.rollout(stateless, None, stateless.reset(seed=2, batch_size=(3,)), 5)
    b = envs.rollout(host, None, host.reset(seed=2, batch_size=(3,)), 5)
    for k in [("next", "observation"), "observation", ("next", "episode_reward"), ("next", "done")]:
        torch.testing.assert_close(a[k], b[k])
    assert "angle" not in b.keys() and bool(a["next", "done"].any())
