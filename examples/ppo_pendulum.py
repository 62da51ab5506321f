"""PPO on Pendulum-v1: the pure-torch env, a tanh-Gaussian actor-critic, GAE; compiled, vmapped over seeds.

    python examples/ppo_pendulum.py                  # one agent, about a minute on 2 CPU cores
    python examples/ppo_pendulum.py --num-seeds 8    # 8 independent agents in one vmapped, compiled run

The training step is `frl.train.PPOTrainer.iteration` (frl/train/onpolicy.py): collect with the
stateless env, GAE, then epochs of `frl.train.make_ppo_update` on shuffled minibatches. Every piece is
a pure function, vmapped over seeds and compiled with fullgraph=True. `--help` lists every setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import tyro

import frl
from frl.train import PPOArgs, run_ppo


@dataclass
class Args(PPOArgs):
    gamma: float = 0.9
    """discount (Pendulum's reward is dense: a short horizon learns fastest)"""
    out: str = "runs/ppo_pendulum"
    """folder for metrics.json and learning_curve.png"""


def main(args: Args) -> dict:
    env = frl.envs.make("Pendulum-v1")
    obs, act, cells = env.observation_spec.shape[-1], env.action_spec.shape[-1], (args.num_cells,) * 2
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(obs, 2 * act, num_cells=cells, activation="tanh"),
                                       distribution="tanh_normal", action_low=env.action_spec.low,
                                       action_high=env.action_spec.high)
    critic = frl.nn.value_operator(frl.nn.mlp(obs, 1, num_cells=cells, activation="tanh"))
    return run_ppo(args, env, actor, critic, desc="PPO Pendulum-v1")


if __name__ == "__main__":
    main(tyro.cli(Args))
