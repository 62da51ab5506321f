"""DDPG, TD3 and TD3+BC losses against float64 per-sample loops and hand-computed values; gradient
routing; terminated vs truncated; target smoothing from the key; weights; eager / vmap / compile."""

import functools

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.objectives.ddpg import ddpg_loss
from frl.objectives.td3 import td3_bc_loss, td3_loss

OBS, ACT, HID = 3, 2, 5
LOW, HIGH = -1.5, 1.5


# --- the test's networks (batched, as the losses call them) and their per-sample twins -------------

def actor_apply(p, td):
    return td.copy().set("action", 2.0 * torch.tanh(td["observation"] @ p["w"] + p["b"]))


def q_apply(p, td):
    x = torch.cat([td["observation"], td["action"]], -1)
    return td.copy().set("state_action_value", torch.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])


def mu(p, s):  # one observation [OBS] -> action [ACT]
    return 2.0 * torch.tanh(s @ p["w"] + p["b"])


def q_one(p, s, a):  # one (observation, action) -> scalar
    return (torch.tanh(torch.cat([s, a]) @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"])[0]


def _randn(g, dtype, *shape):
    return torch.randn(*shape, generator=g, dtype=dtype)


def make_actor(g, dtype):
    return TensorDict(w=_randn(g, dtype, OBS, ACT), b=_randn(g, dtype, ACT))


def make_q(g, dtype):
    return TensorDict(w1=_randn(g, dtype, OBS + ACT, HID), b1=_randn(g, dtype, HID), w2=_randn(g, dtype, HID, 1),
                      b2=_randn(g, dtype, 1))


def make_batch(g, n, dtype):
    terminated = torch.rand(n, 1, generator=g) < 0.3
    truncated = (torch.rand(n, 1, generator=g) < 0.3) & ~terminated
    return TensorDict({
        "observation": _randn(g, dtype, n, OBS),
        "action": (2 * torch.rand(n, ACT, generator=g, dtype=dtype) - 1) * HIGH,
        "next": {"observation": _randn(g, dtype, n, OBS), "reward": _randn(g, dtype, n, 1),
                 "terminated": terminated, "truncated": truncated, "done": terminated | truncated},
    }, batch_size=[n])


def make_problem(seed, n=8, num_q=None, dtype=torch.float64):
    """(params, target_params, batch); num_q=None: one critic (DDPG), else a stack of num_q critics."""
    g = torch.Generator().manual_seed(seed)

    def critics():
        return make_q(g, dtype) if num_q is None else torch.stack([make_q(g, dtype) for _ in range(num_q)])

    params = TensorDict(actor=make_actor(g, dtype), qvalue=critics())
    target = TensorDict(actor=make_actor(g, dtype), qvalue=critics())
    return params, target, make_batch(g, n, dtype)


def _clip(x, lo, hi):
    return min(max(x, lo), hi)


# --- independent references: one sample at a time, float64 -------------------------------------

def ddpg_reference(params, target, batch, gamma, weight=None):
    """(loss_actor, loss_value, td_errors); differentiable w.r.t. params["actor"] / params["qvalue"]."""
    n = batch.batch_size[0]
    loss_actor, loss_value, errors = 0.0, 0.0, []
    for i in range(n):
        s, a, s2 = batch["observation"][i], batch["action"][i], batch["next", "observation"][i]
        w = 1.0 if weight is None else weight[i].item()
        loss_actor = loss_actor - w * q_one(params["qvalue"], s, mu(params["actor"], s)) / n
        bootstrap = 0.0 if batch["next", "terminated"][i].item() else 1.0  # truncated still bootstraps
        y = batch["next", "reward"][i].item() + gamma * bootstrap * q_one(target["qvalue"], s2, mu(target["actor"], s2)).item()
        pred = q_one(params["qvalue"], s, a)
        loss_value = loss_value + w * (pred - y) ** 2 / n
        errors.append(abs(y - pred.item()))
    return loss_actor, loss_value, errors


def td3_reference(params, target, batch, noise, gamma, noise_clip, low, high, weight=None, alpha=None):
    """(loss_actor, loss_qvalue, td_errors) of TD3 (alpha=None) or TD3+BC, given the raw noise [B, ACT]."""
    n, num_q = batch.batch_size[0], params["qvalue"].batch_size[0]
    critics = [params["qvalue"][j] for j in range(num_q)]
    target_critics = [target["qvalue"][j] for j in range(num_q)]
    actor_terms, loss_q, errors = [], 0.0, []
    for i in range(n):
        s, a, s2 = batch["observation"][i], batch["action"][i], batch["next", "observation"][i]
        w = 1.0 if weight is None else weight[i].item()
        a2 = mu(target["actor"], s2).tolist()
        a2 = torch.tensor([_clip(a2[d] + _clip(noise[i, d].item(), -noise_clip, noise_clip), low, high)
                           for d in range(ACT)], dtype=s.dtype)
        v = min(q_one(p, s2, a2).item() for p in target_critics)
        bootstrap = 0.0 if batch["next", "terminated"][i].item() else 1.0
        y = batch["next", "reward"][i].item() + gamma * bootstrap * v
        preds = [q_one(p, s, a) for p in critics]
        loss_q = loss_q + w * sum((p - y) ** 2 for p in preds) / n
        errors.append(max(abs(y - p.item()) for p in preds))
        pi = mu(params["actor"], s)
        actor_terms.append((w, q_one(critics[0], s, pi), ((pi - a) ** 2).mean()))
    if alpha is None:
        loss_actor = sum(-w * q for w, q, _ in actor_terms) / n
    else:
        lmbd = alpha / (sum(abs(q.item()) for _, q, _ in actor_terms) / n)  # a constant: no gradient
        loss_actor = sum(w * (-lmbd * q + bc) for w, q, bc in actor_terms) / n
    return loss_actor, loss_q, errors


def smoothing_noise(key, n, policy_noise, dtype=torch.float64):
    # The documented draw: policy_noise * frl.random.normal(key, action.shape), clipped afterwards.
    return policy_noise * frl.random.normal(key, (n, ACT), dtype)


TD3_KW = dict(gamma=0.9, policy_noise=0.3, noise_clip=0.4, action_low=LOW, action_high=HIGH)


# --- DDPG ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "is_weights"])
def test_ddpg_matches_per_sample_loop(weighted):
    params, target, batch = make_problem(0)
    weight = torch.rand(8, dtype=torch.float64) if weighted else None
    terms, td_error = ddpg_loss(actor_apply, q_apply, params, target, batch, gamma=0.9, weight=weight)
    ref_actor, ref_value, ref_err = ddpg_reference(params, target, batch, 0.9, weight)
    assert terms["loss_actor"].item() == pytest.approx(ref_actor.item(), rel=1e-12)
    assert terms["loss_value"].item() == pytest.approx(ref_value.item(), rel=1e-12)
    torch.testing.assert_close(td_error, torch.tensor(ref_err, dtype=torch.float64))
    assert terms["td_error"].item() == pytest.approx(sum(ref_err) / 8)


def test_ddpg_hand_computed():
    # 1-d observation and action; mu(s) = 0.5 s, Q(s, a) = s + a, the targets the same networks.
    lin_actor = lambda p, td: td.copy().set("action", td["observation"] * p["k"])  # noqa: E731
    lin_q = lambda p, td: td.copy().set("state_action_value", td["observation"] + p["k"] * td["action"])  # noqa: E731
    params = TensorDict(actor=TensorDict(k=torch.tensor(0.5)), qvalue=TensorDict(k=torch.tensor(1.0)))
    batch = TensorDict({"observation": torch.tensor([[1.0], [-1.0]]), "action": torch.tensor([[0.5], [1.0]]),
                        "next": {"observation": torch.tensor([[2.0], [3.0]]), "reward": torch.tensor([[1.0], [2.0]]),
                                 "terminated": torch.tensor([[False], [True]])}}, batch_size=[2])
    terms, td_error = ddpg_loss(lin_actor, lin_q, params, params.clone(), batch, gamma=0.9)
    # sample 0: Q(s, a) = 1.5; y = 1 + 0.9 * Q(2, mu(2) = 1) = 1 + 0.9 * 3 = 3.7; (1.5 - 3.7)^2 = 4.84
    # sample 1 (terminated): Q(s, a) = 0; y = 2; (0 - 2)^2 = 4
    assert terms["loss_value"].item() == pytest.approx((4.84 + 4.0) / 2)
    torch.testing.assert_close(td_error, torch.tensor([2.2, 2.0]))
    # actor: Q(1, 0.5) = 1.5 and Q(-1, -0.5) = -1.5 -> -(1.5 - 1.5) / 2 = 0
    assert terms["loss_actor"].item() == pytest.approx(0.0)
    assert terms["target_value_max"].item() == pytest.approx(3.7)
    # d loss_actor / d k_actor = -mean(d Q / d a * s) = -(1 * 1 + 1 * -1) / 2 = 0; shift s to see a slope:
    grads = torch.func.grad(lambda p: ddpg_loss(lin_actor, lin_q, p, params, batch.clone().set(
        "observation", torch.tensor([[1.0], [3.0]])), gamma=0.9)[0]["loss_actor"])(params)
    assert grads["actor", "k"].item() == pytest.approx(-2.0)  # -(1 + 3) / 2
    assert grads["qvalue", "k"].item() == 0.0


def _grads(loss_fn, key, params):
    return torch.func.grad(lambda p: loss_fn(p)[0][key])(params)


def _all_zero(td):
    return all(bool((g == 0).all()) for g in td.values(True, True))


def _reference_grads(ref_fn, params, part):
    leaves = params[part].clone().apply(lambda t: t.requires_grad_())
    p = params.clone()
    p[part] = leaves
    out = ref_fn(p)
    names = list(leaves.keys(True, True))
    return dict(zip(names, torch.autograd.grad(out, [leaves[k] for k in names])))


def test_ddpg_gradient_routing_and_values():
    params, target, batch = make_problem(1)
    loss = functools.partial(ddpg_loss, actor_apply, q_apply, target_params=target, batch=batch, gamma=0.9)
    g_actor = _grads(loss, "loss_actor", params)
    g_value = _grads(loss, "loss_value", params)
    assert _all_zero(g_actor["qvalue"]) and not _all_zero(g_actor["actor"])
    assert _all_zero(g_value["actor"]) and not _all_zero(g_value["qvalue"])
    g_target = torch.func.grad(lambda t: sum(ddpg_loss(actor_apply, q_apply, params, t, batch, gamma=0.9)[0][k]
                                             for k in ("loss_actor", "loss_value")))(target)
    assert _all_zero(g_target)
    ref_a = _reference_grads(lambda p: ddpg_reference(p, target, batch, 0.9)[0], params, "actor")
    ref_v = _reference_grads(lambda p: ddpg_reference(p, target, batch, 0.9)[1], params, "qvalue")
    for k, g in ref_a.items():
        torch.testing.assert_close(g_actor["actor", k], g)
    for k, g in ref_v.items():
        torch.testing.assert_close(g_value["qvalue", k], g)


def test_ddpg_terminated_stops_bootstrap_truncated_does_not():
    params, target, batch = make_problem(2)
    batch["next", "terminated"] = torch.zeros(8, 1, dtype=torch.bool)
    batch["next", "truncated"] = torch.zeros(8, 1, dtype=torch.bool)
    base = ddpg_loss(actor_apply, q_apply, params, target, batch, gamma=0.9)[0]
    trunc = batch.clone()
    trunc["next", "truncated"] = torch.ones(8, 1, dtype=torch.bool)
    assert torch.equal(ddpg_loss(actor_apply, q_apply, params, target, trunc, gamma=0.9)[0]["loss_value"],
                       base["loss_value"])
    term = batch.clone()
    term["next", "terminated"] = torch.ones(8, 1, dtype=torch.bool)
    terms = ddpg_loss(actor_apply, q_apply, params, target, term, gamma=0.9)[0]
    # No bootstrap at all: the target is the reward alone.
    assert terms["target_value"].item() == pytest.approx(batch["next", "reward"].mean().item())
    assert terms["loss_value"].item() != pytest.approx(base["loss_value"].item())


def test_ddpg_weight_ones_is_unweighted_and_loss_kinds():
    params, target, batch = make_problem(3)
    plain = ddpg_loss(actor_apply, q_apply, params, target, batch, gamma=0.9)
    ones = ddpg_loss(actor_apply, q_apply, params, target, batch, gamma=0.9, weight=torch.ones(8, dtype=torch.float64))
    torch.testing.assert_close(plain[0], ones[0])
    l1 = ddpg_loss(actor_apply, q_apply, params, target, batch, gamma=0.9, loss="l1")[0]
    assert l1["loss_value"].item() == pytest.approx(plain[1].mean().item())  # mean |y - Q| is l1's loss


def test_ddpg_pure_and_three_ways(assert_pure, three_ways):
    params, target, batch = make_problem(4, dtype=torch.float32)
    assert_pure(ddpg_loss, actor_apply, q_apply, params, target, batch, gamma=0.9,
                weight=torch.rand(8))
    fn = functools.partial(ddpg_loss, actor_apply, q_apply, gamma=0.9)
    three_ways(fn, make_problem(5, dtype=torch.float32), make_problem(6, dtype=torch.float32))


def test_ddpg_clear_errors():
    params, target, batch = make_problem(7)
    call = functools.partial(ddpg_loss, actor_apply, q_apply, gamma=0.9)
    with pytest.raises(KeyError, match=r"ddpg_loss: batch TensorDict has no key \('next', 'terminated'\)"):
        call(params, target, batch.exclude(("next", "terminated")))
    with pytest.raises(KeyError, match=r"ddpg_loss: params TensorDict has no key 'qvalue'"):
        call(params.exclude("qvalue"), target, batch)
    with pytest.raises(ValueError, match=r"ddpg_loss: \('next', 'reward'\) has shape \[8\], expected \[8, 1\]"):
        call(params, target, batch.clone().set(("next", "reward"), batch["next", "reward"].squeeze(-1)))
    with pytest.raises(ValueError, match=r"ddpg_loss: weight has shape \[4\], expected \[8\]"):
        call(params, target, batch, weight=torch.ones(4, dtype=torch.float64))
    bad_q = lambda p, td: td.copy().set("state_action_value", q_apply(p, td)["state_action_value"].squeeze(-1))  # noqa: E731
    with pytest.raises(ValueError, match=r"ddpg_loss: state_action_value has shape \[8\], expected \[8, 1\]"):
        ddpg_loss(actor_apply, bad_q, params, target, batch, gamma=0.9)


# --- TD3 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_q", [2, 3])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "is_weights"])
def test_td3_matches_per_sample_loop(num_q, weighted):
    params, target, batch = make_problem(10, num_q=num_q)
    weight = torch.rand(8, dtype=torch.float64) if weighted else None
    key = frl.random.key(3)
    terms, td_error = td3_loss(actor_apply, q_apply, params, target, batch, key, num_qvalue_nets=num_q,
                               weight=weight, **TD3_KW)
    noise = smoothing_noise(key, 8, TD3_KW["policy_noise"])
    ref_actor, ref_q, ref_err = td3_reference(params, target, batch, noise, 0.9, 0.4, LOW, HIGH, weight)
    assert terms["loss_actor"].item() == pytest.approx(ref_actor.item(), rel=1e-12)
    assert terms["loss_qvalue"].item() == pytest.approx(ref_q.item(), rel=1e-12)
    torch.testing.assert_close(td_error, torch.tensor(ref_err, dtype=torch.float64))


def test_td3_hand_computed_clipped_double_q_and_bounds():
    # 1-d; mu(s) = s; Q_1(s, a) = s + a, Q_2(s, a) = 2 s + a. noise_clip=0: no smoothing noise.
    lin_actor = lambda p, td: td.copy().set("action", td["observation"] * p["k"])  # noqa: E731
    lin_q = lambda p, td: td.copy().set("state_action_value", td["observation"] * p["ks"] + td["action"])  # noqa: E731
    params = TensorDict(actor=TensorDict(k=torch.tensor(1.0)),
                        qvalue=TensorDict(ks=torch.tensor([1.0, 2.0]), batch_size=[2]))
    batch = TensorDict({"observation": torch.tensor([[1.0]]), "action": torch.tensor([[0.0]]),
                        "next": {"observation": torch.tensor([[-1.0]]), "reward": torch.tensor([[0.5]]),
                                 "terminated": torch.tensor([[False]])}}, batch_size=[1])
    kw = dict(gamma=0.5, noise_clip=0.0, action_low=-0.25, action_high=0.25)
    terms, td_error = td3_loss(lin_actor, lin_q, params, params.clone(), batch, frl.random.key(0), **kw)
    # s' = -1: mu = -1, clamped to -0.25; Q_1 = -1.25, Q_2 = -2.25; min = -2.25; y = 0.5 - 1.125 = -0.625
    assert terms["next_state_value"].item() == pytest.approx(-2.25)
    assert terms["target_value"].item() == pytest.approx(-0.625)
    # Q_1(1, 0) = 1, Q_2(1, 0) = 2: loss = (1.625^2 + 2.625^2), |TD error| max = 2.625
    assert terms["loss_qvalue"].item() == pytest.approx(1.625 ** 2 + 2.625 ** 2)
    assert td_error.item() == pytest.approx(2.625)
    # actor: the first critic only: Q_1(1, mu(1) = 1) = 2
    assert terms["loss_actor"].item() == pytest.approx(-2.0)
    g = torch.func.grad(lambda p: td3_loss(lin_actor, lin_q, p, params, batch, frl.random.key(0), **kw)[0]["loss_actor"])(params)
    assert g["actor", "k"].item() == pytest.approx(-1.0) and (g["qvalue", "ks"] == 0).all()


def test_td3_noise_is_clipped_and_the_action_clamped():
    params, target, batch = make_problem(11, n=64, num_q=2)
    # Enormous noise clipped to +-0.1: every smoothed action is mu_target(s') +- 0.1 (then clamped).
    kw = dict(gamma=0.9, policy_noise=1e3, noise_clip=0.1, action_low=LOW, action_high=HIGH)
    terms, _ = td3_loss(actor_apply, q_apply, params, target, batch, frl.random.key(5), **kw)
    seen = set()
    targets = []
    for i in range(64):
        s2 = batch["next", "observation"][i]
        base = mu(target["actor"], s2)
        candidates = {}
        for signs in [(a, b) for a in (-1, 1) for b in (-1, 1)]:
            a2 = (base + 0.1 * torch.tensor(signs, dtype=base.dtype)).clamp(LOW, HIGH)
            candidates[signs] = min(q_one(target["qvalue"][j], s2, a2).item() for j in range(2))
        targets.append(candidates)
    # Recover each sample's next value from the loss's diagnostics per sample: run one sample at a time.
    for i in range(64):
        one = batch[i:i + 1]
        t, _ = td3_loss(actor_apply, q_apply, params, target, one, frl.random.fold_in(frl.random.key(5), i), **kw)
        v = t["next_state_value"].item()
        match = [s for s, c in targets[i].items() if c == pytest.approx(v, rel=1e-12, abs=1e-12)]
        assert match, (i, v, targets[i])
        seen.update(match)
    assert len(seen) >= 3  # the clipped noise takes both signs in each dimension
    # The bounds bind: with mu_target far outside them, the smoothed action sits on the bound.
    far = target.clone()
    far["actor", "b"] = torch.full((ACT,), 50.0, dtype=torch.float64)  # 2 tanh(...) -> 2 > HIGH
    t, _ = td3_loss(actor_apply, q_apply, params, far, batch[:1], frl.random.key(0), **kw)
    s2 = batch["next", "observation"][0]
    at_bound = min(q_one(target["qvalue"][j], s2, torch.full((ACT,), HIGH, dtype=torch.float64)).item() for j in range(2))
    assert t["next_state_value"].item() == pytest.approx(at_bound, rel=1e-12)


def test_td3_noise_comes_from_the_key():
    params, target, batch = make_problem(12, num_q=2)
    run = lambda k: td3_loss(actor_apply, q_apply, params, target, batch, k, **TD3_KW)  # noqa: E731
    a, b, c = run(frl.random.key(1)), run(frl.random.key(1)), run(frl.random.key(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a[0]["loss_qvalue"].item() != c[0]["loss_qvalue"].item()
    assert a[0]["loss_actor"].item() == c[0]["loss_actor"].item()  # the actor's loss has no noise
    with pytest.raises(TypeError, match=r"td3_loss: key must be an int64 tensor of shape \[2\]"):
        td3_loss(actor_apply, q_apply, params, target, batch, 1, **TD3_KW)


def test_td3_gradient_routing_and_values():
    params, target, batch = make_problem(13, num_q=2)
    key = frl.random.key(4)
    loss = lambda p: td3_loss(actor_apply, q_apply, p, target, batch, key, **TD3_KW)  # noqa: E731
    g_actor, g_q = _grads(loss, "loss_actor", params), _grads(loss, "loss_qvalue", params)
    assert _all_zero(g_actor["qvalue"]) and _all_zero(g_q["actor"])
    assert not _all_zero(g_q["qvalue"][1])  # the second critic learns too, from the value loss only
    assert _all_zero(torch.func.grad(lambda t: sum(td3_loss(actor_apply, q_apply, params, t, batch, key, **TD3_KW)[0][k]
                                                   for k in ("loss_actor", "loss_qvalue")))(target))
    noise = smoothing_noise(key, 8, TD3_KW["policy_noise"])
    ref = lambda p: td3_reference(p, target, batch, noise, 0.9, 0.4, LOW, HIGH)  # noqa: E731
    for k, g in _reference_grads(lambda p: ref(p)[0], params, "actor").items():
        torch.testing.assert_close(g_actor["actor", k], g)
    for k, g in _reference_grads(lambda p: ref(p)[1], params, "qvalue").items():
        torch.testing.assert_close(g_q["qvalue", k], g)


def test_td3_terminated_vs_truncated():
    params, target, batch = make_problem(14, num_q=2)
    key = frl.random.key(0)
    for flag in ("terminated", "truncated"):
        batch["next", flag] = torch.zeros(8, 1, dtype=torch.bool)
    base = td3_loss(actor_apply, q_apply, params, target, batch, key, **TD3_KW)[0]
    trunc = batch.clone().set(("next", "truncated"), torch.ones(8, 1, dtype=torch.bool))
    assert torch.equal(td3_loss(actor_apply, q_apply, params, target, trunc, key, **TD3_KW)[0]["target_value"],
                       base["target_value"])
    term = batch.clone().set(("next", "terminated"), torch.ones(8, 1, dtype=torch.bool))
    t = td3_loss(actor_apply, q_apply, params, target, term, key, **TD3_KW)[0]
    assert t["target_value"].item() == pytest.approx(batch["next", "reward"].mean().item())


def test_td3_critics_are_one_vmapped_call():
    params, target, batch = make_problem(15, num_q=4)
    calls = []

    def counting_q(p, td):
        calls.append(1)
        return q_apply(p, td)

    td3_loss(actor_apply, counting_q, params, target, batch, frl.random.key(0), num_qvalue_nets=4, **TD3_KW)
    assert len(calls) == 3  # target ensemble, online ensemble, first critic for the actor: not 2 * 4 + 1


def test_td3_with_frl_modules_and_action_spec():
    env = frl.envs.make("Pendulum-v1")
    pi = frl.nn.deterministic_actor(frl.nn.mlp(3, 1), action_low=-2.0, action_high=2.0)
    q = frl.nn.q_value_operator(frl.nn.mlp(3 + 1, 1))
    k = frl.random.split(frl.random.key(0), 3)
    params = TensorDict(actor=pi.init(k[0]), qvalue=torch.vmap(q.init)(frl.random.split(k[1], 2)))
    td = env.reset(k[2], (8,))
    td = env.step(td.set("action", env.action_spec.sample(k[2], (8,))))
    spec_kw = dict(gamma=0.99, action_spec=env.action_spec)
    bound_kw = dict(gamma=0.99, action_low=-2.0, action_high=2.0)
    a = td3_loss(pi.apply, q.apply, params, params.clone(), td, k[0], **spec_kw)
    b = td3_loss(pi.apply, q.apply, params, params.clone(), td, k[0], **bound_kw)
    torch.testing.assert_close(a, b)


def test_td3_pure_and_three_ways(assert_pure, three_ways):
    def problem(seed):
        return (*make_problem(seed, num_q=2, dtype=torch.float32), frl.random.key(seed))

    assert_pure(td3_loss, actor_apply, q_apply, *problem(16), weight=torch.rand(8), **TD3_KW)
    three_ways(functools.partial(td3_loss, actor_apply, q_apply, **TD3_KW), problem(17), problem(18))


def test_td3_tensor_bounds_per_dimension(three_ways):
    params, target, batch = make_problem(25, num_q=2)
    lo, hi = torch.tensor([-1.0, -0.2]), torch.tensor([1.0, 0.2])
    kw = dict(gamma=0.9, policy_noise=1e3, noise_clip=5.0)  # the noise pushes every action onto a bound
    terms, _ = td3_loss(actor_apply, q_apply, params, target, batch[:1], frl.random.key(0), action_low=lo,
                        action_high=hi, **kw)
    s2 = batch["next", "observation"][0]
    sign = torch.sign(frl.random.normal(frl.random.key(0), (1, ACT), torch.float64))[0]
    a2 = torch.where(sign > 0, hi, lo).double()
    expected = min(q_one(target["qvalue"][j], s2, a2).item() for j in range(2))
    assert terms["next_state_value"].item() == pytest.approx(expected, rel=1e-12)

    def problem(seed):
        return (*make_problem(seed, num_q=2, dtype=torch.float32), frl.random.key(seed))

    three_ways(functools.partial(td3_loss, actor_apply, q_apply, gamma=0.9, action_low=lo, action_high=hi),
               problem(26), problem(27))


def test_td3_clear_errors():
    params, target, batch = make_problem(19, num_q=2)
    key = frl.random.key(0)
    call = functools.partial(td3_loss, actor_apply, q_apply)
    # One check for every Q-ensemble loss (frl.objectives._common.check_q_ensemble): it names a leaf and the
    # TensorDict's batch_size.
    with pytest.raises(ValueError, match=r"td3_loss: params\['qvalue'\] has a leaf of shape \[2, 5, 5\], expected a "
                                         r"leading dimension of num_qvalue_nets=3 \(its batch_size is \[2\]"):
        call(params, target, batch, key, num_qvalue_nets=3, **TD3_KW)
    unstacked = params.clone().set("qvalue", params["qvalue"][0])
    with pytest.raises(ValueError, match=r"td3_loss: params\['qvalue'\] has a leaf of shape \[5, 5\], expected a "
                                         r"leading dimension of num_qvalue_nets=2 \(its batch_size is \[\]"):
        call(unstacked, target, batch, key, **TD3_KW)
    with pytest.raises(ValueError, match="td3_loss: the target action is clamped to the action bounds"):
        call(params, target, batch, key, gamma=0.9)
    with pytest.raises(ValueError, match="td3_loss: give action_spec or action_low / action_high, not both"):
        call(params, target, batch, key, action_spec=frl.envs.make("Pendulum-v1").action_spec, **TD3_KW)
    with pytest.raises(ValueError, match="td3_loss: action_high must be at least action_low; got 1.0 and -1.0"):
        call(params, target, batch, key, gamma=0.9, action_low=1.0, action_high=-1.0)
    with pytest.raises(KeyError, match=r"td3_loss: batch TensorDict has no key 'action'"):
        call(params, target, batch.exclude("action"), key, **TD3_KW)
    with pytest.raises(ValueError, match=r"td3_loss: \('next', 'terminated'\) has shape \[8, 2\], expected \[8, 1\]"):
        call(params, target, batch.clone().set(("next", "terminated"), torch.zeros(8, 2, dtype=torch.bool)), key,
             **TD3_KW)


# --- TD3+BC ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "is_weights"])
def test_td3_bc_matches_per_sample_loop(weighted):
    params, target, batch = make_problem(20, num_q=2)
    weight = torch.rand(8, dtype=torch.float64) if weighted else None
    key = frl.random.key(6)
    terms, td_error = td3_bc_loss(actor_apply, q_apply, params, target, batch, key, alpha=2.5, weight=weight,
                                  **TD3_KW)
    noise = smoothing_noise(key, 8, TD3_KW["policy_noise"])
    ref_actor, ref_q, ref_err = td3_reference(params, target, batch, noise, 0.9, 0.4, LOW, HIGH, weight, alpha=2.5)
    assert terms["loss_actor"].item() == pytest.approx(ref_actor.item(), rel=1e-12)
    assert terms["loss_qvalue"].item() == pytest.approx(ref_q.item(), rel=1e-12)
    torch.testing.assert_close(td_error, torch.tensor(ref_err, dtype=torch.float64))
    # The critic's half is TD3's, exactly.
    t3 = td3_loss(actor_apply, q_apply, params, target, batch, key, weight=weight, **TD3_KW)[0]
    assert torch.equal(terms["loss_qvalue"], t3["loss_qvalue"])


def test_td3_bc_hand_computed():
    # 1-d; mu(s) = k s with k = 1; Q_1(s, a) = s + a; data action 0 at s = 1 and s = -3.
    lin_actor = lambda p, td: td.copy().set("action", td["observation"] * p["k"])  # noqa: E731
    lin_q = lambda p, td: td.copy().set("state_action_value", td["observation"] * p["ks"] + td["action"])  # noqa: E731
    params = TensorDict(actor=TensorDict(k=torch.tensor(1.0)),
                        qvalue=TensorDict(ks=torch.tensor([1.0, 2.0]), batch_size=[2]))
    batch = TensorDict({"observation": torch.tensor([[1.0], [-3.0]]), "action": torch.tensor([[0.0], [0.0]]),
                        "next": {"observation": torch.zeros(2, 1), "reward": torch.zeros(2, 1),
                                 "terminated": torch.ones(2, 1, dtype=torch.bool)}}, batch_size=[2])
    kw = dict(gamma=0.5, noise_clip=0.0, action_low=-1.0, action_high=1.0, alpha=2.0)
    loss = lambda p: td3_bc_loss(lin_actor, lin_q, p, params, batch, frl.random.key(0), **kw)  # noqa: E731
    terms, _ = loss(params)
    # Q_1(s, mu(s)) = 2 s: [2, -6]; mean |Q| = 4; lambda = 2 / 4 = 0.5; bc = mean(s^2) = (1 + 9) / 2 = 5
    assert terms["lmbd"].item() == pytest.approx(0.5)
    assert terms["bc_loss"].item() == pytest.approx(5.0)
    assert terms["loss_actor"].item() == pytest.approx(-0.5 * (2 - 6) / 2 + 5.0)
    # d/dk with lambda held constant: -0.5 * mean(s) + mean(2 k s^2) = -0.5 * (-1) + 10 = 10.5
    g = torch.func.grad(lambda p: loss(p)[0]["loss_actor"])(params)
    assert g["actor", "k"].item() == pytest.approx(10.5)
    assert (g["qvalue", "ks"] == 0).all()


def test_td3_bc_pure_three_ways_and_errors(assert_pure, three_ways):
    def problem(seed):
        return (*make_problem(seed, num_q=2, dtype=torch.float32), frl.random.key(seed))

    assert_pure(td3_bc_loss, actor_apply, q_apply, *problem(21), **TD3_KW)
    three_ways(functools.partial(td3_bc_loss, actor_apply, q_apply, **TD3_KW), problem(22), problem(23))
    params, target, batch, key = problem(24)
    with pytest.raises(ValueError, match=r"td3_bc_loss: action has shape \[8, 3\], expected \[8, 2\]"):
        td3_bc_loss(actor_apply, q_apply, params, target, batch.clone().set("action", torch.zeros(8, 3)), key,
                    **TD3_KW)


@pytest.mark.parametrize("module", ["frl.objectives.ddpg", "frl.objectives.td3"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, extraglobs={"torch": torch, "frl": frl, "TensorDict": TensorDict,
                                              "ddpg_loss": ddpg_loss, "td3_loss": td3_loss, "td3_bc_loss": td3_bc_loss},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
