"""frl.envs.DMControlEnv and spec_from_dm_control, stepped side by side with raw dm_control."""

import os

# dm_control picks its GL backend when first imported: EGL renders headless (GPU or Mesa).
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

suite = pytest.importorskip("dm_control.suite")
from dm_env import specs as dm_specs  # noqa: E402

from frl import envs  # noqa: E402
from frl.envs import specs as S  # noqa: E402


def _actions(env, n, seed):
    spec = env.action_spec()
    # Values that float32 holds exactly, so float32 and float64 envs get the very same actions.
    a = np.random.default_rng(seed).uniform(spec.minimum, spec.maximum, (n,) + spec.shape)
    return a.astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("domain,task", [("cartpole", "swingup"), ("cheetah", "run")])
def test_matches_dm_control_step_for_step(domain, task):
    raw = suite.load(domain, task, task_kwargs={"random": 5})
    env = envs.DMControlEnv(domain, task, flatten=False, dtype=torch.float64)
    flat = envs.DMControlEnv(domain, task)  # float32, one "observation" vector
    ts = raw.reset()
    td, td_flat = env.reset(seed=5), flat.reset(seed=5)
    keys = list(raw.observation_spec().keys())
    for a in _actions(raw, 25, 0):
        for k in keys:
            torch.testing.assert_close(td[k], torch.as_tensor(ts.observation[k]), rtol=0, atol=0)
        want = np.concatenate([np.ravel(ts.observation[k]) for k in keys]).astype(np.float32)
        torch.testing.assert_close(td_flat["observation"], torch.from_numpy(want), rtol=0, atol=0)
        ts = raw.step(a)
        out = env.step(td.set("action", torch.as_tensor(a)))
        out_flat = flat.step(td_flat.set("action", torch.as_tensor(a, dtype=torch.float32)))
        assert out["next", "reward"].tolist() == [ts.reward]
        assert out_flat["next", "reward"].dtype == torch.float32
        torch.testing.assert_close(out_flat["next", "reward"], torch.tensor([ts.reward], dtype=torch.float32))
        assert not out["next", "done"].any() and not out_flat["next", "done"].any()
        td, td_flat = env.auto_reset(out), flat.auto_reset(out_flat)
    for k in keys:
        torch.testing.assert_close(out["next", k], torch.as_tensor(ts.observation[k]), rtol=0, atol=0)


def test_time_limit_truncates_and_auto_reset_continues_like_dm_control():
    kw = {"time_limit": 0.1, "random": 2}  # cartpole's control step is 0.01 s: 10 steps an episode
    raw = suite.load("cartpole", "swingup", task_kwargs=kw)
    env = envs.DMControlEnv("cartpole", "swingup", task_kwargs={"time_limit": 0.1}, dtype=torch.float64)
    ts, td = raw.reset(), env.reset(seed=2)
    ends = []
    for t, a in enumerate(_actions(raw, 25, 1)):
        ts = raw.step(a)
        out = env.step(td.set("action", torch.as_tensor(a)))
        assert out["next", "truncated"].item() == ts.last() and not out["next", "terminated"].item()
        assert out["next", "done"].item() == ts.last()
        torch.testing.assert_close(out["next", "observation"], torch.from_numpy(
            np.concatenate([ts.observation["position"], ts.observation["velocity"]])), rtol=0, atol=0)
        td = env.auto_reset(out)
        if ts.last():
            ends.append(t)
            ts = raw.reset()  # continues the task's random stream, as frl's auto_reset does
            torch.testing.assert_close(td["observation"], torch.from_numpy(
                np.concatenate([ts.observation["position"], ts.observation["velocity"]])), rtol=0, atol=0)
            assert not td["done"].any()
    assert ends == [9, 19]


def test_discount_zero_is_terminated():
    env = envs.DMControlEnv("cartpole", "balance")
    env.env.task.get_termination = lambda physics: 0.0  # the task fails the agent at once
    td = env.reset(seed=0)
    out = env.step(td.set("action", torch.zeros(1)))
    assert out["next", "terminated"].item() and not out["next", "truncated"].item() and out["next", "done"].item()


def test_frame_skip_sums_rewards_over_repeated_actions():
    raw = suite.load("cheetah", "run", task_kwargs={"random": 0})
    env = envs.DMControlEnv("cheetah", "run", frame_skip=3, dtype=torch.float64)
    raw.reset()
    td = env.reset(seed=0)
    for a in _actions(raw, 4, 2):
        steps = [raw.step(a) for _ in range(3)]
        out = env.step(td.set("action", torch.as_tensor(a)))
        assert out["next", "reward"].item() == pytest.approx(sum(ts.reward for ts in steps), rel=1e-12, abs=0)
        obs = steps[-1].observation
        torch.testing.assert_close(out["next", "observation"], torch.from_numpy(
            np.concatenate([obs["position"], obs["velocity"]])), rtol=0, atol=0)
        td = env.auto_reset(out)


def test_specs_and_check_env():
    env = envs.DMControlEnv("cartpole", "swingup", task_kwargs={"time_limit": 0.05})
    assert env.observation_spec.shape == (5,) and env.action_spec.shape == (1,)
    assert isinstance(env.action_spec, S.Bounded) and env.action_spec.dtype == torch.float32
    envs.check_env(env, steps=12)
    traj = envs.rollout(env, None, env.reset(seed=0), steps=12)
    assert traj["next", "truncated"].squeeze(-1).tolist() == [t % 5 == 4 for t in range(12)]
    with pytest.raises(ValueError, match=r"frl\.envs\.DMControlEnv\.step: action has values outside \[-1, 1\]"):
        env.step(env.reset(seed=0).set("action", torch.tensor([1.5])))
    with pytest.raises(ValueError, match=r"frl\.envs\.DMControlEnv\.reset: batch_size=\[2\]"):
        env.reset(seed=0, batch_size=2)
    per_key = envs.DMControlEnv("walker", "walk", flatten=False)
    per_key_spec = per_key.observation_spec
    assert isinstance(per_key_spec, S.Composite)
    assert set(per_key_spec.keys()) == {"orientations", "height", "velocity"}
    assert per_key.reset(seed=0)["height"].shape == ()  # dm_control's scalar observation keeps its shape


def test_spec_from_dm_control():
    spec = envs.spec_from_dm_control(dm_specs.BoundedArray((2,), np.float64, -1.0, [1.0, 2.0]))
    assert isinstance(spec, S.Bounded) and spec.high.tolist() == [1.0, 2.0] and spec.dtype == torch.float64
    assert isinstance(envs.spec_from_dm_control(dm_specs.Array((3,), np.float32)), S.Unbounded)
    discrete = envs.spec_from_dm_control(dm_specs.DiscreteArray(4))
    assert isinstance(discrete, S.Categorical) and discrete.n == 4
    obs = envs.spec_from_dm_control(suite.load("cartpole", "swingup").observation_spec(), float_dtype=torch.float32)
    assert isinstance(obs, S.Composite)
    assert list(obs.keys()) == ["position", "velocity"] and obs["velocity"].dtype == torch.float32
    with pytest.raises(TypeError, match=r"frl\.envs\.spec_from_dm_control: unsupported spec"):
        envs.spec_from_dm_control(dm_specs.StringArray(()))
    with pytest.raises(TypeError, match=r"frl\.envs\.spec_from_dm_control: unsupported spec .*list"):
        envs.spec_from_dm_control([1, 2])


def test_pixels_match_physics_render_or_fail_clearly():
    try:
        env = envs.DMControlEnv("cartpole", "swingup", from_pixels=True, pixels_only=False, height=24, width=32)
    except RuntimeError as e:  # no working renderer here: the error must say what to do
        assert "MUJOCO_GL" in str(e) and "frl.envs.DMControlEnv" in str(e)
        return
    raw = suite.load("cartpole", "swingup", task_kwargs={"random": 0})
    raw.reset()
    td = env.reset(seed=0)
    obs_spec = env.observation_spec
    assert isinstance(obs_spec, S.Composite)
    assert set(obs_spec.keys()) == {"observation", "pixels"}
    assert td["pixels"].shape == (24, 32, 3) and td["pixels"].dtype == torch.uint8
    a = np.array([0.3])
    raw.step(a)
    out = env.step(td.set("action", torch.tensor([0.3])))
    want = raw.physics.render(height=24, width=32, camera_id=0)
    torch.testing.assert_close(out["next", "pixels"], torch.from_numpy(want.copy()), rtol=0, atol=0)
    assert bool(obs_spec["pixels"].is_in(out["next", "pixels"]))
    only = envs.DMControlEnv("cartpole", "swingup", from_pixels=True, height=8, width=8)
    only_spec = only.observation_spec
    assert isinstance(only_spec, S.Composite)
    assert list(only_spec.keys()) == ["pixels"] and "observation" not in only.reset(seed=0).keys()


def test_render_failure_is_a_clear_error(monkeypatch):
    from dm_control.mujoco import engine

    def broken(self, *args, **kwargs):
        raise RuntimeError("no OpenGL context")

    monkeypatch.setattr(engine.Physics, "render", broken)
    with pytest.raises(RuntimeError, match=r"frl\.envs\.DMControlEnv: from_pixels=True needs a working MuJoCo "
                                           r"renderer.*no OpenGL context.*MUJOCO_GL=egl"):
        envs.DMControlEnv("cartpole", "swingup", from_pixels=True)
