"""PPO on Pendulum-v1: the pure-torch env, a tanh-Gaussian actor-critic, GAE; compiled, vmapped over seeds.

    python examples/ppo_pendulum.py                  # one agent, about a minute on 2 CPU cores
    python examples/ppo_pendulum.py --num-seeds 8    # 8 independent agents in one vmapped, compiled run

The training step is `frl.train.PPOTrainer.iteration` (frl/train/onpolicy.py): collect with the
stateless env, GAE, then epochs of `frl.train.make_ppo_update` on shuffled minibatches. Every piece is a
pure function vmapped over seeds and compiled with fullgraph=True.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import tyro

import frl
from frl.train import PPOConfig, PPOTrainer, RunReport


@dataclass
class Args:
    total_frames: int = 200_000
    """environment frames per seed"""
    num_envs: int = 16
    """parallel environments per seed"""
    rollout_len: int = 128
    """steps per environment between updates"""
    epochs: int = 10
    """passes over each batch of num_envs * rollout_len frames"""
    minibatch_size: int = 128
    """transitions per gradient step"""
    lr: float = 1e-3
    """Adam learning rate, annealed linearly to 0"""
    gamma: float = 0.9
    """discount (Pendulum's reward is dense: a short horizon learns fastest)"""
    lmbda: float = 0.95
    """GAE lambda"""
    clip_epsilon: float = 0.2
    """PPO ratio clip"""
    critic_loss: str = "l2"
    """critic regression loss: l2, smooth_l1 or l1"""
    critic_coef: float = 0.5
    """weight of the critic loss"""
    max_grad_norm: float = 0.5
    """gradients are clipped to this global norm"""
    num_cells: int = 64
    """hidden units of the 2-layer tanh actor and critic"""
    seed: int = 0
    """seed of the first agent; agent i uses seed + i"""
    num_seeds: int = 1
    """independent agents trained at once (vmapped)"""
    threads: int = 1
    """torch CPU threads (these small networks gain nothing from more, and OpenMP barriers stall on a busy machine)"""
    compile: bool = True
    """torch.compile every piece of the training step (fullgraph)"""
    out: str = "runs/ppo_pendulum"
    """folder for metrics.json and learning_curve.png"""


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    env = frl.envs.make("Pendulum-v1")
    obs, act, cells = env.observation_spec.shape[-1], env.action_spec.shape[-1], (args.num_cells,) * 2
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(obs, 2 * act, num_cells=cells, activation="tanh"),
                                       distribution="tanh_normal", action_low=env.action_spec.low,
                                       action_high=env.action_spec.high)
    critic = frl.nn.value_operator(frl.nn.mlp(obs, 1, num_cells=cells, activation="tanh"))
    config = PPOConfig(num_envs=args.num_envs, rollout_len=args.rollout_len, epochs=args.epochs,
                       minibatch_size=args.minibatch_size, gamma=args.gamma, lmbda=args.lmbda,
                       clip_epsilon=args.clip_epsilon, critic_loss=args.critic_loss, critic_coef=args.critic_coef)
    optimizer = frl.optim.chain(frl.optim.clip_by_global_norm(args.max_grad_norm),
                                frl.optim.adam(frl.optim.linear_schedule(args.lr, 0.0, config.updates(args.total_frames))))
    trainer = PPOTrainer(env, actor, critic, optimizer, config, compile=args.compile)
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc="PPO Pendulum-v1")
    trainer.run(args.total_frames, seeds=[args.seed + i for i in range(args.num_seeds)], hooks=[report])
    return report.finish({"args": asdict(args)})


if __name__ == "__main__":
    main(tyro.cli(Args))
