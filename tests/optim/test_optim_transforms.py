"""frl.optim: ensembles under vmap, the three ways to run, purity, errors, and schedule values."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tensordict import TensorDict

import frl
from frl import optim


def small_params(seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return TensorDict({"w": torch.randn(4, 3, generator=g, dtype=dtype),
                       "head": {"w": torch.randn(2, 4, generator=g, dtype=dtype),
                                "b": torch.randn(2, generator=g, dtype=dtype)}})


def loss(p, x):
    return (torch.tanh(x @ p["w"].T) @ p["head", "w"].T + p["head", "b"]).pow(2).mean()


def batch(seed):
    return torch.randn(8, 3, generator=torch.Generator().manual_seed(100 + seed))


OPTIMIZERS = {
    "adam_l2_cosine": lambda: optim.adam(optim.cosine_decay_schedule(1e-2, 10), weight_decay=0.1),
    "adamw_amsgrad": lambda: optim.adamw(1e-2, amsgrad=True),
    "clip_adam": lambda: optim.chain(optim.clip_by_global_norm(0.5), optim.adam(1e-2)),
    "sgd_nesterov_wd": lambda: optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd_dampening_warmup": lambda: optim.sgd(optim.warmup_cosine_decay_schedule(0.0, 0.1, 2, 10), momentum=0.9,
                                              dampening=0.5),
    "sgd": lambda: optim.sgd(0.1),
}


def train(opt, params, x, steps):
    state = opt.init(params)
    for _ in range(steps):
        updates, state = opt.update(torch.func.grad(loss)(params, x), state, params)
        params = optim.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_vmapped_ensemble_equals_separate_runs(name):
    opt = OPTIMIZERS[name]()
    members = [small_params(i) for i in range(3)]
    xs = torch.stack([batch(i) for i in range(3)])
    params = frl.tree.stack(members)
    state = torch.vmap(opt.init)(params)
    update = torch.vmap(opt.update)
    for _ in range(6):
        grads = torch.vmap(torch.func.grad(loss))(params, xs)
        updates, state = update(grads, state, params)
        params = torch.vmap(optim.apply_updates)(params, updates)
    for i, member in enumerate(members):
        p_i, s_i = train(opt, member, xs[i], 6)
        assert frl.tree.tree_allclose(frl.tree.index(params, i), p_i, rtol=1e-5, atol=1e-6)
        assert frl.tree.tree_allclose(frl.tree.index(state, i), s_i, rtol=1e-5, atol=1e-6)


def _update_args(opt, seed, steps):
    """(grads, state, params) after ``steps`` updates: same shapes, different values and counts."""
    params, state = train(opt, small_params(seed), batch(seed), steps)
    return torch.func.grad(loss)(params, batch(seed + 1)), state, params


@pytest.mark.parametrize("name", ["adam_l2_cosine", "clip_adam", "sgd_dampening_warmup"])
def test_update_three_ways(three_ways, name):
    opt = OPTIMIZERS[name]()
    # Counts 0, 1 and 3: the compiled update must not recompile as the step count moves on.
    three_ways(opt.update, _update_args(opt, 0, 0), _update_args(opt, 1, 1), _update_args(opt, 2, 3))


def test_init_and_apply_updates_three_ways(three_ways):
    opt = optim.adamw(1e-3, amsgrad=True)
    three_ways(opt.init, (small_params(0),), (small_params(1),))
    three_ways(optim.apply_updates, (small_params(0), small_params(1)), (small_params(2), small_params(3)))


def test_compiled_train_step_matches_eager_without_recompiles():
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adamw(optim.linear_schedule(1e-2, 1e-3, 3)))

    def train_step(params, state, x):
        updates, state = opt.update(torch.func.grad(loss)(params, x), state, params)
        return optim.apply_updates(params, updates), state

    params = small_params(0)
    state = opt.init(params)
    p_c, s_c = params, state
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = torch.compile(train_step, fullgraph=True)
        for step in range(4):
            params, state = train_step(params, state, batch(step))
            p_c, s_c = compiled(p_c, s_c, batch(step))
            assert frl.tree.tree_allclose(p_c, params, rtol=1e-5, atol=1e-6), step
            assert frl.tree.tree_allclose(s_c, state, rtol=1e-5, atol=1e-6), step
    assert isinstance(p_c, TensorDict) and s_c[1][0].count.item() == 4


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_update_is_pure(assert_pure, name):
    opt = OPTIMIZERS[name]()
    grads, state, params = _update_args(opt, 0, 2)
    updates, new_state = assert_pure(opt.update, grads, state, params)
    assert_pure(optim.apply_updates, params, updates)
    assert_pure(opt.init, params)


def test_state_shapes_dtypes_and_count():
    params = small_params(0, torch.float64)
    opt = optim.adam(1e-3)
    state = opt.init(params)
    adam_state = state[0]
    assert isinstance(adam_state, optim.ScaleByAdamState)
    assert adam_state.count.dtype == torch.int32 and adam_state.count.shape == ()
    for tree in (adam_state.mu, adam_state.nu):
        assert isinstance(tree, TensorDict)
        assert frl.tree.tree_allclose(tree, params.apply(torch.zeros_like), rtol=0, atol=0)
        assert all(x.dtype == torch.float64 for x in frl.tree.tree_leaves(tree))
    _, state = train(opt, params, batch(0).double(), 3)
    assert state[0].count.item() == 3


def test_works_on_plain_dicts_like_on_tensordicts():
    td = small_params(0)
    as_dict = {"w": td["w"], "head": {"w": td["head", "w"], "b": td["head", "b"]}}
    grads = torch.func.grad(loss)(td, batch(0))
    grads_dict = {"w": grads["w"], "head": {"w": grads["head", "w"], "b": grads["head", "b"]}}
    opt = optim.adamw(1e-2)
    u_td, _ = opt.update(grads, opt.init(td), td)
    u_dict, _ = opt.update(grads_dict, opt.init(as_dict), as_dict)
    assert isinstance(u_dict, dict)
    torch.testing.assert_close(u_dict["head"]["b"], u_td["head", "b"], rtol=0, atol=0)
    torch.testing.assert_close(u_dict["w"], u_td["w"], rtol=0, atol=0)


def test_keys_in_another_order_pair_by_key():
    params = small_params(0)
    grads = torch.func.grad(loss)(params, batch(0))
    reordered = TensorDict({"head": {"b": grads["head", "b"], "w": grads["head", "w"]}, "w": grads["w"]})
    opt = optim.adam(1e-2)
    u1, s1 = opt.update(grads, opt.init(params), params)
    u2, s2 = opt.update(reordered, opt.init(params), params)
    assert frl.tree.tree_allclose(u1, u2, rtol=0, atol=0) and frl.tree.tree_allclose(s1, s2, rtol=0, atol=0)


# --- errors ---------------------------------------------------------------------------------------

def _grads():
    params = small_params(0)
    return params, torch.func.grad(loss)(params, batch(0))


def test_missing_key_names_optimizer_and_key():
    params, grads = _grads()
    del grads["head", "b"]
    for make, name in [(lambda: optim.adam(1e-3), "adam"), (lambda: optim.sgd(0.1, momentum=0.9), "sgd"),
                       (lambda: optim.adamw(1e-3), "adamw"), (lambda: optim.scale_by_adam(), "scale_by_adam"),
                       (lambda: optim.trace(0.9), "trace")]:
        opt = make()
        with pytest.raises(KeyError, match=rf"frl\.optim\.{name}\.update: updates have no key \('head', 'b'\)"):
            opt.update(grads, opt.init(params), params)


def test_extra_key_and_wrong_shape_are_named():
    params, grads = _grads()
    opt = optim.adam(1e-3)
    extra = grads.clone()
    extra["bias"] = torch.zeros(3)
    with pytest.raises(KeyError, match=r"frl\.optim\.adam\.update: updates have a key 'bias' that the optimizer"):
        opt.update(extra, opt.init(params), params)
    bad = grads.clone()
    bad["head", "w"] = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"frl\.optim\.adam\.update: updates key \('head', 'w'\) has shape "
                                         r"\[3, 4\], expected \[2, 4\]"):
        opt.update(bad, opt.init(params), params)
    with pytest.raises(KeyError, match=r"frl\.optim\.apply_updates: updates have no key 'w'"):
        optim.apply_updates(params, grads.exclude("w"))


def test_bad_settings_and_missing_params():
    params, grads = _grads()
    with pytest.raises(ValueError, match=r"frl\.optim\.adamw\.update: params are needed"):
        opt = optim.adamw(1e-3)
        opt.update(grads, opt.init(params))
    with pytest.raises(ValueError, match=r"frl\.optim\.adam: b1=1\.0 is outside \[0\.0, 1\.0\)"):
        optim.adam(1e-3, b1=1.0)
    with pytest.raises(ValueError, match=r"frl\.optim\.sgd: nesterov momentum needs momentum > 0"):
        optim.sgd(0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"frl\.optim\.adam: learning rate must be a float >= 0"):
        optim.adam(-1.0)
    with pytest.raises(ValueError, match=r"frl\.optim\.clip_by_global_norm: max_norm=0\.0 must be > 0"):
        optim.clip_by_global_norm(0.0)
    with pytest.raises(ValueError, match=r"frl\.optim\.chain\.update: state holds 1 states, expected 2"):
        opt = optim.adam(1e-3)
        opt.update(grads, opt.init(params)[:1], params)


# --- schedules ------------------------------------------------------------------------------------

def _at(schedule, step):
    return schedule(torch.tensor(step, dtype=torch.int32)).item()


@given(st.integers(0, 3000), st.floats(-1, 1), st.floats(-1, 1), st.integers(0, 500), st.integers(0, 500))
def test_linear_schedule_values(step, init, end, steps, begin):
    expected = init if steps == 0 else init + (end - init) * min(max(step - begin, 0) / steps, 1.0)
    assert math.isclose(_at(optim.linear_schedule(init, end, steps, begin), step), expected, rel_tol=1e-5,
                        abs_tol=1e-6)


@given(st.integers(0, 3000), st.integers(1, 1000), st.floats(0, 1))
def test_cosine_schedules_values(step, decay_steps, alpha):
    t = min(step, decay_steps) / decay_steps
    expected = 2.0 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * t)) + alpha)
    assert math.isclose(_at(optim.cosine_decay_schedule(2.0, decay_steps, alpha), step), expected,
                        rel_tol=1e-5, abs_tol=1e-6)
    warmup = decay_steps // 3
    sched = optim.warmup_cosine_decay_schedule(0.1, 1.0, warmup, decay_steps + 1, end_value=0.05)
    if step < warmup:
        expected = 0.1 + 0.9 * step / warmup
    else:
        t = min(step - warmup, decay_steps + 1 - warmup) / (decay_steps + 1 - warmup)
        expected = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))
    assert math.isclose(_at(sched, step), expected, rel_tol=1e-5, abs_tol=1e-6)


def test_constant_schedule_and_schedules_compile_without_recompiles():
    assert _at(optim.constant_schedule(0.25), 7) == 0.25
    sched = optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, 20)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = torch.compile(sched, fullgraph=True)
        for step in (0, 3, 5, 12, 40):
            count = torch.tensor(step, dtype=torch.int32)
            torch.testing.assert_close(compiled(count), sched(count))
