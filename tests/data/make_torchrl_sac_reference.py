"""Writes torchrl_sac_reference.pt: TorchRL's SACLoss and DiscreteSACLoss terms on fixed networks and batches.

Run with an interpreter that has torchrl, from the repository root (it imports frl for the noise):
``$FRL_TORCHRL_PYTHON tests/data/make_torchrl_sac_reference.py`` (an interpreter with torchrl). The test
``tests/objectives/test_sac_vs_torchrl.py`` checks that frl's actor, Q-operators and SAC losses give the
same numbers from the same parameters and batch. Regenerate only when the reference itself must change.

Continuous SAC draws actions, which TorchRL takes from torch's global generator. To compare, the
Gaussian noise of TorchRL's two reparameterized draws is replaced by frl's: the draws of
``frl.random.split(key)`` that `frl.objectives.sac_loss` makes, in the order TorchRL asks for them
(the target's draw at s' first, then the actor's at s; the script checks that order).
"""

import os
import sys

import torch
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torchrl.data import Bounded
from torchrl.modules import MLP, ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import DiscreteSACLoss, SACLoss

sys.path.insert(0, os.getcwd())
import frl  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchrl_sac_reference.pt")
OBS, ACT, N, N_ACTIONS, GAMMA = 3, 2, 16, 4, 0.9
torch.manual_seed(0)


def transitions(action):
    terminated = torch.rand(N, 1) < 0.3
    truncated = (torch.rand(N, 1) < 0.3) & ~terminated
    return TensorDict({
        "observation": torch.randn(N, OBS), "action": action,
        "next": {"observation": torch.randn(N, OBS), "reward": torch.randn(N, 1),
                 "terminated": terminated, "truncated": truncated, "done": terminated | truncated},
    }, batch_size=[N])


def perturb_target(loss_fn):
    # TorchRL starts the target ensemble as a copy of the online one; move it so the test can tell them apart.
    with torch.no_grad():
        for leaf in loss_fn.target_qvalue_network_params.values(True, True):
            leaf.add_(0.1 * torch.randn_like(leaf))


def plain(td):
    return {k: v.detach().clone() for k, v in td.flatten_keys(".").items()}


# --- continuous ----------------------------------------------------------------------------------
actor_mlp = MLP(in_features=OBS, out_features=2 * ACT, depth=2, num_cells=16, activation_class=torch.nn.ReLU)
q_mlp = MLP(in_features=OBS + ACT, out_features=1, depth=2, num_cells=16, activation_class=torch.nn.ReLU)
actor = ProbabilisticActor(
    TensorDictModule(torch.nn.Sequential(actor_mlp, NormalParamExtractor()), ["observation"], ["loc", "scale"]),
    in_keys=["loc", "scale"], distribution_class=TanhNormal, distribution_kwargs={"low": -2.0, "high": 2.0},
    return_log_prob=True)
qvalue = ValueOperator(q_mlp, in_keys=["observation", "action"])
loss_fn = SACLoss(actor, qvalue, num_qvalue_nets=2, loss_function="l2", alpha_init=0.7, delay_qvalue=True,
                  action_spec=Bounded(-2.0, 2.0, shape=(ACT,)))  # target_entropy "auto": -prod(shape)
loss_fn.make_value_estimator(gamma=GAMMA)
perturb_target(loss_fn)
batch = transitions(torch.rand(N, ACT) * 4 - 2)

key = frl.random.key(3)
k_pi, k_next = frl.random.split(key)
noise = [(frl.random.normal(k_next, (N, ACT)), batch["next", "observation"]),
         (frl.random.normal(k_pi, (N, ACT)), batch["observation"])]
original_rsample = torch.distributions.Normal.rsample


def rsample(self, sample_shape=torch.Size()):
    eps, obs = noise.pop(0)
    with torch.no_grad():  # the draw belongs to the observation this script expects
        expected_loc = actor_mlp(obs)[..., :ACT]
    assert torch.allclose(self.loc, expected_loc), "TorchRL asked for its draws in another order"
    return self.loc + self.scale * eps


torch.distributions.Normal.rsample = rsample
out = loss_fn(batch.clone())
torch.distributions.Normal.rsample = original_rsample
assert not noise
continuous = {
    "actor": plain(TensorDict(actor_mlp.state_dict())),
    "qvalue": plain(loss_fn.qvalue_network_params["module"]),
    "target_qvalue": plain(loss_fn.target_qvalue_network_params["module"]),
    "log_alpha": loss_fn.log_alpha.detach().clone(),
    "batch": plain(batch),
    "key": key,
    "out": plain(out),
}

# --- discrete ------------------------------------------------------------------------------------
actor_mlp = MLP(in_features=OBS, out_features=N_ACTIONS, depth=2, num_cells=16, activation_class=torch.nn.ReLU)
q_mlp = MLP(in_features=OBS, out_features=N_ACTIONS, depth=2, num_cells=16, activation_class=torch.nn.ReLU)
actor = ProbabilisticActor(TensorDictModule(actor_mlp, ["observation"], ["logits"]), in_keys=["logits"],
                           distribution_class=torch.distributions.Categorical, return_log_prob=True)
qvalue = TensorDictModule(q_mlp, ["observation"], ["action_value"])
loss_fn = DiscreteSACLoss(actor, qvalue, num_actions=N_ACTIONS, action_space="categorical", num_qvalue_nets=2,
                          loss_function="l2", alpha_init=0.7, delay_qvalue=True)
loss_fn.make_value_estimator(gamma=GAMMA)
perturb_target(loss_fn)
batch = transitions(torch.randint(0, N_ACTIONS, (N,)))
out = loss_fn(batch.clone())
discrete = {
    "actor": plain(TensorDict(actor_mlp.state_dict())),
    "qvalue": plain(loss_fn.qvalue_network_params["module"]),
    "target_qvalue": plain(loss_fn.target_qvalue_network_params["module"]),
    "log_alpha": loss_fn.log_alpha.detach().clone(),
    "batch": plain(batch),
    "out": plain(out),
}

import torchrl  # noqa: E402

torch.save({"continuous": continuous, "discrete": discrete, "gamma": GAMMA,
            "versions": {"torch": str(torch.__version__), "torchrl": torchrl.__version__}}, OUT)
print({k: v.tolist() for k, v in continuous["out"].items()})
print({k: v.tolist() for k, v in discrete["out"].items()})
