"""PPO on CartPole-v1: the pure-torch env, a categorical actor-critic, GAE; compiled, vmapped over seeds.

    python examples/ppo_cartpole.py                  # one agent
    python examples/ppo_cartpole.py --num-seeds 8    # 8 independent agents in one vmapped, compiled run

The same training step as examples/ppo_pendulum.py (`frl.train.PPOTrainer`), with a categorical policy
over CartPole's two actions and CleanRL-like settings (entropy bonus, 4 epochs, gamma 0.99).
"""

from __future__ import annotations

from dataclasses import dataclass

import tyro

import frl
from frl.train import PPOArgs, run_ppo


@dataclass
class Args(PPOArgs):
    total_frames: int = 250_000
    """environment frames per seed"""
    num_envs: int = 32
    """parallel environments per seed"""
    rollout_len: int = 64
    """steps per environment between updates"""
    epochs: int = 4
    """passes over each batch of num_envs * rollout_len frames"""
    minibatch_size: int = 512
    """transitions per gradient step"""
    lr: float = 2.5e-3
    """Adam learning rate, annealed linearly to 0"""
    entropy_coef: float = 0.01
    """entropy bonus weight"""
    out: str = "runs/ppo_cartpole"
    """folder for metrics.json and learning_curve.png"""


def main(args: Args) -> dict:
    env = frl.envs.make("CartPole-v1")
    obs, cells = env.observation_spec.shape[-1], (args.num_cells,) * 2
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(obs, env.action_spec.n, num_cells=cells, activation="tanh"),
                                       distribution="categorical")
    critic = frl.nn.value_operator(frl.nn.mlp(obs, 1, num_cells=cells, activation="tanh"))
    return run_ppo(args, env, actor, critic, desc="PPO CartPole-v1")


if __name__ == "__main__":
    main(tyro.cli(Args))
