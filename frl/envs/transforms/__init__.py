"""frl.envs.transforms: pure transforms whose state travels in the TensorDict, and TransformedEnv.

``env = TransformedEnv(frl.envs.make("Pendulum-v1"), [ObservationNorm(running=True), RewardSum(),
StepCounter(100), CatFrames(4)])`` is an env like any other: ``reset``, ``step``, ``auto_reset``,
transformed specs. Running statistics, episode returns, step counts and frame stacks live in the
TensorDict, so over a stateless env everything vmaps and compiles with ``fullgraph=True``.
"""

from frl.envs.transforms._base import KeyTransform, Transform
from frl.envs.transforms.actions import ClipAction, RescaleAction
from frl.envs.transforms.cat_frames import CatFrames
from frl.envs.transforms.image import GrayScale, Resize, ToTensorImage
from frl.envs.transforms.noop_reset import NoopReset
from frl.envs.transforms.observation_norm import ObservationNorm
from frl.envs.transforms.reward_scaling import RewardScaling
from frl.envs.transforms.reward_sum import RewardSum
from frl.envs.transforms.step_counter import StepCounter, TimeLimit
from frl.envs.transforms.tensors import CatTensors, DoubleToFloat, Unsqueeze
from frl.envs.transforms.transformed_env import Compose, TransformedEnv

__all__ = [
    "TransformedEnv",
    "Compose",
    "Transform",
    "KeyTransform",
    "ObservationNorm",
    "RewardScaling",
    "RewardSum",
    "StepCounter",
    "TimeLimit",
    "CatFrames",
    "Resize",
    "ToTensorImage",
    "GrayScale",
    "NoopReset",
    "DoubleToFloat",
    "CatTensors",
    "Unsqueeze",
    "ClipAction",
    "RescaleAction",
]
