"""The pieces the losses share (frl/objectives/_common.py, keys.py): values by hand, three ways, one home each."""

import ast
import functools
import pathlib

import pytest
import torch
from tensordict import TensorDict

import frl
import frl.objectives as O
from frl.objectives import _common as C
from frl.objectives.keys import PPO_BATCH_KEYS, TRANSITION_LOSS_KEYS
from tests.objectives import test_ddpg_td3 as T


def _transitions(seed, n=6):
    g = torch.Generator().manual_seed(seed)
    return TensorDict({"next": {"reward": torch.randn(n, 1, generator=g),
                                "terminated": torch.rand(n, 1, generator=g) < 0.5}}, batch_size=[n])


def test_bootstrapped_target_by_hand():
    batch = TensorDict({"next": {"reward": torch.tensor([[1.0], [2.0], [-1.0]]),
                                 "terminated": torch.tensor([[False], [True], [False]])}}, batch_size=[3])
    next_value = torch.tensor([10.0, 10.0, 4.0], requires_grad=True)
    target = C.bootstrapped_target(batch, next_value, 0.5)
    # Terminated: the reward alone; otherwise r + gamma * V(s'). No gradient reaches next_value.
    torch.testing.assert_close(target, torch.tensor([6.0, 2.0, 1.0]))
    assert not target.requires_grad


def test_bootstrapped_target_three_ways(three_ways):
    def args(seed):
        return _transitions(seed), torch.randn(6, generator=torch.Generator().manual_seed(seed + 100))

    three_ways(functools.partial(C.bootstrapped_target, gamma=0.9), args(0), args(1))


def test_weighted_mean_three_ways(three_ways):
    per_sample, weight = torch.tensor([1.0, 2.0, 3.0, 6.0]), torch.tensor([1.0, 0.5, 0.0, 1.0])
    assert C.weighted_mean(per_sample, None).item() == 3.0
    assert C.weighted_mean(per_sample, weight).item() == (1.0 + 1.0 + 0.0 + 6.0) / 4
    three_ways(C.weighted_mean, (per_sample, weight), (per_sample.flip(0), weight))


def test_ensemble_value_loss_by_hand_three_ways(three_ways):
    q = torch.tensor([[1.0, 2.0], [3.0, 0.0]])  # [num_qvalue_nets=2, B=2]
    target, weight = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 2.0])
    # l2: sample 0 sums (0 + 4), sample 1 sums (1 + 1); weighted mean over the samples.
    assert C.ensemble_value_loss(q, target, "l2", None).item() == (4.0 + 2.0) / 2
    assert C.ensemble_value_loss(q, target, "l2", weight).item() == (0.5 * 4.0 + 2.0 * 2.0) / 2
    three_ways(lambda q, t, w: C.ensemble_value_loss(q, t, "smooth_l1", w), (q, target, weight),
               (q * 2, target - 1, weight.flip(0)))


def test_joint_log_prob_sums_the_action_dims_three_ways(three_ways):
    lp = torch.randn(5, 3, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(C.joint_log_prob(lp, 1), lp.sum(-1).sum(-1))
    assert C.joint_log_prob(lp.sum((-1, -2)), 1).shape == (5,)  # already joint: unchanged
    # The tanh-Gaussian's own joint log-prob is what the losses get from elementwise terms.
    d = frl.nn.TanhNormal(torch.zeros(4, 2), torch.ones(4, 2), -2.0, 2.0)
    a, joint = d.sample_and_log_prob(frl.random.key(0))
    torch.testing.assert_close(C.joint_log_prob(joint, 1), joint)
    three_ways(functools.partial(C.joint_log_prob, batch_ndim=1), (lp,), (lp * 2,))


def test_q_ensemble_equals_a_loop_and_accepts_either_stacking(three_ways):
    params, _, batch = T.make_problem(3, num_q=3)
    q = params["qvalue"]
    out = C.q_ensemble(T.q_apply, q, batch)
    loop = torch.stack([T.q_apply(q[i], batch)["state_action_value"] for i in range(3)])
    torch.testing.assert_close(out, loop)
    # The check looks at the leaves: the ensemble may or may not be in the TensorDict's batch_size.
    C.check_q_ensemble("f", "q", q, 3)
    C.check_q_ensemble("f", "q", TensorDict(q.to_dict(), batch_size=[]), 3)
    with pytest.raises(ValueError, match=r"f: q has a leaf of shape \[3, 5, 5\], expected a leading dimension "
                                         r"of num_qvalue_nets=2 \(its batch_size is \[3\]"):
        C.check_q_ensemble("f", "q", q, 2)
    p2, _, b2 = T.make_problem(4, num_q=3)
    three_ways(lambda qp, b: C.q_ensemble(T.q_apply, qp, b), (q, batch), (p2["qvalue"], b2))


def test_td3_accepts_critics_stacked_in_the_leaves_only():
    params, target, batch = T.make_problem(5, num_q=2)
    key = frl.random.key(1)
    kw = dict(gamma=0.9, action_low=-1.0, action_high=1.0)
    expected, td_expected = O.td3_loss(T.actor_apply, T.q_apply, params, target, batch, key, **kw)

    def leaves_only(p):
        return p.clone().set("qvalue", TensorDict(p["qvalue"].to_dict(), batch_size=[]))

    got, td_got = O.td3_loss(T.actor_apply, T.q_apply, leaves_only(params), leaves_only(target), batch, key, **kw)
    torch.testing.assert_close(td_got, td_expected)
    for k in expected.keys():
        torch.testing.assert_close(got[k], expected[k])


def test_transition_loss_keys_have_one_definition():
    assert O.DQN_BATCH_KEYS is TRANSITION_LOSS_KEYS
    assert O.SAC_BATCH_KEYS is TRANSITION_LOSS_KEYS
    assert O.DDPG_BATCH_KEYS is TRANSITION_LOSS_KEYS
    assert O.TRANSITION_LOSS_KEYS == ("action", ("next", "reward"), ("next", "terminated"))
    assert O.PPO_BATCH_KEYS is PPO_BATCH_KEYS


def test_no_objective_imports_another_modules_private_helpers():
    root = pathlib.Path(O.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("frl."):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports private helpers {private} from {node.module}"
