"""frl.nn.actor_critic: shared trunk, standalone policy and critic, gradients reaching the trunk."""

import torch
from tensordict import TensorDict

import frl
from frl import nn as fnn


def _ac():
    trunk = fnn.mlp(3, 16, (16,), activate_last=True)
    actor = fnn.probabilistic_actor(fnn.mlp(16, 4, ()), in_key="hidden")
    critic = fnn.value_operator(fnn.mlp(16, 1, ()), in_key="hidden")
    return trunk, actor, critic, fnn.actor_critic(trunk, actor, critic)


def _td(batch=(5,)):
    return TensorDict(observation=torch.randn(*batch, 3), batch_size=batch)


def test_apply_equals_composition_of_parts():
    trunk, actor, critic, ac = _ac()
    params = ac.init(frl.random.key(0))
    assert set(params.keys()) == {"trunk", "actor", "critic"}
    td = _td((2, 5))
    out = ac.apply(params, td, frl.random.key(1))
    h = trunk.apply(params["trunk"], td["observation"])
    torch.testing.assert_close(out["hidden"], h)
    ref = critic.apply(params["critic"], actor.apply(params["actor"], td.set("hidden", h), frl.random.key(1)))
    for k in ["loc", "scale", "action", "action_log_prob", "state_value"]:
        torch.testing.assert_close(out[k], ref[k])


def test_standalone_policy_and_critic_match_the_joint_apply():
    _, _, _, ac = _ac()
    params = ac.init(frl.random.key(0))
    td = _td()
    joint = ac.apply(params, td, frl.random.key(2))
    pol = ac.policy.apply(params, td, frl.random.key(2))
    torch.testing.assert_close(pol["action"], joint["action"])
    assert "state_value" not in pol.keys()
    torch.testing.assert_close(ac.critic.apply(params, td)["state_value"], joint["state_value"])
    assert ac.get_policy_operator() is ac.policy and ac.get_value_operator() is ac.critic
    d = ac.policy.get_dist(params, joint)
    torch.testing.assert_close(d.log_prob(joint["action"]), joint["action_log_prob"], rtol=1e-4, atol=1e-4)
    det = ac.policy.apply(params, td, deterministic=True)
    torch.testing.assert_close(det["action"], torch.tanh(det["loc"]))


def test_actor_and_critic_losses_both_reach_the_trunk():
    _, _, _, ac = _ac()
    params = ac.init(frl.random.key(0))
    td = ac.apply(params, _td(), frl.random.key(1))

    def actor_loss(p):
        return -ac.policy.get_dist(p, td).log_prob(td["action"]).mean()

    def value_loss(p):
        return ac.critic.apply(p, td)["state_value"].pow(2).mean()

    ga, gv = torch.func.grad(actor_loss)(params), torch.func.grad(value_loss)(params)
    assert ga["trunk", "0", "weight"].abs().sum() > 0 and gv["trunk", "0", "weight"].abs().sum() > 0
    assert torch.equal(ga["critic", "0", "weight"], torch.zeros_like(ga["critic", "0", "weight"]))
    assert torch.equal(gv["actor", "0", "weight"], torch.zeros_like(gv["actor", "0", "weight"]))
