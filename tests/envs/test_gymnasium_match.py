"""frl's Pendulum-v1 and CartPole-v1 against gymnasium's own envs, step for step.

gymnasium's env is put in frl's state (``env.unwrapped.state = ...``), both are driven by the same
actions, and observations, rewards, terminated and truncated are compared at every step. In float64
frl reproduces gymnasium's float64 physics over whole episodes; in float32 each step starts from
the same state and agrees to float32 rounding.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from frl import envs

N_ENVS = 3


def _gym_envs(id, n):
    out = []
    for i in range(n):
        e = gym.make(id, disable_env_checker=True)
        e.reset(seed=i)
        out.append(e)
    return out


def _pendulum_actions(seed, steps, n):
    # Torques beyond [-2, 2] too, to exercise the clipping.
    return torch.from_numpy(np.random.default_rng(seed).uniform(-3.0, 3.0, (steps, n, 1)).astype(np.float32))


@pytest.mark.parametrize("seed", [0, 1])
def test_pendulum_float64_full_episode(seed):
    env = envs.make("Pendulum-v1", dtype=torch.float64)
    td = env.reset(seed=seed, batch_size=(N_ENVS,))
    gyms = _gym_envs("Pendulum-v1", N_ENVS)
    for i, g in enumerate(gyms):
        g.unwrapped.state = td["state"][i].numpy().copy()
    actions = _pendulum_actions(seed, 200, N_ENVS)
    for t in range(200):
        td = env.step(td.set("action", actions[t]))
        for i, g in enumerate(gyms):
            obs, r, term, trunc, _ = g.step(actions[t, i].numpy())
            np.testing.assert_allclose(g.unwrapped.state, td["next", "state"][i].numpy(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(td["next", "observation"][i].float().numpy(), obs, rtol=0, atol=1e-6)
            np.testing.assert_allclose(td["next", "reward"][i, 0].item(), r, rtol=0, atol=1e-12)
            assert td["next", "terminated"][i, 0].item() == term
            assert td["next", "truncated"][i, 0].item() == trunc
            assert td["next", "done"][i, 0].item() == (term or trunc)
        td = envs.step_mdp(td)
    # gymnasium's TimeLimit truncates at step 200, and so does frl.
    assert bool(td["truncated"].all()) and not bool(td["terminated"].any())


def test_pendulum_float32_each_step_from_the_same_state():
    env = envs.make("Pendulum-v1")
    td = env.reset(seed=3, batch_size=(N_ENVS,))
    gyms = _gym_envs("Pendulum-v1", N_ENVS)
    actions = _pendulum_actions(3, 200, N_ENVS)
    for t in range(200):
        for i, g in enumerate(gyms):
            g.unwrapped.state = td["state"][i].double().numpy().copy()
        td = env.step(td.set("action", actions[t]))
        assert td["next", "observation"].dtype == torch.float32
        for i, g in enumerate(gyms):
            obs, r, term, trunc, _ = g.step(actions[t, i].numpy())
            np.testing.assert_allclose(td["next", "observation"][i].numpy(), obs, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(td["next", "reward"][i, 0].item(), r, rtol=1e-5, atol=1e-5)
            assert td["next", "truncated"][i, 0].item() == trunc and not term
        td = envs.step_mdp(td)


def _run_cartpole(env, gyms, td, policy, steps):
    """Step frl and gymnasium side by side until every gym env has ended; return episode lengths."""
    lengths: list[int | None] = [None] * len(gyms)
    for t in range(steps):
        action = policy(td)
        td = env.step(td.set("action", action))
        for i, g in enumerate(gyms):
            if lengths[i] is not None:
                continue
            obs, r, term, trunc, _ = g.step(int(action[i]))
            if env.dtype == torch.float64:
                np.testing.assert_allclose(g.unwrapped.state, td["next", "state"][i].numpy(), rtol=0, atol=1e-12)
            np.testing.assert_allclose(td["next", "observation"][i].float().numpy(), obs, rtol=1e-5, atol=1e-5)
            assert td["next", "reward"][i, 0].item() == r
            assert td["next", "terminated"][i, 0].item() == term, f"env {i} step {t}"
            assert td["next", "truncated"][i, 0].item() == trunc, f"env {i} step {t}"
            if term or trunc:
                lengths[i] = t + 1
        td = envs.step_mdp(td)
        if all(n is not None for n in lengths):
            break
    return lengths


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_cartpole_random_actions_until_termination(dtype):
    env = envs.make("CartPole-v1", dtype=dtype)
    td = env.reset(seed=5, batch_size=(N_ENVS,))
    gyms = _gym_envs("CartPole-v1", N_ENVS)
    for i, g in enumerate(gyms):
        g.unwrapped.state = td["state"][i].double().numpy().copy()
    rng = np.random.default_rng(0)
    lengths = _run_cartpole(env, gyms, td,
                            lambda _: torch.from_numpy(rng.integers(0, 2, N_ENVS)), 500)
    # Random pushes topple the pole within a few dozen steps: every episode terminated.
    assert all(n is not None and n < 500 for n in lengths)


def test_cartpole_truncates_at_500_like_timelimit():
    env = envs.make("CartPole-v1", dtype=torch.float64)
    td = env.reset(seed=6, batch_size=(2,))
    gyms = _gym_envs("CartPole-v1", 2)
    for i, g in enumerate(gyms):
        g.unwrapped.state = td["state"][i].numpy().copy()

    def balance(td):
        # A hand-tuned linear controller that keeps the pole up for 500 steps.
        x, x_dot, theta, theta_dot = td["state"].unbind(-1)
        return (0.1 * x + 0.5 * x_dot + 10.0 * theta + 2.0 * theta_dot > 0).long()

    lengths = _run_cartpole(env, gyms, td, balance, 500)
    assert lengths == [500, 500]


def test_reset_distributions_within_gymnasium_ranges():
    pend = envs.make("Pendulum-v1").reset(seed=0, batch_size=(20_000,))
    theta, theta_dot = pend["state"].unbind(-1)
    assert theta.abs().max() <= np.pi and theta_dot.abs().max() <= 1.0
    # Uniform over the range: the extremes are approached and the mean is near 0.
    assert theta.abs().max() > 3.1 and theta_dot.abs().max() > 0.99
    assert abs(theta.mean().item()) < 0.05 and abs(theta_dot.mean().item()) < 0.02
    torch.testing.assert_close(pend["observation"],
                               torch.stack([theta.cos(), theta.sin(), theta_dot], -1))
    cart = envs.make("CartPole-v1").reset(seed=0, batch_size=(20_000,))
    assert cart["state"].abs().max() <= 0.05 and cart["state"].abs().max() > 0.0499
    torch.testing.assert_close(cart["state"].var(0), torch.full((4,), 0.1**2 / 12), rtol=0.05, atol=0)
    assert torch.equal(cart["observation"], cart["state"])
    # gymnasium's own reset draws from the same ranges.
    g = gym.make("CartPole-v1")
    assert np.abs(g.reset(seed=0)[0]).max() <= 0.05
