"""frl.envs.GymEnv(from_pixels=True): frames checked against gymnasium's own ``env.render()``.

References are raw gymnasium envs made with ``render_mode="rgb_array"``, seeded alike and stepped with
the same actions. A small test env renders a frame that encodes its state (so final and reset frames
always differ); CartPole-v1 runs too where pygame (its renderer) is installed.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from frl import envs
from frl.envs import specs as S


class _PixelEnv(gym.Env):
    """A counter with short random-length episodes; its frame [4, 5, 3] shows the position and step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = int(self.np_random.integers(0, 200)), 0
        self.length = 2 + self.x % 3
        return np.array([self.x, self.t], np.float32), {}

    def step(self, action):
        self.x, self.t = self.x + int(action) + 1, self.t + 1
        return np.array([self.x, self.t], np.float32), 1.0, self.t >= self.length, False, {}

    def render(self):
        frame = np.zeros((4, 5, 3), np.uint8)
        frame[..., 0] = self.x % 256
        frame[..., 1] = self.t
        frame[..., 2] = np.arange(5, dtype=np.uint8)
        return frame


class _NoRgbEnv(_PixelEnv):
    metadata = {"render_modes": ["human"]}


class _FloatFrameEnv(_PixelEnv):
    def render(self):
        return super().render().astype(np.float32)


gym.register("frl-test/Pixels-v0", entry_point=_PixelEnv)  # pyright: ignore[reportArgumentType]  (a class is a creator)
gym.register("frl-test/NoRgb-v0", entry_point=_NoRgbEnv)  # pyright: ignore[reportArgumentType]  (a class is a creator)
gym.register("frl-test/FloatFrame-v0", entry_point=_FloatFrameEnv)  # pyright: ignore[reportArgumentType]  (a class is a creator)

IDS = ["frl-test/Pixels-v0", "CartPole-v1"]


def _needs_renderer(id):
    if id == "CartPole-v1":
        pytest.importorskip("pygame", reason="CartPole renders with pygame")


def _raw(id):
    return gym.make(id, render_mode="rgb_array")


def _frame(ref):
    return torch.from_numpy(np.ascontiguousarray(ref.render()))


@pytest.mark.parametrize("pixels_only", [False, True], ids=["state+pixels", "pixels_only"])
@pytest.mark.parametrize("id", IDS)
def test_single_env_pixels_equal_gymnasium_render(id, pixels_only):
    _needs_renderer(id)
    ref, env = _raw(id), envs.GymEnv(id, from_pixels=True, pixels_only=pixels_only)
    obs, _ = ref.reset(seed=3)
    td = env.reset(seed=3)
    assert ("observation" in td.keys()) is not pixels_only
    ref.action_space.seed(0)
    ends = 0
    for _ in range(30):
        assert td["pixels"].dtype == torch.uint8 and td["pixels"].is_contiguous()
        assert torch.equal(td["pixels"], _frame(ref))
        if not pixels_only:
            assert torch.equal(td["observation"], torch.as_tensor(obs))
        a = ref.action_space.sample()
        out = env.step(td.set("action", torch.as_tensor(a)))
        obs, _, term, trunc, _ = ref.step(a)
        assert torch.equal(out["next", "pixels"], _frame(ref))
        assert out["next", "done"].item() == (term or trunc)
        td = env.auto_reset(out)
        if term or trunc:
            ends += 1
            obs, _ = ref.reset()  # gymnasium's stream continues, as in GymEnv.auto_reset
    assert ends >= 1
    env.close()


@pytest.mark.parametrize("vectorize", ["sync", "async"])
@pytest.mark.parametrize("id", IDS)
def test_vector_env_next_pixels_are_the_final_frame(id, vectorize):
    # SAME_STEP autoreset: ("next", "pixels") of an ended episode is its last frame (rendered before
    # the sub-env reset), the next input's is the reset frame. Reference: independent raw envs i
    # seeded seed + i, reset by hand at each episode's end.
    _needs_renderer(id)
    n, seed, steps = 2, 5, 12 if id == "frl-test/Pixels-v0" else 30
    refs = [_raw(id) for _ in range(n)]
    obs = [ref.reset(seed=seed + i)[0] for i, ref in enumerate(refs)]
    actions = np.random.default_rng(0).integers(0, 2, size=(steps, n))
    with envs.GymEnv(id, num_envs=n, vectorize=vectorize, from_pixels=True, pixels_only=False) as env:
        td = env.reset(seed=seed)
        obs_spec = env.observation_spec
        assert isinstance(obs_spec, S.Composite)
        assert td["pixels"].shape == (n, *obs_spec["pixels"].shape)
        ends = 0
        for a in actions:
            for i, ref in enumerate(refs):
                assert torch.equal(td["pixels"][i], _frame(ref)), i
                assert torch.equal(td["observation"][i], torch.as_tensor(obs[i])), i
            out = env.step(td.set("action", torch.as_tensor(a)))
            td = env.auto_reset(out)
            for i, ref in enumerate(refs):
                obs[i], _, term, trunc, _ = ref.step(int(a[i]))
                final = _frame(ref)
                assert torch.equal(out["next", "pixels"][i], final), i
                assert out["next", "done"][i].item() == (term or trunc)
                if term or trunc:
                    ends += 1
                    obs[i], _ = ref.reset()
                    # The two frames differ, so a frame rendered after the autoreset would fail above.
                    assert not torch.equal(final, _frame(ref))
    assert ends >= 2


@pytest.mark.parametrize("num_envs", [None, 2], ids=["single", "sync2"])
def test_pixel_specs_and_check_env(num_envs):
    batch = () if num_envs is None else (num_envs,)
    env = envs.GymEnv("frl-test/Pixels-v0", num_envs=num_envs, from_pixels=True, pixels_only=False)
    spec = env.observation_spec
    assert isinstance(spec, S.Composite) and set(spec.keys()) == {"observation", "pixels"}
    pix = spec["pixels"]
    assert isinstance(pix, S.Bounded) and pix.dtype == torch.uint8 and tuple(pix.shape) == (4, 5, 3)
    assert int(pix.low.min()) == 0 and int(pix.high.max()) == 255
    assert tuple(spec["observation"].shape) == (2,) and spec["observation"].dtype == torch.float32
    td = env.reset(seed=0)
    assert td["pixels"].shape == batch + (4, 5, 3)
    assert bool(spec.is_in(td.select("observation", "pixels")).all())
    out = env.step(envs.random_action(env, td))
    assert bool(spec.is_in(out["next"].select("observation", "pixels")).all())
    envs.check_env(env, steps=8)
    traj = envs.rollout(env, None, env.reset(seed=1), steps=6)
    assert traj["next", "pixels"].shape == batch + (6, 4, 5, 3)
    assert "pixels_only=False" in repr(env)

    only = envs.GymEnv("frl-test/Pixels-v0", num_envs=num_envs, from_pixels=True)  # pixels_only by default
    only_spec = only.observation_spec
    assert isinstance(only_spec, S.Composite) and list(only_spec.keys()) == ["pixels"]
    td = only.reset(seed=0)
    assert set(td.keys()) == {"pixels", "done", "terminated", "truncated", "key"}
    assert set(only.step(envs.random_action(only, td))["next"].keys()) == {
        "pixels", "reward", "done", "terminated", "truncated", "key"}
    envs.check_env(only, steps=8)
    env.close()
    only.close()


def test_pixels_are_copies_that_later_steps_leave_alone():
    env = envs.GymEnv("frl-test/Pixels-v0", from_pixels=True, pixels_only=True)
    td = env.reset(seed=0)
    kept, copies = [], []
    for t in range(6):
        out = env.step(td.set("action", torch.tensor(t % 2)))
        kept.append(out)
        copies.append(out.clone())
        td = env.auto_reset(out)
    assert all((a == b).all() for a, b in zip(kept, copies))


@pytest.mark.filterwarnings("ignore::UserWarning")  # gymnasium warns of the unsupported render modes it is given
def test_pixel_errors_name_the_env_and_what_was_expected():
    with pytest.raises(ValueError, match=r"frl\.envs\.GymEnv: from_pixels=True needs 'frl-test/NoRgb-v0' to "
                                         r"render rgb_array frames .*render_modes'\] is \['human'\]"):
        envs.GymEnv("frl-test/NoRgb-v0", from_pixels=True)
    with pytest.raises(ValueError, match=r"frl\.envs\.GymEnv: .*'frl-test/NoRgb-v0'"):
        envs.GymEnv("frl-test/NoRgb-v0", num_envs=2, vectorize="async", from_pixels=True)
    with pytest.raises(ValueError, match=r"frl-test/FloatFrame-v0.*uint8 \[H, W, 3\].*returned float32 \[4, 5, 3\]"):
        envs.GymEnv("frl-test/FloatFrame-v0", from_pixels=True)
    plain = envs.GymEnv("frl-test/Pixels-v0", pixels_only=True).reset(seed=0)  # ignored without from_pixels
    assert "observation" in plain.keys() and "pixels" not in plain.keys()
    with pytest.raises(ValueError, match=r"render_mode='rgb_array', got render_mode='human'"):
        envs.GymEnv("frl-test/Pixels-v0", from_pixels=True, render_mode="human")
