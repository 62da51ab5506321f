"""Functional neural-network modules: ``init(key) -> params`` and ``apply(params, inputs)``.

Networks (`mlp`), distributions (`Normal`, `TanhNormal`, `Categorical`, ...) and TensorDict
operators (`probabilistic_actor`, `value_operator`, ...) with TorchRL's key layout. Parameters are
TensorDicts laid out like ``TensorDict.from_module`` of the equivalent ``torch.nn`` module.
"""

from frl.nn.actor import (
    ProbabilisticActor,
    deterministic_actor,
    normal_params,
    probabilistic_actor,
    q_value_actor,
    q_value_operator,
    value_operator,
)
from frl.nn.actor_critic import ActorCritic, actor_critic
from frl.nn.convnet import convnet
from frl.nn.distributions import Categorical, IndependentNormal, Normal, OneHotCategorical, TanhNormal
from frl.nn.exploration import epsilon_greedy, gaussian_noise, linear_schedule, ou_noise
from frl.nn.from_specs import make_actor, make_critic, make_q, observation_key
from frl.nn.from_torch import TorchModule, from_torch
from frl.nn.mlp import mlp
from frl.nn.module import Module
from frl.nn.sequential import TDSequential, td_sequential
from frl.nn.td_module import TDModule, td_module, td_operator

__all__ = [
    "Module",
    "mlp",
    "convnet",
    "Normal",
    "IndependentNormal",
    "TanhNormal",
    "Categorical",
    "OneHotCategorical",
    "ProbabilisticActor",
    "probabilistic_actor",
    "deterministic_actor",
    "normal_params",
    "value_operator",
    "q_value_operator",
    "q_value_actor",
    "ActorCritic",
    "actor_critic",
    "linear_schedule",
    "epsilon_greedy",
    "gaussian_noise",
    "ou_noise",
    "TorchModule",
    "from_torch",
    "TDModule",
    "td_module",
    "td_operator",
    "TDSequential",
    "td_sequential",
    "make_actor",
    "make_critic",
    "make_q",
    "observation_key",
]
