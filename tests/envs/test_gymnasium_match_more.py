"""frl's MountainCar-v0, MountainCarContinuous-v0 and Acrobot-v1 against gymnasium's own envs, step for step."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from frl import envs


def _side_by_side(id, dtype, policy, steps, seed, n=3, resync=False, atol=1e-12):
    """Run frl and n gymnasium envs from the same states; compare every step. Returns episode lengths."""
    env = envs.make(id, dtype=dtype)
    td = env.reset(seed=seed, batch_size=(n,))
    gyms = []
    for i in range(n):
        g = gym.make(id, disable_env_checker=True)
        g.reset(seed=i)
        g.unwrapped.state = td["state"][i].double().numpy().copy()  # pyright: ignore[reportAttributeAccessIssue]  (the classic-control envs' state)
        gyms.append(g)
    lengths: list[int | None] = [None] * n
    for t in range(steps):
        if resync:
            for i, g in enumerate(gyms):
                # gymnasium keeps MountainCarContinuous's state in float32 after every step.
                g.unwrapped.state = td["state"][i].numpy().copy()
        action = policy(td, t)
        td = env.step(td.set("action", action))
        for i, g in enumerate(gyms):
            if lengths[i] is not None:
                continue
            a = action[i].numpy() if action.is_floating_point() else int(action[i])
            obs, r, term, trunc, _ = g.step(a)
            state = np.asarray(g.unwrapped.state, dtype=np.float64)
            np.testing.assert_allclose(td["next", "state"][i].double().numpy(), state, rtol=0, atol=atol)
            np.testing.assert_allclose(td["next", "observation"][i].float().numpy(), obs, rtol=0, atol=max(atol, 1e-7))
            np.testing.assert_allclose(td["next", "reward"][i, 0].item(), r, rtol=1e-6, atol=atol)
            assert td["next", "terminated"][i, 0].item() == term, f"env {i} step {t}"
            assert td["next", "truncated"][i, 0].item() == trunc, f"env {i} step {t}"
            if term or trunc:
                lengths[i] = t + 1
        td = envs.step_mdp(td)
        if all(x is not None for x in lengths):
            break
    return lengths


def _pump(td, t):
    # Push along the velocity: pumps energy in, reaches the flag in about 100 steps.
    return torch.where(td["state"][..., 1] >= 0, 2, 0)


def test_mountain_car_float64_reaches_the_goal():
    lengths = _side_by_side("MountainCar-v0", torch.float64, _pump, 200, seed=0)
    assert all(n is not None and n < 200 for n in lengths)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_mountain_car_random_actions_truncate_at_200(dtype):
    rng = np.random.default_rng(0)
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    lengths = _side_by_side("MountainCar-v0", dtype, lambda td, t: torch.from_numpy(rng.integers(0, 3, 3)),
                            200, seed=1, resync=dtype == torch.float32, atol=atol)
    assert lengths == [200, 200, 200]


def test_mountain_car_continuous_reaches_the_goal():
    def pump(td, t):
        return torch.where(td["state"][..., 1:] >= 0, 1.5, -1.5).float()  # beyond [-1, 1]: clipped

    lengths = _side_by_side("MountainCarContinuous-v0", torch.float32, pump, 999, seed=2,
                            resync=True, atol=1e-6)
    assert all(n is not None and n < 999 for n in lengths)


def test_mountain_car_continuous_random_actions_truncate_at_999():
    rng = np.random.default_rng(1)
    actions = torch.from_numpy(rng.uniform(-1.5, 1.5, (999, 2, 1)).astype(np.float32))
    lengths = _side_by_side("MountainCarContinuous-v0", torch.float32, lambda td, t: actions[t], 999,
                            seed=3, n=2, resync=True, atol=1e-6)
    assert lengths == [999, 999]


def test_acrobot_float64_random_actions_full_episode():
    rng = np.random.default_rng(2)
    lengths = _side_by_side("Acrobot-v1", torch.float64, lambda td, t: torch.from_numpy(rng.integers(0, 3, 3)),
                            500, seed=4, atol=1e-9)
    assert all(n is not None for n in lengths)


def test_acrobot_swings_up_and_terminates():
    def pump(td, t):
        # Torque along the second joint's velocity pumps energy in until the tip crosses the line.
        return torch.where(td["state"][..., 3] >= 0, 2, 0)

    lengths = _side_by_side("Acrobot-v1", torch.float64, pump, 500, seed=5, atol=1e-9)
    assert all(n is not None and n < 500 for n in lengths)


def test_acrobot_float32_each_step_from_the_same_state():
    rng = np.random.default_rng(3)
    lengths = _side_by_side("Acrobot-v1", torch.float32, lambda td, t: torch.from_numpy(rng.integers(0, 3, 3)),
                            200, seed=6, resync=True, atol=2e-5)
    assert lengths == [None, None, None]  # 200 steps, below the time limit, and no swing-up
