"""Training: pure train-step factories to compile and vmap, their compile helper, and a one-call PPO trainer.

The host side of an experiment (progress bars, metrics files, plots) lives in `frl.experiment`.
"""

from frl.train.compile import compile_step
from frl.train.dqn import make_dqn_update
from frl.train.grads import all_reduce_gradients
from frl.train.onpolicy import PPOConfig, PPOTrainer, TrainState, make_advantages, make_collect_step
from frl.train.ppo import make_ppo_update
from frl.train.sac import make_sac_update
from frl.train.target import soft_update
from frl.train.td3 import make_td3_update

__all__ = [
    "make_ppo_update",
    "make_dqn_update",
    "make_sac_update",
    "make_td3_update",
    "soft_update",
    "all_reduce_gradients",
    "compile_step",
    "PPOConfig",
    "PPOTrainer",
    "TrainState",
    "make_collect_step",
    "make_advantages",
]
