"""frl.envs: stateless, batched environments as pure functions over TensorDicts.

``env = frl.envs.make("CartPole-v1")``; ``td = env.reset(seed=0, batch_size=(4096,))``;
``out, td = frl.envs.step_and_reset(env, policy(td))``; ``frl.envs.rollout(env, policy, td, T)``
gives a ``[*B, T]`` TensorDict in TorchRL's layout. Everything, the env's state included, travels in
the TensorDict, so it all runs eagerly, under vmap and under ``torch.compile(fullgraph=True)``.
"""

from frl.envs import transforms
from frl.envs.acrobot import Acrobot, AcrobotParams
from frl.envs.auto_reset import auto_reset, step_and_reset
from frl.envs.cartpole import CartPole, CartPoleParams
from frl.envs.check_env import check_env
from frl.envs.dm_control_env import DMControlEnv
from frl.envs.env import Env, env_keys, map_keys
from frl.envs.episode_return import track_episode_return
from frl.envs.gym_env import GymEnv
from frl.envs.model_env import ModelEnv, ModelEnvParams
from frl.envs.mountain_car import MountainCar, MountainCarParams
from frl.envs.mountain_car_continuous import MountainCarContinuous, MountainCarContinuousParams
from frl.envs.pendulum import Pendulum, PendulumParams
from frl.envs.registry import make, registry
from frl.envs.rollout import random_action, rollout
from frl.envs.space_specs import spec_from_dm_control, spec_from_gym_space
from frl.envs.specs import Binary, Bounded, Categorical, Composite, MultiCategorical, OneHot, Spec, Unbounded
from frl.envs.step_mdp import step_mdp
from frl.envs.transforms import *  # noqa: F403 (the transforms are frl.envs names too; listed in transforms.__all__)

__all__ = [
    "Env",
    "make",
    "registry",
    "env_keys",
    "map_keys",
    "step_mdp",
    "auto_reset",
    "step_and_reset",
    "rollout",
    "check_env",
    "random_action",
    "track_episode_return",
    "Pendulum",
    "PendulumParams",
    "CartPole",
    "CartPoleParams",
    "MountainCar",
    "MountainCarParams",
    "MountainCarContinuous",
    "MountainCarContinuousParams",
    "Acrobot",
    "AcrobotParams",
    "ModelEnv",
    "ModelEnvParams",
    "Spec",
    "Bounded",
    "Unbounded",
    "Categorical",
    "OneHot",
    "MultiCategorical",
    "Binary",
    "Composite",
    "GymEnv",
    "DMControlEnv",
    "spec_from_gym_space",
    "spec_from_dm_control",
]
__all__ += transforms.__all__
