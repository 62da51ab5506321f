"""Loss functions, one module per algorithm family. Each is a pure function of params and a batch.

The pieces the losses share (the one-step bootstrapped target, the Q-ensemble's evaluation and its
checks, the joint log-prob of an action vector) live in `frl.objectives._common`; the batch keys they
check for live in `frl.objectives.keys`.
"""

from frl.objectives.ddpg import DDPG_BATCH_KEYS, ddpg_loss
from frl.objectives.dqn import DQN_BATCH_KEYS, dqn_loss
from frl.objectives.keys import PPO_BATCH_KEYS, TRANSITION_KEYS, TRANSITION_LOSS_KEYS
from frl.objectives.ppo import clip_ppo_loss, clipped_surrogate
from frl.objectives.sac import SAC_BATCH_KEYS, discrete_sac_loss, sac_loss
from frl.objectives.td3 import td3_bc_loss, td3_loss
from frl.objectives.value import value_loss

__all__ = ["dqn_loss", "DQN_BATCH_KEYS", "clipped_surrogate", "clip_ppo_loss", "PPO_BATCH_KEYS", "value_loss",
           "sac_loss", "discrete_sac_loss", "SAC_BATCH_KEYS",
           "ddpg_loss", "DDPG_BATCH_KEYS", "td3_loss", "td3_bc_loss", "TRANSITION_KEYS", "TRANSITION_LOSS_KEYS"]
