"""`PPOArgs`: the documented settings of a PPO run, as a command line, and the run itself.

The examples subclass it to change defaults (`examples/ppo_pendulum.py`, `examples/ppo_cartpole.py`)
and turn it into a command line with ``tyro.cli(Args)``; every field's docstring becomes its ``--help``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from frl import optim
from frl.train.onpolicy import PPOConfig, PPOTrainer
from frl.train.report import RunReport

__all__ = ["PPOArgs", "run_ppo"]


@dataclass
class PPOArgs:
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
    gamma: float = 0.99
    """discount"""
    lmbda: float = 0.95
    """GAE lambda"""
    clip_epsilon: float = 0.2
    """PPO ratio clip"""
    entropy_coef: float = 0.0
    """entropy bonus weight"""
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
    """torch CPU threads (small networks gain nothing from more, and OpenMP barriers stall on a busy machine)"""
    compile: bool = True
    """torch.compile every piece of the training step (fullgraph)"""
    out: str = "runs/ppo"
    """folder for metrics.json and learning_curve.png"""

    def config(self) -> PPOConfig:
        return PPOConfig(num_envs=self.num_envs, rollout_len=self.rollout_len, epochs=self.epochs,
                         minibatch_size=self.minibatch_size, gamma=self.gamma, lmbda=self.lmbda,
                         clip_epsilon=self.clip_epsilon, entropy_coef=self.entropy_coef,
                         critic_loss=self.critic_loss, critic_coef=self.critic_coef)

    def optimizer(self) -> optim.GradientTransformation:
        """Adam with global-norm clipping and a learning rate annealed linearly to 0 over the run."""
        steps = self.config().updates(self.total_frames)
        return optim.chain(optim.clip_by_global_norm(self.max_grad_norm),
                           optim.adam(optim.linear_schedule(self.lr, 0.0, steps)))


def run_ppo(args: PPOArgs, env, actor, critic, desc: str = "PPO") -> dict:
    """Train ``args.num_seeds`` agents with a progress bar; write and return the run's metrics."""
    torch.set_num_threads(args.threads)
    trainer = PPOTrainer(env, actor, critic, args.optimizer(), args.config(), compile=args.compile)
    report = RunReport(args.total_frames, args.num_seeds, args.out, desc=desc)
    trainer.run(args.total_frames, seeds=[args.seed + i for i in range(args.num_seeds)], hooks=[report])
    return report.finish({"args": asdict(args)})
