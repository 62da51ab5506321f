"""frl's actor, critic and clip_ppo_loss reproduce TorchRL's ClipPPOLoss on the same params and batch.

The reference numbers were produced by TorchRL 0.14.1 itself (tests/data/make_torchrl_ppo_reference.py)
and stored, so this test needs no TorchRL at run time.
"""

import os

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.objectives import clip_ppo_loss

REF = os.path.join(os.path.dirname(__file__), "..", "data", "torchrl_ppo_reference.pt")


def test_clip_ppo_loss_matches_torchrl():
    ref = torch.load(REF, weights_only=True)
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(3, 2, num_cells=(16, 16), activation="tanh"),
                                       distribution="normal")
    critic = frl.nn.value_operator(frl.nn.mlp(3, 1, num_cells=(16, 16), activation="tanh"))
    params = TensorDict(actor=TensorDict(ref["actor_mlp"]).unflatten_keys("."),
                        critic=TensorDict(ref["critic_mlp"]).unflatten_keys("."))
    # frl's structure must be exactly TorchRL's MLP state dict, so parameters move both ways.
    assert set(params["actor"].keys(True, True)) == set(actor.init(frl.random.key(0)).keys(True, True))
    b = ref["batch"]
    batch = TensorDict(observation=b["observation"], action=b["action"],
                       action_log_prob=b["action_log_prob"].sum(-1),  # TorchRL kept it per action dim
                       advantage=b["advantage"], value_target=b["value_target"], batch_size=[64])
    out = clip_ppo_loss(actor.get_dist, critic.apply, params, batch, clip_epsilon=0.2, entropy_coef=0.01,
                        critic_coef=0.5, critic_loss="smooth_l1")
    for key in ("loss_objective", "loss_critic", "loss_entropy", "entropy", "kl_approx", "clip_fraction", "ESS"):
        assert out[key].item() == pytest.approx(ref["out"][key].reshape(()).item(), rel=1e-5, abs=1e-6), key
