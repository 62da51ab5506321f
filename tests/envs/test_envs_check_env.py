"""frl.envs.check_env: passes on every registered env, and catches a broken one."""

import dataclasses

import pytest
import torch

from frl import envs


@pytest.mark.parametrize("id", sorted(envs.registry))
def test_check_env_on_every_env(id):
    # A short time limit exercises truncation and auto-reset within the checked steps.
    envs.check_env(envs.make(id, max_episode_steps=7), batch_size=(2, 3), steps=16)
    envs.check_env(envs.make(id, dtype=torch.float64), batch_size=(), steps=3)


def test_check_env_catches_a_broken_env():
    @dataclasses.dataclass(frozen=True, eq=False)
    class Leaky(envs.Pendulum):
        def _transition(self, state, action):
            new, reward, terminated = super()._transition(state, action)
            return new, reward.unsqueeze(-1).expand(*reward.shape, 2), terminated  # reward [*B, 2]

    with pytest.raises(Exception, match="Leaky"):
        envs.check_env(Leaky(), steps=2)

    @dataclasses.dataclass(frozen=True, eq=False)
    class Fast(envs.Pendulum):
        def _observe(self, state):
            return super()._observe(state) * 100  # outside observation_spec

    with pytest.raises(AssertionError, match=r"check_env\(Fast\): reset's observation is outside"):
        envs.check_env(Fast(), steps=2)
