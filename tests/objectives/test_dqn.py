"""DQN loss against a float64 per-sample loop; soft target updates by hand; eager / vmap / compile."""

import functools

import pytest
import torch
from tensordict import TensorDict

from frl.objectives import dqn_loss
from frl.train import soft_update


def q_apply(p, td):
    return td.empty().set("action_value", td["observation"] @ p["w"] + p["b"])


def make_problem(seed, n=16, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    params = TensorDict(w=torch.randn(4, 3, generator=g, dtype=dtype), b=torch.randn(3, generator=g, dtype=dtype))
    target = TensorDict(w=torch.randn(4, 3, generator=g, dtype=dtype), b=torch.randn(3, generator=g, dtype=dtype))
    terminated = torch.rand(n, 1, generator=g) < 0.3
    truncated = (torch.rand(n, 1, generator=g) < 0.3) & ~terminated
    batch = TensorDict({
        "observation": torch.randn(n, 4, generator=g, dtype=dtype),
        "action": torch.randint(0, 3, (n,), generator=g),
        "next": {"observation": torch.randn(n, 4, generator=g, dtype=dtype),
                 "reward": torch.randn(n, 1, generator=g, dtype=dtype),
                 "terminated": terminated, "truncated": truncated, "done": terminated | truncated},
    }, batch_size=[n])
    return params, target, batch


def reference(params, target, batch, gamma, double, weight=None):
    total, errors = 0.0, []
    for i in range(batch.batch_size[0]):
        s, a, s2 = batch["observation"][i], int(batch["action"][i]), batch["next", "observation"][i]
        q = (s @ params["w"] + params["b"])[a].item()
        q2_online = (s2 @ params["w"] + params["b"]).tolist()
        q2_target = (s2 @ target["w"] + target["b"]).tolist()
        pick = max(range(3), key=(q2_online if double else q2_target).__getitem__)
        bootstrap = 0.0 if batch["next", "terminated"][i].item() else 1.0   # truncated still bootstraps
        y = batch["next", "reward"][i].item() + gamma * bootstrap * q2_target[pick]
        d = abs(y - q)
        huber = 0.5 * d * d if d < 1 else d - 0.5
        total += huber * (1.0 if weight is None else weight[i].item())
        errors.append(d)
    return total / batch.batch_size[0], errors


@pytest.mark.parametrize("double", [True, False], ids=["double", "plain"])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "is_weights"])
def test_dqn_loss_matches_loop(double, weighted):
    params, target, batch = make_problem(0)
    weight = torch.rand(16, dtype=torch.float64) if weighted else None
    terms, td_error = dqn_loss(q_apply, params, target, batch, gamma=0.9, double_dqn=double, weight=weight)
    ref_loss, ref_err = reference(params, target, batch, 0.9, double, weight)
    assert terms["loss"].item() == pytest.approx(ref_loss, rel=1e-12)
    torch.testing.assert_close(td_error, torch.tensor(ref_err, dtype=torch.float64))


def test_no_gradient_through_the_target():
    params, target, batch = make_problem(1)
    grads = torch.func.grad(lambda p, t: dqn_loss(q_apply, p, t, batch, gamma=0.9)[0]["loss"], argnums=1)(params, target)
    assert all((g == 0).all() for g in grads.values())


def test_bad_action_dtype_and_missing_key():
    params, target, batch = make_problem(2)
    with pytest.raises(TypeError, match="frl.objectives.dqn_loss: action has dtype float32"):
        dqn_loss(q_apply, params, target, batch.clone().set("action", batch["action"].float()), gamma=0.9)
    with pytest.raises(KeyError, match=r"dqn_loss: batch TensorDict has no key \('next', 'terminated'\)"):
        dqn_loss(q_apply, params, target, batch.exclude(("next", "terminated")), gamma=0.9)


def test_dqn_loss_pure_and_three_ways(assert_pure, three_ways):
    params, target, batch = make_problem(3, dtype=torch.float32)
    assert_pure(dqn_loss, q_apply, params, target, batch, gamma=0.9)
    fn = functools.partial(dqn_loss, q_apply, gamma=0.9)
    three_ways(fn, make_problem(4, dtype=torch.float32), make_problem(5, dtype=torch.float32), rtol=1e-5, atol=1e-6)


def test_soft_update_hand_values():
    target, params = TensorDict(w=torch.zeros(2)), TensorDict(w=torch.tensor([1.0, -2.0]))
    torch.testing.assert_close(soft_update(target, params, 0.25)["w"], torch.tensor([0.25, -0.5]))
    torch.testing.assert_close(soft_update(target, params, 1.0)["w"], params["w"])
    assert (target["w"] == 0).all()  # pure
