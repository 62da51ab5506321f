"""make_sac_update / make_td3_update equal autograd + torch.optim.Adam on the same losses, and compile and vmap."""

import torch
from tensordict import TensorDict

import frl
from frl.objectives import sac_loss, td3_loss
from tests.objectives import test_ddpg_td3 as T
from tests.objectives import test_sac as S

LR = 1e-2


def _torch_leaves(params):
    return {k: torch.nn.Parameter(v.clone()) for k, v in params.items(include_nested=True, leaves_only=True)}


def _as_td(leaves, like):
    out = like.clone()
    for k, v in leaves.items():
        out.set(k, v)
    return out


def test_sac_update_matches_torch_optim_adam():
    params, target, batch, key = S.make_problem(0)
    weight = torch.rand(8, dtype=torch.float64)
    opt = frl.optim.adam(LR)
    update = frl.train.make_sac_update(S.actor_dist, S.q_apply, opt, gamma=0.9)
    keys = frl.random.split(key, 3)
    p, state = params, opt.init(params)
    for k in keys:
        p, state, metrics, td_error = update(p, target, state, batch, k, weight)
    # Reference: the same three steps with autograd and torch.optim.Adam over every leaf at once.
    leaves = _torch_leaves(params)
    torch_opt = torch.optim.Adam(leaves.values(), lr=LR)
    for k in keys:
        terms, _ = sac_loss(S.actor_dist, S.q_apply, _as_td(leaves, params), target, batch, k, gamma=0.9,
                            weight=weight)
        (terms["loss_actor"] + terms["loss_qvalue"] + terms["loss_alpha"]).backward()
        torch_opt.step()
        torch_opt.zero_grad()
    for name, leaf in leaves.items():
        torch.testing.assert_close(p.get(name), leaf.detach(), rtol=1e-9, atol=1e-11)
    assert td_error.shape == (8,) and metrics["grad_norm"] > 0
    assert not torch.equal(p["log_alpha"], params["log_alpha"])  # the temperature learned too


def _td3_update():
    return frl.train.make_td3_update(T.actor_apply, T.q_apply, frl.optim.adam(LR), gamma=0.9, policy_noise=0.3,
                                     noise_clip=0.4, action_low=T.LOW, action_high=T.HIGH)


def _td3_opt_state(params):
    opt = frl.optim.adam(LR)
    return {"actor": opt.init(params["actor"]), "qvalue": opt.init(params["qvalue"])}


def test_td3_update_delays_the_actor_as_two_torch_optimizers_do():
    params, target, batch = T.make_problem(0, num_q=2)
    update, key = _td3_update(), frl.random.key(3)
    schedule = [True, False, False, True]  # the actor steps on calls 0 and 3 only
    keys = frl.random.split(key, len(schedule))
    p, state = params, _td3_opt_state(params)
    for k, actor_step in zip(keys, schedule, strict=True):
        p, state, metrics, td_error = update(p, target, state, batch, k, torch.tensor(actor_step))
    # Reference: autograd, one torch Adam per network, the actor's stepped only on its calls.
    actor, critics = _torch_leaves(params["actor"]), _torch_leaves(params["qvalue"])
    opt_actor, opt_critics = torch.optim.Adam(actor.values(), lr=LR), torch.optim.Adam(critics.values(), lr=LR)
    for k, actor_step in zip(keys, schedule, strict=True):
        current = TensorDict(actor=_as_td(actor, params["actor"]), qvalue=_as_td(critics, params["qvalue"]))
        terms, _ = td3_loss(T.actor_apply, T.q_apply, current, target, batch, k, gamma=0.9, policy_noise=0.3,
                            noise_clip=0.4, action_low=T.LOW, action_high=T.HIGH)
        (terms["loss_actor"] + terms["loss_qvalue"]).backward()
        opt_critics.step()
        if actor_step:
            opt_actor.step()
        opt_actor.zero_grad()
        opt_critics.zero_grad()
    for part, leaves in (("actor", actor), ("qvalue", critics)):
        for name, leaf in leaves.items():
            torch.testing.assert_close(p[part].get(name), leaf.detach(), rtol=1e-9, atol=1e-11)
    assert td_error.shape == (8,) and metrics["grad_norm"] > 0


def test_td3_update_without_actor_step_keeps_actor_and_its_optimizer_state():
    params, target, batch = T.make_problem(1, num_q=2)
    state = _td3_opt_state(params)
    p, new_state, _, _ = _td3_update()(params, target, state, batch, frl.random.key(0), torch.tensor(False))
    assert (p["actor"] == params["actor"]).all()
    frl.tree.tree_map(lambda a, b: torch.testing.assert_close(a, b, rtol=0, atol=0), new_state["actor"], state["actor"])
    assert not (p["qvalue"] == params["qvalue"]).all()


def test_updates_three_ways(three_ways):
    opt = frl.optim.adam(1e-3)
    sac = frl.train.make_sac_update(S.actor_dist, S.q_apply, opt, gamma=0.99)

    def sac_args(seed):
        params, target, batch, key = S.make_problem(seed, dtype=torch.float32)
        return params, target, opt.init(params), batch, key

    three_ways(sac, sac_args(1), sac_args(2), rtol=1e-4, atol=1e-5)
    td3 = _td3_update()

    def td3_args(seed):
        params, target, batch = T.make_problem(seed, num_q=2, dtype=torch.float32)
        return params, target, _td3_opt_state(params), batch, frl.random.key(seed), torch.tensor(seed % 2 == 0)

    three_ways(td3, td3_args(1), td3_args(2), rtol=1e-4, atol=1e-5)
