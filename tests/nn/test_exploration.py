"""frl.nn exploration: epsilon-greedy frequencies, Gaussian noise moments, OU process statistics."""

import pytest
import torch
from tensordict import TensorDict

import frl
from frl import nn as fnn


def test_linear_schedule():
    # One linear schedule in frl: frl.nn's is frl.optim's (optax's signature), for exploration too.
    assert fnn.linear_schedule is frl.optim.linear_schedule
    s = fnn.linear_schedule(1.0, 0.1, 100)
    assert float(s(0)) == 1.0 and float(s(100)) == pytest.approx(0.1) and float(s(1000)) == pytest.approx(0.1)
    assert float(s(50)) == pytest.approx(0.55)
    torch.testing.assert_close(s(torch.tensor([0, 50, 200])), torch.tensor([1.0, 0.55, 0.1]))
    late = fnn.linear_schedule(1.0, 0.1, transition_steps=100, transition_begin=10)
    torch.testing.assert_close(late(torch.tensor([0, 10, 60, 110])), torch.tensor([1.0, 1.0, 0.55, 0.1]))


def test_linear_schedule_three_ways(three_ways):
    s = fnn.linear_schedule(1.0, 0.05, 1000)
    three_ways(s, (torch.tensor(500),), (torch.tensor(20),))


@pytest.mark.parametrize("eps", [0.0, 0.3, 1.0])
def test_epsilon_greedy_frequencies(eps):
    n, batch = 4, 100_000
    q = torch.zeros(batch, n)
    q[:, 2] = 1.0
    a = fnn.epsilon_greedy(frl.random.key(0), q, eps)
    assert a.shape == (batch,) and a.dtype == torch.int64
    freq = torch.bincount(a, minlength=n).double() / batch
    expected = torch.full((n,), eps / n, dtype=torch.float64)
    expected[2] += 1 - eps
    torch.testing.assert_close(freq, expected, atol=0.006, rtol=0)


def test_epsilon_greedy_per_element_epsilon():
    q = torch.tensor([[0.0, 1.0]]).repeat(4, 1)
    eps = torch.tensor([0.0, 0.0, 1.0, 0.0])
    for s in range(5):
        a = fnn.epsilon_greedy(frl.random.key(s), q, eps)
        assert torch.equal(a[[0, 1, 3]], torch.ones(3, dtype=torch.int64))


def test_gaussian_noise_moments_and_clamp():
    action = torch.full((200_000, 2), 0.5, dtype=torch.float64)
    noisy = fnn.gaussian_noise(frl.random.key(1), action, 0.2)
    torch.testing.assert_close((noisy - action).mean(0), torch.zeros(2, dtype=torch.float64), atol=0.002, rtol=0)
    torch.testing.assert_close((noisy - action).std(0), torch.full((2,), 0.2, dtype=torch.float64), rtol=0.01, atol=0)
    clamped = fnn.gaussian_noise(frl.random.key(1), action, 0.2, low=0.0, high=0.6)
    assert clamped.min() >= 0.0 and clamped.max() <= 0.6
    assert torch.equal(clamped, noisy.clamp(0.0, 0.6))


def _ou_rollout(n_envs, steps, **kw):
    td = TensorDict(action=torch.zeros(n_envs, 1, dtype=torch.float64), batch_size=[n_envs])
    noises = []
    for t in range(steps):
        td = fnn.ou_noise(frl.random.fold_in(frl.random.key(0), t), td, **kw)
        noises.append(td["_ou_prev_noise"])
        td["action"] = torch.zeros(n_envs, 1, dtype=torch.float64)  # a fresh deterministic action
    return td, torch.cat(noises, -1)


def test_ou_noise_is_an_ar1_process_with_the_right_statistics():
    theta, sigma, dt = 1.0, 0.5, 0.1
    td, x = _ou_rollout(4000, 60, theta=theta, sigma=sigma, dt=dt)
    # noise_t = a * noise_{t-1} + sigma sqrt(dt) eps: a = 1 - theta dt, stationary var sigma^2 dt / (1 - a^2).
    a = 1 - theta * dt
    stationary = sigma**2 * dt / (1 - a**2)
    late = x[:, 40:]
    assert abs(late.var().item() - stationary) < 0.08 * stationary
    lag1 = (late[:, 1:] * late[:, :-1]).mean() / (late * late).mean()
    assert abs(lag1.item() - a) < 0.02
    assert torch.equal(td["_ou_steps"], torch.full((4000, 1), 60))


def test_ou_noise_resets_and_anneals():
    td = TensorDict(action=torch.zeros(3, 2), _ou_prev_noise=torch.ones(3, 2),
                    _ou_steps=torch.full((3, 1), 7), is_init=torch.tensor([[True], [False], [False]]),
                    batch_size=[3])
    out = fnn.ou_noise(frl.random.key(1), td, theta=0.0, sigma=0.0)
    torch.testing.assert_close(out["_ou_prev_noise"], torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]))
    assert torch.equal(out["_ou_steps"], torch.tensor([[1], [8], [8]]))
    torch.testing.assert_close(out["action"], out["_ou_prev_noise"])
    # Annealed: after n_steps_annealing the noise scale is sigma_min.
    done = TensorDict(action=torch.zeros(50_000, 1), _ou_prev_noise=torch.zeros(50_000, 1),
                      _ou_steps=torch.full((50_000, 1), 5000), batch_size=[50_000])
    out = fnn.ou_noise(frl.random.key(2), done, theta=0.0, sigma=1.0, sigma_min=0.1, dt=1.0,
                       n_steps_annealing=1000)
    assert abs(out["_ou_prev_noise"].std().item() - 0.1) < 0.003


def test_exploration_three_ways(three_ways):
    def explore(key, q, action, td):
        k1, k2, k3 = frl.random.split(key, 3)
        return (fnn.epsilon_greedy(k1, q, 0.5), fnn.gaussian_noise(k2, action, 0.1, -1.0, 1.0),
                fnn.ou_noise(k3, td))

    arg_sets = [(frl.random.key(i), torch.randn(4, 3), torch.rand(4, 2),
                 TensorDict(action=torch.rand(4, 2), _ou_prev_noise=torch.randn(4, 2),
                            _ou_steps=torch.full((4, 1), i), batch_size=[4])) for i in range(2)]
    three_ways(explore, *arg_sets)


def test_ou_noise_is_pure(assert_pure):
    td = TensorDict(action=torch.rand(4, 2), batch_size=[4])
    out = assert_pure(fnn.ou_noise, frl.random.key(0), td)
    assert "_ou_prev_noise" in out.keys()
