"""Writes torchrl_ppo_reference.pt: TorchRL's ClipPPOLoss terms on a fixed network and batch.

Run with an interpreter that has torchrl (the one ``FRL_TORCHRL_PYTHON`` names); the test
``tests/objectives/test_ppo_vs_torchrl.py`` checks that frl's actor, critic and clip_ppo_loss give the
same numbers from the same parameters and batch. Regenerate only when the reference itself must change.
"""

import os

import torch
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torchrl.modules import MLP, ProbabilisticActor, ValueOperator
from torchrl.objectives import ClipPPOLoss

torch.manual_seed(0)
OBS, ACT, N = 3, 1, 64
actor_mlp = MLP(in_features=OBS, out_features=2 * ACT, depth=2, num_cells=16, activation_class=torch.nn.Tanh)
critic_mlp = MLP(in_features=OBS, out_features=1, depth=2, num_cells=16, activation_class=torch.nn.Tanh)
actor = ProbabilisticActor(
    TensorDictModule(torch.nn.Sequential(actor_mlp, NormalParamExtractor()), ["observation"], ["loc", "scale"]),
    in_keys=["loc", "scale"], distribution_class=torch.distributions.Normal, return_log_prob=True)
critic = ValueOperator(critic_mlp, in_keys=["observation"])
loss_fn = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=0.01, critic_coeff=0.5,
                      loss_critic_type="smooth_l1", normalize_advantage=False)

batch = TensorDict({
    "observation": torch.randn(N, OBS),
    "action": torch.randn(N, ACT),
    "advantage": torch.randn(N, 1),
    "value_target": torch.randn(N, 1),
}, batch_size=[N])
with torch.no_grad():
    dist = actor.get_dist(batch)
    # Old log-probs near the current ones, so some ratios are clipped and some are not. With a plain
    # Normal, TorchRL keeps the log-prob per action dim ([N, 1] here): it must be stored that way, or
    # it broadcasts against [N] into an [N, N] ratio.
    old = dist.log_prob(batch["action"]) + 0.3 * torch.randn(N, ACT)
batch["action_log_prob"] = old
batch["sample_log_prob"] = old
out = loss_fn(batch)
torch.save({
    "actor_mlp": {k: v.detach().clone() for k, v in actor_mlp.state_dict().items()},
    "critic_mlp": {k: v.detach().clone() for k, v in critic_mlp.state_dict().items()},
    "batch": {k: v.clone() for k, v in batch.items() if k != "sample_log_prob"},
    "out": {k: v.detach().clone() for k, v in out.items()},
    "versions": {"torch": str(torch.__version__)},
}, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchrl_ppo_reference.pt"))
print({k: v.tolist() for k, v in out.items()})
