"""Writes torchrl_td3_reference.pt: TorchRL's DDPGLoss, TD3Loss and TD3BCLoss terms on fixed networks and batch.

Run with an interpreter that has torchrl (the one ``FRL_TORCHRL_PYTHON`` names); the test
``tests/objectives/test_ddpg_td3_vs_torchrl.py`` checks that frl's ddpg_loss, td3_loss and td3_bc_loss
give the same numbers from the same parameters and batch. TorchRL draws TD3's smoothing noise from
torch's global generator, so the reference uses ``policy_noise=0``; tight action bounds make the clamp
of the target action bind. Regenerate only when the reference itself must change.
"""

import os

import torch
from tensordict import TensorDict
from torchrl.modules import MLP, Actor, ValueOperator
from torchrl.objectives import DDPGLoss, TD3BCLoss, TD3Loss

torch.manual_seed(0)
OBS, ACT, N, GAMMA, LOW, HIGH = 3, 2, 32, 0.9, -0.3, 0.3


def nets():
    actor = Actor(MLP(in_features=OBS, out_features=ACT, depth=2, num_cells=16, activation_class=torch.nn.Tanh),
                  in_keys=["observation"])
    qvalue = ValueOperator(MLP(in_features=OBS + ACT, out_features=1, depth=2, num_cells=16,
                               activation_class=torch.nn.Tanh), in_keys=["observation", "action"])
    return actor, qvalue


def perturb(td):
    # Targets that differ from the online networks, so that a mix-up shows.
    with torch.no_grad():
        td.apply_(lambda x: x.add_(0.1 * torch.randn_like(x)))


def flat(td):
    # "module.0.weight" -> "0.weight": the key layout of frl.nn.mlp's params (flattened).
    return {k.removeprefix("module."): v.detach().clone() for k, v in td.flatten_keys(".").items()}


terminated = torch.rand(N, 1) < 0.3
truncated = (torch.rand(N, 1) < 0.3) & ~terminated
batch = TensorDict({
    "observation": torch.randn(N, OBS),
    "action": torch.rand(N, ACT) - 0.5,
    "next": {"observation": torch.randn(N, OBS), "reward": torch.randn(N, 1), "terminated": terminated,
             "truncated": truncated, "done": terminated | truncated},
}, batch_size=[N])
out = {"batch": {k: v.clone() for k, v in batch.flatten_keys(".").items()}, "versions": {"torch": str(torch.__version__)}}

actor, qvalue = nets()
ddpg = DDPGLoss(actor, qvalue, loss_function="l2", delay_actor=True, delay_value=True)
ddpg.make_value_estimator(gamma=GAMMA)
perturb(ddpg.target_actor_network_params)
perturb(ddpg.target_value_network_params)
data = batch.clone()
terms = ddpg(data)
out["ddpg"] = {"actor": flat(ddpg.actor_network_params), "qvalue": flat(ddpg.value_network_params),
               "target_actor": flat(ddpg.target_actor_network_params),
               "target_qvalue": flat(ddpg.target_value_network_params),
               "out": {k: v.detach().clone() for k, v in terms.items()}, "priority": data["td_error"].clone()}

for name, cls, extra in [("td3", TD3Loss, {}), ("td3_bc", TD3BCLoss, {"alpha": 2.5})]:
    actor, qvalue = nets()
    loss = cls(actor, qvalue, bounds=(LOW, HIGH), num_qvalue_nets=2, policy_noise=0.0, noise_clip=0.5,
               loss_function="l2", **extra)
    loss.make_value_estimator(gamma=GAMMA)
    perturb(loss.target_actor_network_params)
    perturb(loss.target_qvalue_network_params)
    data = batch.clone()
    terms = loss(data)
    out[name] = {"actor": flat(loss.actor_network_params), "qvalue": flat(loss.qvalue_network_params),
                 "target_actor": flat(loss.target_actor_network_params),
                 "target_qvalue": flat(loss.target_qvalue_network_params),
                 "out": {k: v.detach().clone() for k, v in terms.items()}, "priority": data["td_error"].clone()}

torch.save(out, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchrl_td3_reference.pt"))
for name in ("ddpg", "td3", "td3_bc"):
    print(name, {k: tuple(v.shape) for k, v in out[name]["out"].items()}, list(out[name]["qvalue"])[:2])
