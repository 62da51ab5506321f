"""SAC losses against float64 per-sample loops and hand-computed values; gradient routing; three ways."""

import doctest
import functools
import math

import pytest
import torch
import torch.nn.functional as F
from tensordict import TensorDict

import frl
import frl.objectives.sac as sac_module
from frl.objectives.sac import discrete_sac_loss, sac_loss

OBS, ACT, N_ACTIONS, ENSEMBLE = 3, 2, 3, 2


# --- a tiny linear tanh-Gaussian actor and a linear Q-ensemble --------------------------------------

def actor_dist(p, td):
    x = td["observation"]
    return frl.nn.TanhNormal(x @ p["w_loc"], F.softplus(x @ p["w_scale"]) + 0.1, -2.0, 2.0)


def q_apply(p, td):
    x = torch.cat([td["observation"], td["action"]], -1)
    return td.empty().set("state_action_value", x @ p["w"] + p["b"])


def make_problem(seed, n=8, dtype=torch.float64, learn_alpha=True):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(shape, generator=g, dtype=dtype) * scale

    def q_params():
        return TensorDict(w=randn(ENSEMBLE, OBS + ACT, 1), b=randn(ENSEMBLE, 1), batch_size=[ENSEMBLE])

    params = TensorDict(actor=TensorDict(w_loc=randn(OBS, ACT, scale=0.5), w_scale=randn(OBS, ACT, scale=0.5)),
                        qvalue=q_params())
    if learn_alpha:
        params["log_alpha"] = randn(scale=0.5)
    terminated = torch.rand(n, 1, generator=g) < 0.3
    truncated = (torch.rand(n, 1, generator=g) < 0.3) & ~terminated
    batch = TensorDict({
        "observation": randn(n, OBS),
        "action": (torch.rand(n, ACT, generator=g, dtype=dtype) * 4 - 2),
        "next": {"observation": randn(n, OBS), "reward": randn(n, 1),
                 "terminated": terminated, "truncated": truncated, "done": terminated | truncated},
    }, batch_size=[n])
    return params, q_params(), batch, frl.random.key(seed)


def draw(actor, s, eps):
    """A tanh-Gaussian draw and its log-density, from the pre-tanh noise, by the change of variables."""
    loc, scale = s @ actor["w_loc"], F.softplus(s @ actor["w_scale"]) + 0.1
    u = loc + scale * eps
    a = 2.0 * torch.tanh(u)
    log_det = torch.log(2.0 * (1 - torch.tanh(u) ** 2))
    return a, (torch.distributions.Normal(loc, scale).log_prob(u) - log_det).sum().item()


def q_values(qp, s, a):
    return [(torch.cat([s, a]) @ qp["w"][i][:, 0] + qp["b"][i][0]).item() for i in range(ENSEMBLE)]


def reference(params, target, batch, key, gamma, alpha=None, target_entropy=-float(ACT), weight=None):
    n = batch.batch_size[0]
    k_pi, k_next = frl.random.split(key)
    eps_pi, eps_next = (frl.random.normal(k, (n, ACT), torch.float64) for k in (k_pi, k_next))
    log_alpha = params.get("log_alpha", None)
    alpha = math.exp(log_alpha.item()) if log_alpha is not None else alpha
    lq = la = lt = ent = 0.0
    errors = []
    for i in range(n):
        s, a, s2 = batch["observation"][i], batch["action"][i], batch["next", "observation"][i]
        a2, lp2 = draw(params["actor"], s2, eps_next[i])
        bootstrap = 0.0 if batch["next", "terminated"][i].item() else 1.0  # truncated still bootstraps
        y = batch["next", "reward"][i].item() + gamma * bootstrap * (min(q_values(target, s2, a2)) - alpha * lp2)
        qs = q_values(params["qvalue"], s, a)
        lq += (1.0 if weight is None else weight[i].item()) * sum((q - y) ** 2 for q in qs)
        errors.append(sum(abs(q - y) for q in qs) / len(qs))
        a1, lp1 = draw(params["actor"], s, eps_pi[i])
        la += alpha * lp1 - min(q_values(params["qvalue"], s, a1))
        if log_alpha is not None:
            lt += -log_alpha.item() * (lp1 + target_entropy)
        ent += -lp1
    return dict(loss_qvalue=lq / n, loss_actor=la / n, loss_alpha=lt / n, entropy=ent / n, alpha=alpha), errors


@pytest.mark.parametrize("learn_alpha", [True, False], ids=["learned_alpha", "fixed_alpha"])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "is_weights"])
def test_sac_loss_matches_loop(learn_alpha, weighted):
    params, target, batch, key = make_problem(0, learn_alpha=learn_alpha)
    alpha = None if learn_alpha else 0.3
    weight = torch.rand(8, dtype=torch.float64) + 0.5 if weighted else None
    terms, td_error = sac_loss(actor_dist, q_apply, params, target, batch, key, gamma=0.9, alpha=alpha, weight=weight)
    ref, errors = reference(params, target, batch, key, 0.9, alpha=alpha, weight=weight)
    for name, value in ref.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-10, abs=1e-12), name
    torch.testing.assert_close(td_error, torch.tensor(errors, dtype=torch.float64))
    assert terms["td_error"].item() == pytest.approx(sum(errors) / 8)


def test_sac_target_entropy_number_and_auto():
    params, target, batch, key = make_problem(1)
    auto, _ = sac_loss(actor_dist, q_apply, params, target, batch, key, gamma=0.9)
    fixed, _ = sac_loss(actor_dist, q_apply, params, target, batch, key, gamma=0.9, target_entropy=0.5)
    # "auto" = -prod(action shape) = -2; loss_alpha = -log_alpha * (mean log pi + H): linear in H.
    log_alpha = params["log_alpha"].item()
    assert auto["loss_alpha"].item() == pytest.approx(-log_alpha * (-auto["entropy"].item() - 2.0), rel=1e-10)
    assert fixed["loss_alpha"].item() - auto["loss_alpha"].item() == pytest.approx(-log_alpha * 2.5, rel=1e-10)


def hand_problem(terminated, truncated):
    """Q-networks that ignore their inputs: Q_1 = 1, Q_2 = 2, target Q'_1 = 3, Q'_2 = 0.5."""
    params = TensorDict(actor=TensorDict(w_loc=torch.zeros(OBS, ACT, dtype=torch.float64),
                                         w_scale=torch.zeros(OBS, ACT, dtype=torch.float64)),
                        qvalue=TensorDict(w=torch.zeros(2, OBS + ACT, 1, dtype=torch.float64),
                                          b=torch.tensor([[1.0], [2.0]], dtype=torch.float64)))
    target = TensorDict(w=torch.zeros(2, OBS + ACT, 1, dtype=torch.float64),
                        b=torch.tensor([[3.0], [0.5]], dtype=torch.float64))
    flag = lambda v: torch.tensor([[v]])  # noqa: E731
    batch = TensorDict({"observation": torch.zeros(1, OBS, dtype=torch.float64),
                        "action": torch.zeros(1, ACT, dtype=torch.float64),
                        "next": {"observation": torch.zeros(1, OBS, dtype=torch.float64),
                                 "reward": torch.ones(1, 1, dtype=torch.float64),
                                 "terminated": flag(terminated), "truncated": flag(truncated)}}, batch_size=[1])
    return params, target, batch


@pytest.mark.parametrize("terminated,truncated,y", [(False, False, 1.25), (False, True, 1.25), (True, False, 1.0)],
                         ids=["running", "truncated_bootstraps", "terminated_stops"])
def test_sac_hand_values(terminated, truncated, y):
    # alpha = 0: y = r + gamma * (1 - terminated) * min(3, 0.5) = 1 + 0.5 * 0.5 = 1.25, or 1 if terminated.
    params, target, batch = hand_problem(terminated, truncated)
    terms, td_error = sac_loss(actor_dist, q_apply, params, target, batch, frl.random.key(0), gamma=0.5, alpha=0.0)
    assert terms["loss_qvalue"].item() == pytest.approx((1 - y) ** 2 + (2 - y) ** 2)
    assert td_error.item() == pytest.approx((abs(1 - y) + abs(2 - y)) / 2)
    assert terms["loss_actor"].item() == pytest.approx(-1.0)  # alpha * log pi - min(1, 2)
    assert terms["loss_alpha"].item() == 0.0  # fixed temperature
    assert terms["q_value"].item() == pytest.approx(1.5)


def _grads(loss_fn, name, params, target, batch, key):
    def f(p, t):
        return loss_fn(p, t, batch, key)[0][name]
    return torch.func.grad(f, argnums=(0, 1))(params, target)


def _nonzero(td):
    return any(bool((g != 0).any()) for g in td.values(True, True))


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
def test_gradients_reach_only_their_parameters(discrete):
    if discrete:
        params, target, batch = make_discrete_problem(2)
        fn, key = functools.partial(discrete_sac_loss, cat_actor_dist, cat_q_apply, gamma=0.9), None

        def loss_fn(p, t, b, k):
            return fn(p, t, b)
    else:
        params, target, batch, key = make_problem(2)
        loss_fn = functools.partial(sac_loss, actor_dist, q_apply, gamma=0.9)
    expected = {"loss_actor": {"actor"}, "loss_qvalue": {"qvalue"}, "loss_alpha": {"log_alpha"}}
    for name, reached in expected.items():
        g_params, g_target = _grads(loss_fn, name, params, target, batch, key)
        for part in ("actor", "qvalue", "log_alpha"):
            g = g_params[part]
            moved = _nonzero(g) if isinstance(g, TensorDict) else bool(g != 0)
            assert moved == (part in reached), f"{name} -> {part}: gradient {'non' if moved else ''}zero"
        assert not _nonzero(g_target), f"{name} reaches the target Q-parameters"


def test_weight_ones_is_unweighted_and_scales_only_the_q_loss():
    params, target, batch, key = make_problem(3)
    fn = functools.partial(sac_loss, actor_dist, q_apply, params, target, batch, key, gamma=0.9)
    plain, err = fn()
    ones, err1 = fn(weight=torch.ones(8, dtype=torch.float64))
    twice, err2 = fn(weight=torch.full((8,), 2.0, dtype=torch.float64))
    assert ones["loss_qvalue"].item() == pytest.approx(plain["loss_qvalue"].item(), rel=1e-14)
    assert twice["loss_qvalue"].item() == pytest.approx(2 * plain["loss_qvalue"].item(), rel=1e-14)
    assert twice["loss_actor"].item() == plain["loss_actor"].item()
    torch.testing.assert_close(err2, err)


def test_same_key_same_loss_other_key_other_loss():
    params, target, batch, key = make_problem(4)
    fn = functools.partial(sac_loss, actor_dist, q_apply, params, target, batch, gamma=0.9)
    a, b, c = fn(key)[0], fn(key)[0], fn(frl.random.key(99))[0]
    assert a["loss_actor"].item() == b["loss_actor"].item()
    assert a["loss_actor"].item() != c["loss_actor"].item()


def test_sac_pure_and_three_ways(assert_pure, three_ways):
    params, target, batch, key = make_problem(5, dtype=torch.float32)
    assert_pure(sac_loss, actor_dist, q_apply, params, target, batch, key, gamma=0.9)
    fn = functools.partial(sac_loss, actor_dist, q_apply, gamma=0.9)
    three_ways(fn, make_problem(6, dtype=torch.float32), make_problem(7, dtype=torch.float32), rtol=1e-4, atol=1e-5)


def test_sac_with_frl_nn_modules():
    """The loss composes with frl.nn's actor and Q-operator (an ensemble stacked with frl.tree.stack)."""
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(OBS, 2 * ACT, num_cells=(8,)), action_low=-2.0, action_high=2.0)
    q = frl.nn.q_value_operator(frl.nn.mlp(OBS + ACT, 1, num_cells=(8,)))
    k_a, k_q = frl.random.split(frl.random.key(0))
    qvalue = frl.tree.stack([q.init(k) for k in frl.random.split(k_q, 3)])
    params = TensorDict(actor=actor.init(k_a), qvalue=qvalue, log_alpha=torch.zeros(()))
    _, _, batch, key = make_problem(8, dtype=torch.float32)
    terms, td_error = sac_loss(actor.get_dist, q.apply, params, qvalue, batch, key, gamma=0.99, num_qvalue_nets=3)
    assert td_error.shape == (8,) and all(torch.isfinite(v) for v in terms.values())
    grads = torch.func.grad(lambda p: sum(sac_loss(actor.get_dist, q.apply, p, qvalue, batch, key, gamma=0.99,
                                                   num_qvalue_nets=3)[0][k] for k in
                                          ("loss_actor", "loss_qvalue", "loss_alpha")))(params)
    assert _nonzero(grads["actor"]) and _nonzero(grads["qvalue"]) and bool(grads["log_alpha"] != 0)


def test_sac_errors():
    params, target, batch, key = make_problem(9)
    fn = functools.partial(sac_loss, actor_dist, q_apply)
    with pytest.raises(KeyError, match=r"sac_loss: batch TensorDict has no key \('next', 'terminated'\)"):
        fn(params, target, batch.exclude(("next", "terminated")), key, gamma=0.9)
    with pytest.raises(KeyError, match=r"sac_loss: params TensorDict has no key 'qvalue'"):
        fn(params.exclude("qvalue"), target, batch, key, gamma=0.9)
    with pytest.raises(ValueError, match="sac_loss: params has 'log_alpha' and alpha is given"):
        fn(params, target, batch, key, gamma=0.9, alpha=0.1)
    with pytest.raises(ValueError, match="sac_loss: no temperature"):
        fn(params.exclude("log_alpha"), target, batch, key, gamma=0.9)
    with pytest.raises(ValueError, match=r"sac_loss: params\['qvalue'\] has a leaf of shape \[2, 5, 1\], "
                                         r"expected a leading dimension of num_qvalue_nets=3"):
        fn(params, target, batch, key, gamma=0.9, num_qvalue_nets=3)
    with pytest.raises(ValueError, match=r"sac_loss: \('next', 'reward'\) has shape \[8\], expected \[\*B, 1\]"):
        fn(params, target, batch.clone().set(("next", "reward"), batch["next", "reward"].squeeze(-1)), key, gamma=0.9)
    with pytest.raises(TypeError, match=r"sac_loss: \('next', 'terminated'\) has dtype float32, expected one of bool"):
        fn(params, target, batch.clone().set(("next", "terminated"), batch["next", "terminated"].float()), key,
           gamma=0.9)
    with pytest.raises(ValueError, match=r"sac_loss: action has shape \[8, 3\], expected \[8, 2\]"):
        fn(params, target, batch.clone().set("action", torch.zeros(8, 3, dtype=torch.float64)), key, gamma=0.9)
    with pytest.raises(ValueError, match=r"sac_loss: weight has shape \[4\], expected \[8\]"):
        fn(params, target, batch, key, gamma=0.9, weight=torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"sac_loss: target_entropy='max', expected 'auto' or a number"):
        fn(params, target, batch, key, gamma=0.9, target_entropy="max")
    with pytest.raises(ValueError, match=r"sac_loss: params\['log_alpha'\] has shape \[1\], expected \[\]"):
        fn(params.clone().set("log_alpha", torch.zeros(1, dtype=torch.float64)), target, batch, key, gamma=0.9)


# --- discrete SAC: a linear categorical actor and a linear Q-ensemble over N_ACTIONS actions --------

def cat_actor_dist(p, td):
    return frl.nn.Categorical(td["observation"] @ p["w"])


def cat_q_apply(p, td):
    return td.empty().set("action_value", td["observation"] @ p["w"] + p["b"])


def make_discrete_problem(seed, n=8, dtype=torch.float64, learn_alpha=True, one_hot=False):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(shape, generator=g, dtype=dtype)

    def q_params():
        return TensorDict(w=randn(ENSEMBLE, OBS, N_ACTIONS), b=randn(ENSEMBLE, N_ACTIONS), batch_size=[ENSEMBLE])

    params = TensorDict(actor=TensorDict(w=randn(OBS, N_ACTIONS)), qvalue=q_params())
    if learn_alpha:
        params["log_alpha"] = randn() * 0.5
    terminated = torch.rand(n, 1, generator=g) < 0.3
    truncated = (torch.rand(n, 1, generator=g) < 0.3) & ~terminated
    action = torch.randint(0, N_ACTIONS, (n,), generator=g)
    batch = TensorDict({
        "observation": randn(n, OBS),
        "action": F.one_hot(action, N_ACTIONS).to(dtype) if one_hot else action,
        "next": {"observation": randn(n, OBS), "reward": randn(n, 1),
                 "terminated": terminated, "truncated": truncated, "done": terminated | truncated},
    }, batch_size=[n])
    return params, q_params(), batch


def discrete_reference(params, target, batch, gamma, alpha=None, target_entropy=0.98 * math.log(N_ACTIONS),
                       weight=None):
    n = batch.batch_size[0]
    log_alpha = params.get("log_alpha", None)
    alpha = math.exp(log_alpha.item()) if log_alpha is not None else alpha

    def probs(s):
        z = (s @ params["actor"]["w"]).tolist()
        m = max(z)
        e = [math.exp(v - m) for v in z]
        return [v / sum(e) for v in e]

    def qs(qp, s):
        return [(s @ qp["w"][i] + qp["b"][i]).tolist() for i in range(ENSEMBLE)]

    lq = la = lt = ent = 0.0
    errors = []
    for i in range(n):
        s, s2 = batch["observation"][i], batch["next", "observation"][i]
        act = batch["action"][i]
        a = int(act.argmax()) if act.dim() else int(act)
        p2, qt = probs(s2), qs(target, s2)
        v2 = sum(p2[j] * (min(q[j] for q in qt) - alpha * math.log(p2[j])) for j in range(N_ACTIONS))
        bootstrap = 0.0 if batch["next", "terminated"][i].item() else 1.0
        y = batch["next", "reward"][i].item() + gamma * bootstrap * v2
        q_taken = [q[a] for q in qs(params["qvalue"], s)]
        lq += (1.0 if weight is None else weight[i].item()) * sum((q - y) ** 2 for q in q_taken)
        errors.append(sum(abs(q - y) for q in q_taken) / ENSEMBLE)
        p, qo = probs(s), qs(params["qvalue"], s)
        la += sum(p[j] * (alpha * math.log(p[j]) - min(q[j] for q in qo)) for j in range(N_ACTIONS))
        neg_h = sum(pj * math.log(pj) for pj in p)
        if log_alpha is not None:
            lt += -log_alpha.item() * (neg_h + target_entropy)
        ent += -neg_h
    return dict(loss_qvalue=lq / n, loss_actor=la / n, loss_alpha=lt / n, entropy=ent / n, alpha=alpha), errors


@pytest.mark.parametrize("learn_alpha", [True, False], ids=["learned_alpha", "fixed_alpha"])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "is_weights"])
@pytest.mark.parametrize("one_hot", [False, True], ids=["index_actions", "one_hot_actions"])
def test_discrete_sac_loss_matches_loop(learn_alpha, weighted, one_hot):
    params, target, batch = make_discrete_problem(10, learn_alpha=learn_alpha, one_hot=one_hot)
    alpha = None if learn_alpha else 0.3
    weight = torch.rand(8, dtype=torch.float64) + 0.5 if weighted else None
    terms, td_error = discrete_sac_loss(cat_actor_dist, cat_q_apply, params, target, batch, gamma=0.9, alpha=alpha,
                                        weight=weight)
    ref, errors = discrete_reference(params, target, batch, 0.9, alpha=alpha, weight=weight)
    for name, value in ref.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-10, abs=1e-12), name
    torch.testing.assert_close(td_error, torch.tensor(errors, dtype=torch.float64))


@pytest.mark.parametrize("terminated,y", [(False, 0.5 + math.log(2)), (True, 0.0)], ids=["bootstraps", "terminated"])
def test_discrete_sac_hand_values(terminated, y):
    # Uniform policy over 2 actions (zero logits), alpha = 1, r = 0, gamma = 1. Target ensemble values
    # [1, 3] and [2, 0]: min = [1, 0]; V(s') = 0.5 (1 + log 2) + 0.5 (0 + log 2) = 0.5 + log 2.
    zeros = torch.zeros
    f64 = functools.partial(torch.tensor, dtype=torch.float64)
    params = TensorDict(actor=TensorDict(w=f64([[0.0, 0.0]])),
                        qvalue=TensorDict(w=f64([[[0.0, 0.0]], [[0.0, 0.0]]]), b=f64([[0.0, 1.0], [1.0, 1.0]])),
                        log_alpha=f64(0.0))
    target = TensorDict(w=f64([[[0.0, 0.0]], [[0.0, 0.0]]]), b=f64([[1.0, 3.0], [2.0, 0.0]]))
    batch = TensorDict({"observation": f64([[0.0]]), "action": torch.tensor([1]),
                        "next": {"observation": f64([[0.0]]), "reward": f64([[0.0]]),
                                 "terminated": torch.tensor([[terminated]])}}, batch_size=[1])
    terms, td_error = discrete_sac_loss(cat_actor_dist, cat_q_apply, params, target, batch, gamma=1.0)
    assert terms["loss_qvalue"].item() == pytest.approx(2 * (1 - y) ** 2)  # both members give Q(s, 1) = 1
    assert td_error.item() == pytest.approx(abs(1 - y))
    # actor: sum_a 0.5 (log 0.5 - min_i Q_i(s)[a]) with min = [0, 1]: -log 2 - 0.5
    assert terms["loss_actor"].item() == pytest.approx(-math.log(2) - 0.5)
    assert terms["entropy"].item() == pytest.approx(math.log(2))
    assert terms["loss_alpha"].item() == 0.0  # log_alpha = 0


def masked_actor_dist(p, td):
    """Action 0 is never allowed: its logit is -inf, its probability exactly 0."""
    return frl.nn.Categorical((td["observation"] @ p["w"]).index_fill(-1, torch.tensor([0]), -math.inf))


def test_discrete_masked_action_stays_finite():
    params, target, batch = make_discrete_problem(11)
    params["log_alpha"] = torch.tensor(0.5, dtype=torch.float64)  # alpha > 1: alpha * log(0) must not overflow
    terms, td_error = discrete_sac_loss(masked_actor_dist, cat_q_apply, params, target, batch, gamma=0.9)
    assert all(bool(torch.isfinite(v)) for v in terms.values()) and bool(torch.isfinite(td_error).all())
    grads = torch.func.grad(lambda p: discrete_sac_loss(masked_actor_dist, cat_q_apply, p, target, batch,
                                                        gamma=0.9)[0]["loss_actor"])(params)
    assert bool(torch.isfinite(grads["actor", "w"]).all())


def test_discrete_sac_pure_and_three_ways(assert_pure, three_ways):
    params, target, batch = make_discrete_problem(12, dtype=torch.float32)
    assert_pure(discrete_sac_loss, cat_actor_dist, cat_q_apply, params, target, batch, gamma=0.9)
    fn = functools.partial(discrete_sac_loss, cat_actor_dist, cat_q_apply, gamma=0.9)
    three_ways(fn, make_discrete_problem(13, dtype=torch.float32), make_discrete_problem(14, dtype=torch.float32),
               rtol=1e-4, atol=1e-5)


def test_discrete_sac_errors():
    params, target, batch = make_discrete_problem(15)
    fn = functools.partial(discrete_sac_loss, cat_actor_dist, cat_q_apply)
    with pytest.raises(ValueError, match=r"discrete_sac_loss: action has shape \[8, 1\], expected \[8\]"):
        fn(params, target, batch.clone().set("action", batch["action"].unsqueeze(-1)), gamma=0.9)
    with pytest.raises(ValueError, match=r"discrete_sac_loss: action has shape \[8, 2\], expected \[8, 3\]"):
        fn(params, target, batch.clone().set("action", torch.zeros(8, 2, dtype=torch.float64)), gamma=0.9)
    with pytest.raises(ValueError, match=r"discrete_sac_loss: the target Q-values has shape \[2, 8, 2\], "
                                         r"expected \[2, 8, 3\]"):
        fn(params, target.apply(lambda x: x[..., :2]), batch, gamma=0.9)
    with pytest.raises(KeyError, match=r"discrete_sac_loss: batch TensorDict has no key 'action'"):
        fn(params, target, batch.exclude("action"), gamma=0.9)


def test_docstring_examples():
    result = doctest.testmod(sac_module, extraglobs={"torch": torch, "frl": frl, "TensorDict": TensorDict},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
