"""make_dqn_update equals autograd + torch.optim.Adam on the same loss, and compiles and vmaps."""

import torch
from tensordict import TensorDict

import frl
from frl.objectives import dqn_loss
from tests.objectives.test_dqn import make_problem, q_apply


def test_update_matches_torch_optim_adam():
    params, target, batch = make_problem(0)
    weight = torch.rand(16, dtype=torch.float64)
    opt = frl.optim.adam(1e-2)
    update = frl.train.make_dqn_update(q_apply, opt, gamma=0.9)
    p, state = params, opt.init(params)
    for _ in range(4):
        p, state, metrics, td_error = update(p, target, state, batch, weight)
    leaves = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    torch_opt = torch.optim.Adam(leaves.values(), lr=1e-2)
    for _ in range(4):
        dqn_loss(q_apply, TensorDict(leaves), target, batch, gamma=0.9, weight=weight)[0]["loss"].backward()
        torch_opt.step()
        torch_opt.zero_grad()
    for k in ("w", "b"):
        torch.testing.assert_close(p[k], leaves[k].detach(), rtol=1e-10, atol=1e-12)
    assert td_error.shape == (16,) and metrics["grad_norm"] > 0


def test_update_three_ways(three_ways):
    opt = frl.optim.adam(1e-3)
    update = frl.train.make_dqn_update(q_apply, opt, gamma=0.99)

    def args(seed):
        params, target, batch = make_problem(seed, dtype=torch.float32)
        return params, target, opt.init(params), batch

    three_ways(update, args(1), args(2), rtol=1e-4, atol=1e-5)
