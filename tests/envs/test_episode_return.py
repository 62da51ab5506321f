"""frl.envs.track_episode_return: against a hand-written loop, three ways, and its errors."""

import pytest
import torch
from tensordict import TensorDict

from frl import random as fr
from frl.envs import track_episode_return


def stepped(reward, done):
    n = reward.shape[0]
    return TensorDict({"next": {"reward": reward.reshape(n, 1), "done": done.reshape(n, 1)}}, batch_size=(n,))


def test_matches_a_hand_written_loop():
    n, steps = 5, 40
    rewards = fr.normal(fr.key(0), (steps, n))
    dones = fr.uniform(fr.key(1), (steps, n)) < 0.15
    running = torch.zeros(n, 1)
    expected_running = [0.0] * n
    for t in range(steps):
        episode_return, running = track_episode_return(stepped(rewards[t], dones[t]), running)
        for i in range(n):
            expected = expected_running[i] + rewards[t, i].item()
            assert episode_return[i, 0].item() == pytest.approx(expected, abs=1e-5)
            expected_running[i] = 0.0 if dones[t, i] else expected
            assert running[i, 0].item() == pytest.approx(expected_running[i], abs=1e-5)


def test_three_ways(three_ways):
    def fn(reward, done, running):
        return track_episode_return(stepped(reward, done), running)

    args = [(fr.normal(fr.key(s), (6,)), fr.uniform(fr.key(s + 10), (6,)) < 0.5, fr.normal(fr.key(s + 20), (6, 1)))
            for s in range(3)]
    three_ways(fn, *args)


def test_keeps_the_running_dtype():
    td = stepped(torch.ones(3), torch.tensor([True, False, True]))
    episode_return, running = track_episode_return(td, torch.ones(3, 1, dtype=torch.float64))
    assert episode_return.dtype == running.dtype == torch.float64
    assert running.flatten().tolist() == [0.0, 2.0, 0.0]


def test_errors_name_the_function_and_what_was_expected():
    td = stepped(torch.ones(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"frl.envs.track_episode_return: running has shape \[3\], expected \[3, 1\]"):
        track_episode_return(td, torch.zeros(3))
    with pytest.raises(KeyError, match=r"frl.envs.track_episode_return: td TensorDict has no key \('next', 'reward'\)"):
        track_episode_return(TensorDict({"next": {"done": torch.zeros(3, 1, dtype=torch.bool)}}, batch_size=(3,)),
                             torch.zeros(3, 1))
