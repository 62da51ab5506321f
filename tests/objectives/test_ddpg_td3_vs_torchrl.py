"""frl's ddpg_loss, td3_loss and td3_bc_loss reproduce TorchRL's DDPGLoss, TD3Loss and TD3BCLoss.

The reference numbers were produced by TorchRL 0.14.1 itself on the same parameters and batch
(tests/data/make_torchrl_td3_reference.py) and stored, so this test needs no TorchRL at run time.
TorchRL draws TD3's smoothing noise from torch's global generator, so the reference has
``policy_noise=0`` (frl's noise is tested against its key in test_ddpg_td3.py); its bounds are tight
enough that the clamp of the target action binds.
"""

import os

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.objectives.ddpg import ddpg_loss
from frl.objectives.td3 import td3_bc_loss, td3_loss

REF = os.path.join(os.path.dirname(__file__), "..", "data", "torchrl_td3_reference.pt")
OBS, ACT = 3, 2

actor = frl.nn.deterministic_actor(frl.nn.mlp(OBS, ACT, num_cells=(16, 16), activation="tanh"))
critic = frl.nn.q_value_operator(frl.nn.mlp(OBS + ACT, 1, num_cells=(16, 16), activation="tanh"))


def load(name, stacked):
    ref = torch.load(REF, weights_only=True)
    part = ref[name]
    tds = {k: TensorDict(v).unflatten_keys(".") for k, v in part.items() if k in
           ("actor", "qvalue", "target_actor", "target_qvalue")}
    if stacked:
        for k in ("qvalue", "target_qvalue"):
            tds[k].batch_size = [2]
    params = TensorDict(actor=tds["actor"], qvalue=tds["qvalue"])
    target = TensorDict(actor=tds["target_actor"], qvalue=tds["target_qvalue"])
    batch = TensorDict(ref["batch"]).unflatten_keys(".")
    batch.batch_size = batch["observation"].shape[:1]
    # frl's parameter layout must be TorchRL's MLP state dict, so parameters move both ways.
    assert set(params["actor"].keys(True, True)) == set(actor.init(frl.random.key(0)).keys(True, True))
    return params, target, batch, part["out"], part["priority"]


def close(a, b):
    return a.item() == pytest.approx(b.item(), rel=1e-5, abs=1e-6)


def test_ddpg_loss_matches_torchrl():
    params, target, batch, out, priority = load("ddpg", stacked=False)
    terms, td_error = ddpg_loss(actor.apply, critic.apply, params, target, batch, gamma=0.9)
    for k in ("loss_actor", "loss_value", "target_value_max", "pred_value_max"):
        assert close(terms[k], out[k]), k
    assert close(terms["pred_value"], out["pred_value"].mean()) and close(terms["target_value"], out["target_value"].mean())
    torch.testing.assert_close(td_error ** 2, priority)  # TorchRL's priority is the squared TD error


@pytest.mark.parametrize("name", ["td3", "td3_bc"])
def test_td3_losses_match_torchrl(name):
    params, target, batch, out, priority = load(name, stacked=True)
    assert not torch.equal(params["qvalue", "0", "weight"][0], params["qvalue", "0", "weight"][1])
    kw = dict(gamma=0.9, policy_noise=0.0, noise_clip=0.5, action_low=-0.3, action_high=0.3)
    # The clamp binds for some target actions, so the bounds are exercised.
    mu_next = actor.apply(target["actor"], batch["next"])["action"]
    assert (mu_next.abs() > 0.3).any() and (mu_next.abs() < 0.3).any()
    if name == "td3":
        terms, td_error = td3_loss(actor.apply, critic.apply, params, target, batch, frl.random.key(0), **kw)
        q_actor = out["state_action_value_actor"][0]  # TorchRL evaluates every critic and keeps the first
    else:
        terms, td_error = td3_bc_loss(actor.apply, critic.apply, params, target, batch, frl.random.key(0),
                                      alpha=2.5, **kw)
        q_actor = out["state_action_value_actor"]
        assert close(terms["bc_loss"], out["bc_loss"]) and close(terms["lmbd"], out["lmbd"])
    for k in ("loss_actor", "loss_qvalue"):
        assert close(terms[k], out[k]), k
    assert close(terms["state_action_value_actor"], q_actor.mean())
    for k in ("next_state_value", "pred_value", "target_value"):
        assert close(terms[k], out[k].mean()), k
    torch.testing.assert_close(td_error ** 2, priority)  # TorchRL: the largest squared error over critics
