"""make_ppo_update: equals autograd + torch.optim.Adam on the same loss; pure; eager / vmap / compile."""

import torch
from tensordict import TensorDict

import frl
from frl.objectives import clip_ppo_loss
from tests.objectives.test_ppo import actor_dist, critic, make_problem


def torch_reference_steps(params, batch, steps, lr):
    leaves = {".".join(k): torch.nn.Parameter(v.clone()) for k, v in params.items(True, True)}
    opt = torch.optim.Adam(leaves.values(), lr=lr)
    for _ in range(steps):
        p = TensorDict(dict(leaves)).unflatten_keys(".")
        out = clip_ppo_loss(actor_dist, critic, p, batch, clip_epsilon=0.2, value_clip=0.5)
        (out["loss_objective"] + out["loss_critic"] + out["loss_entropy"]).backward()
        opt.step()
        opt.zero_grad()
    return {k: v.detach() for k, v in leaves.items()}


def test_update_matches_torch_optim_adam():
    params, batch = make_problem(0, dtype=torch.float64)
    opt = frl.optim.adam(1e-2)
    update = frl.train.make_ppo_update(actor_dist, critic, opt, clip_epsilon=0.2, value_clip=0.5)
    state = opt.init(params)
    p = params
    for _ in range(5):
        p, state, metrics = update(p, state, batch)
    expected = torch_reference_steps(params, batch, 5, 1e-2)
    for key, value in expected.items():
        torch.testing.assert_close(p[tuple(key.split("."))], value, rtol=1e-10, atol=1e-12)
    assert set(metrics.keys()) >= {"loss", "loss_objective", "loss_critic", "loss_entropy", "grad_norm", "kl_approx"}


def test_update_is_pure(assert_pure):
    params, batch = make_problem(1)
    opt = frl.optim.adam(1e-3)
    update = frl.train.make_ppo_update(actor_dist, critic, opt)
    assert_pure(update, params, opt.init(params), batch)


def test_grad_transform_hook_sees_gradients():
    params, batch = make_problem(2)
    seen = []
    opt = frl.optim.sgd(0.1)
    update = frl.train.make_ppo_update(actor_dist, critic, opt, grad_transform=lambda g: seen.append(g) or g * 0)
    new_params, _, _ = update(params, opt.init(params), batch)
    assert len(seen) == 1 and set(seen[0].keys(True, True)) == set(params.keys(True, True))
    assert frl.tree.tree_allclose(new_params, params, rtol=0, atol=0)  # zeroed gradients: no change


def test_update_three_ways(three_ways):
    opt = frl.optim.adam(1e-3)
    update = frl.train.make_ppo_update(actor_dist, critic, opt, clip_epsilon=0.2)

    def args(seed):
        params, batch = make_problem(seed)
        return params, opt.init(params), batch

    three_ways(update, args(3), args(4), rtol=1e-4, atol=1e-5, compile_vmap=True)
