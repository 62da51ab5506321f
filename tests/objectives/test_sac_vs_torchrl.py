"""frl's SAC losses reproduce TorchRL's SACLoss and DiscreteSACLoss on the same params, batch and noise.

The reference numbers were produced by TorchRL 0.14.1 itself (tests/data/make_torchrl_sac_reference.py,
which feeds TorchRL's two reparameterized draws the Gaussian noise frl draws from the same key) and
stored, so this test needs no TorchRL at run time. The TD errors are not compared: TorchRL keeps the
ensemble's maximum, frl its mean.
"""

import os

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.objectives.sac import discrete_sac_loss, sac_loss

REF = os.path.join(os.path.dirname(__file__), "..", "data", "torchrl_sac_reference.pt")
OBS, ACT, N_ACTIONS = 3, 2, 4


def unflatten(d, batch_size=()):
    return TensorDict(d, batch_size=batch_size).unflatten_keys(".")


def load(kind):
    ref = torch.load(REF, weights_only=True)
    r = ref[kind]
    params = TensorDict(actor=unflatten(r["actor"]), qvalue=unflatten(r["qvalue"], [2]), log_alpha=r["log_alpha"])
    batch = unflatten(r["batch"], [r["batch"]["observation"].shape[0]])
    return ref["gamma"], params, unflatten(r["target_qvalue"], [2]), batch, r


def check(out, ref_out):
    for name in ("loss_actor", "loss_qvalue", "loss_alpha", "alpha", "entropy"):
        assert out[name].item() == pytest.approx(ref_out[name].item(), rel=1e-5, abs=1e-6), name


def test_sac_loss_matches_torchrl():
    gamma, params, target, batch, r = load("continuous")
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(OBS, 2 * ACT, num_cells=(16, 16), activation="relu"),
                                       action_low=-2.0, action_high=2.0)
    q = frl.nn.q_value_operator(frl.nn.mlp(OBS + ACT, 1, num_cells=(16, 16), activation="relu"))
    # frl's parameter layout is TorchRL's MLP state dict, so parameters move both ways.
    assert set(params["actor"].keys(True, True)) == set(actor.init(frl.random.key(0)).keys(True, True))
    out, _ = sac_loss(actor.get_dist, q.apply, params, target, batch, r["key"], gamma=gamma)
    check(out, r["out"])


def test_discrete_sac_loss_matches_torchrl():
    gamma, params, target, batch, r = load("discrete")
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(OBS, N_ACTIONS, num_cells=(16, 16), activation="relu"),
                                       distribution="categorical")
    q = frl.nn.q_value_actor(frl.nn.mlp(OBS, N_ACTIONS, num_cells=(16, 16), activation="relu"))
    out, _ = discrete_sac_loss(actor.get_dist, q.apply, params, target, batch, gamma=gamma)
    check(out, r["out"])
