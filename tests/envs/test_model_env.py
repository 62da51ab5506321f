"""frl.envs.ModelEnv: the env protocol over (learned) dynamics, reward and done functions.

References: frl's own Pendulum (itself tested step for step against gymnasium) for the true-physics
model, and Python loops over ensemble members and over start states for vmap.
"""

from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import frl
from frl import envs

PEND = envs.make("Pendulum-v1")


def pendulum_model(**kwargs):
    """Pendulum-v1's own transition as a model: the state is (theta, theta_dot), observed as Pendulum does."""
    return envs.ModelEnv(lambda p, s, a: PEND._transition(s, a)[0],
                         lambda p, s, a, s2: PEND._transition(s, a)[1],
                         observation_spec=PEND.observation_spec, action_spec=PEND.action_spec,
                         observe_fn=lambda p, s: PEND._observe(s), state_spec=envs.Unbounded((2,)),
                         name="PendulumModel", **kwargs)


NET = frl.nn.mlp(3 + 1, 3, num_cells=(16,), activation="tanh")


def learned_model(**kwargs):
    """An MLP predicting the observation delta; reward and termination read the predicted state."""
    return envs.ModelEnv(lambda p, s, a: s + NET.apply(p, torch.cat([s, a], -1)),
                         lambda p, s, a, s2: -(s2**2).sum(-1) - 0.1 * a[..., 0] ** 2,
                         lambda p, s, a, s2: s2[..., 0] > 0.5,
                         observation_spec=envs.Unbounded((3,)), action_spec=envs.Bounded(-2.0, 2.0, (1,)),
                         **kwargs)


def ensemble(n=5, seed=0):
    return torch.vmap(NET.init)(frl.random.split(frl.random.key(seed), n))


def starts(n=4, seed=1):
    return frl.random.normal(frl.random.key(seed), (n, 3)) * 0.3


def test_true_physics_reproduces_pendulum_with_resets():
    # init_fn is Pendulum's reset distribution, drawn from the same keys: the model env reproduces
    # frl's Pendulum exactly, across the 200-step time limit and its auto-resets.
    model = pendulum_model(init_fn=PEND._init_state, max_episode_steps=200, params=())
    real = envs.rollout(PEND, None, PEND.reset(seed=0, batch_size=(3,)), 450)
    imagined = envs.rollout(model, None, model.reset(seed=0, batch_size=(3,)), 450)
    assert real.batch_size == imagined.batch_size == (3, 450)
    assert bool(real["next", "done"].any())
    keys = set(real.keys(True, True))
    assert keys == set(imagined.keys(True, True))
    for k in keys:
        assert torch.equal(real[k], imagined[k]), k


def test_true_physics_from_given_states_matches_pendulum_step():
    # Imagination from data: start from the states of a real batch, step both with the same actions.
    model = pendulum_model(max_episode_steps=5)
    td = PEND.reset(seed=3, batch_size=(6,))
    mtd = model.reset(frl.random.key(0), start=td["state"], params=())
    assert torch.equal(mtd["observation"], td["observation"])
    for t in range(7):
        a = PEND.action_spec.sample(frl.random.key(10 + t), (6,))
        real = PEND.step(td.set("action", a))
        out = model.step(mtd.set("action", a), ())
        for k in ("observation", "reward", "state", "terminated"):
            assert torch.equal(out["next", k], real["next", k]), k
        # The horizon (5) truncates, then auto-reset restarts from the given start states.
        assert out["next", "truncated"].all() == (t % 5 == 4)
        td, mtd = envs.step_mdp(real), model.auto_reset(out, ())
        if t % 5 == 4:
            assert torch.equal(mtd["state"], mtd["start"]) and (mtd["step_count"] == 0).all()
            td = PEND.reset(seed=3, batch_size=(6,))


def test_vmap_over_five_models_equals_loop():
    env, params, td = learned_model(max_episode_steps=4), ensemble(5), None
    td = env.reset(frl.random.key(2), start=starts())

    def imagine(p, td):
        return envs.rollout(env.bind(p), None, td, 6)

    batched = torch.vmap(imagine, in_dims=(0, None), randomness="error")(params, td)
    assert batched.batch_size == (5, 4, 6)
    for i in range(5):
        one = imagine(frl.tree.index(params, i), td)
        for k in one.keys(True, True):
            torch.testing.assert_close(batched[i][k], one[k], rtol=1e-6, atol=1e-6, msg=str(k))
    # The five models do differ, and the horizon and the done_fn both ended episodes.
    assert not torch.allclose(batched[0]["next", "observation"], batched[1]["next", "observation"])
    assert bool(batched["next", "truncated"].any())


def noisy_model():
    """A stochastic model: the learned mean plus Gaussian noise drawn from each env's key."""
    def dynamics(p, s, a, key):
        noise = envs.map_keys(lambda k: frl.random.normal(k, (3,)), key)
        return s + NET.apply(p, torch.cat([s, a], -1)) + 0.1 * noise
    return envs.ModelEnv(dynamics, lambda p, s, a, s2: -(s2**2).sum(-1), observation_spec=envs.Unbounded((3,)),
                         action_spec=envs.Bounded(-2.0, 2.0, (1,)), max_episode_steps=3, stochastic=True)


def test_stochastic_model_draws_from_each_envs_key(three_ways):
    env, params = noisy_model(), frl.tree.index(ensemble(1), 0)
    td = envs.random_action(env, env.reset(frl.random.key(0), start=starts()))
    out = env.step(td, params)
    mean = td["observation"] + NET.apply(params, torch.cat([td["observation"], td["action"]], -1))
    # The noise is that of the first half of each env's key; the second half is carried on.
    halves = torch.stack([frl.random.split(k) for k in td["key"]])
    noise = torch.stack([frl.random.normal(h[0], (3,)) for h in halves])
    torch.testing.assert_close(out["next", "observation"], mean + 0.1 * noise)
    assert torch.equal(out["next", "key"], halves[:, 1])
    # Same input, same draw; the next step draws anew.
    assert torch.equal(env.step(td, params)["next", "observation"], out["next", "observation"])
    # The second input comes from auto_reset, the first from reset: no recompile between them.
    td2 = envs.random_action(env, envs.auto_reset(env.bind(params), out))
    assert list(td2.keys()) == list(td.keys())
    three_ways(env.step, (td, params), (td2, params))


def test_vmap_over_start_states_equals_batch():
    env, params = learned_model(max_episode_steps=3), frl.tree.index(ensemble(2), 0)
    td = envs.random_action(env, env.reset(frl.random.key(0), start=starts(5)))
    batched = env.step(td, params)
    mapped = torch.vmap(lambda t: env.step(t, params), randomness="error")(td)
    for k in batched.keys(True, True):
        torch.testing.assert_close(mapped[k], batched[k], msg=str(k))


def test_reset_from_start_states_three_ways(three_ways):
    env = learned_model()
    outs = three_ways(lambda k, s: env.reset(k, start=s), (frl.random.key(0), starts(3, seed=0)),
                      (frl.random.key(1), starts(3, seed=1)))
    assert torch.equal(outs[1]["observation"], starts(3, seed=1))


def test_step_three_ways(three_ways, assert_pure):
    env, params = learned_model(max_episode_steps=2), ensemble(2)
    tds = [envs.random_action(env, env.reset(frl.random.key(i), start=starts(3, seed=i))) for i in range(2)]
    args = [(tds[i], frl.tree.index(params, i)) for i in range(2)]
    assert_pure(env.step, *args[0])
    three_ways(env.step, *args, compile_vmap=True)


def test_rollout_over_ensemble_three_ways(three_ways):
    # The imagination rollout: bound inside the function, vmapped over models (shared start states),
    # with auto-reset from the start states after the 1-step horizon.
    env, params = learned_model(max_episode_steps=1), ensemble(3)
    td = env.reset(frl.random.key(0), start=starts(3))
    outs = three_ways(lambda p, t: envs.rollout(env.bind(p), None, t, 2),
                      *[(frl.tree.index(params, i), td) for i in range(3)], in_dims=(0, None), compile_vmap=True)
    assert bool(outs[0]["next", "done"].any())


def test_true_physics_step_and_reset_three_ways(three_ways, assert_pure):
    model = pendulum_model(init_fn=PEND._init_state, max_episode_steps=2, params=())
    td = envs.random_action(model, model.reset(seed=0, batch_size=(3,)))
    td2 = envs.random_action(model, envs.step_and_reset(model, td)[1])
    assert_pure(envs.step_and_reset, model, td)
    outs = three_ways(lambda t: envs.step_and_reset(model, t), (td,), (td2,))
    assert bool(outs[1][0]["next", "done"].all())


def test_reset_and_auto_reset_are_pure(assert_pure):
    env, params = learned_model(max_episode_steps=1), frl.tree.index(ensemble(1), 0)
    td = assert_pure(env.reset, frl.random.key(0), start=starts())
    assert set(td.keys()) == {"observation", "start", "step_count", "key", "done", "terminated", "truncated"}
    out = env.step(envs.random_action(env, td), params)
    nxt = assert_pure(env.auto_reset, out, params)
    # Every env hit the horizon: all restart from their start states, keeping their own keys.
    assert torch.equal(nxt["observation"], td["start"]) and not nxt["done"].any()
    assert torch.equal(nxt["key"], out["next", "key"])


@given(horizon=st.integers(1, 6), threshold=st.floats(-1.0, 1.0), seed=st.integers(0, 2**31))
def test_done_flags_follow_torchrl(horizon, threshold, seed):
    # terminated from done_fn, truncated exactly at the horizon, done = terminated | truncated.
    env = envs.ModelEnv(lambda p, s, a: s + a, lambda p, s, a, s2: s2[..., 0],
                        lambda p, s, a, s2: s2[..., 0] > threshold,
                        observation_spec=envs.Unbounded((1,)), action_spec=envs.Bounded(-1.0, 1.0, (1,)),
                        max_episode_steps=horizon, params=())
    td = env.reset(frl.random.key(seed), start=torch.zeros(8, 1))
    x, count = torch.zeros(8, 1), torch.zeros(8, 1, dtype=torch.int64)
    for _ in range(2 * horizon + 1):
        out, td_next = envs.step_and_reset(env, envs.random_action(env, td))
        x = x + out["action"]
        count = count + 1
        assert torch.equal(out["next", "observation"], x)
        assert torch.equal(out["next", "reward"], x)
        assert torch.equal(out["next", "terminated"], x > threshold)
        assert torch.equal(out["next", "truncated"], count >= horizon)
        assert torch.equal(out["next", "done"], (x > threshold) | (count >= horizon))
        done = out["next", "done"]
        x, count = torch.where(done, 0.0, x), torch.where(done, 0, count)
        td = td_next


def test_check_env_on_a_learned_model():
    params = frl.tree.index(ensemble(1), 0)
    env = learned_model(init_fn=lambda k: frl.random.normal(k, (3,)) * 0.1, max_episode_steps=5, params=params)
    envs.check_env(env, steps=12)
    # Without a horizon nothing truncates, and check_env checks exactly that.
    envs.check_env(learned_model(init_fn=lambda k: frl.random.normal(k, (3,)) * 0.1, params=params), steps=6)


def test_specs():
    env = learned_model()
    assert env.reward_spec.shape == (1,) and env.reward_spec.dtype == torch.float32
    assert set(env.done_spec.keys()) == {"done", "terminated", "truncated"}
    assert env.params.max_episode_steps is None


# ---- errors ------------------------------------------------------------------------------------


def test_unbound_params_raise():
    env = learned_model()
    td = envs.random_action(env, env.reset(frl.random.key(0), start=starts()))
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv.step: no model params: pass them"):
        env.step(td)


def test_bad_actions_raise():
    env, params = learned_model(), frl.tree.index(ensemble(1), 0)
    td = env.reset(frl.random.key(0), start=starts())
    with pytest.raises(KeyError, match=r"frl.envs.ModelEnv.step: input TensorDict has no key 'action'"):
        env.step(td, params)
    with pytest.raises(ValueError, match=r"frl.envs.ModelEnv.step: action has shape \[4, 2\], expected \[4, 1\]"):
        env.step(td.set("action", torch.zeros(4, 2)), params)
    with pytest.raises(RuntimeError, match=r"frl.envs.ModelEnv.step: action has values outside action_spec"):
        env.step(td.set("action", torch.full((4, 1), 3.0)), params)


def test_bad_model_outputs_raise():
    spec: dict[str, Any] = dict(observation_spec=envs.Unbounded((3,)), action_spec=envs.Bounded(-2.0, 2.0, (1,)),
                                params=())
    td = envs.random_action(learned_model(), learned_model().reset(frl.random.key(0), start=starts()))
    cases = [
        (envs.ModelEnv(lambda p, s, a: s[..., :2], lambda p, s, a, s2: s2[..., 0], **spec),
         ValueError, r"dynamics_fn's output has shape \[4, 2\], expected \[4, 3\]"),
        (envs.ModelEnv(lambda p, s, a: s, lambda p, s, a, s2: s2, **spec),
         ValueError, r"reward_fn's output has shape \[4, 3\], expected \[4, 1\] \(or \[4\]\)"),
        (envs.ModelEnv(lambda p, s, a: s, lambda p, s, a, s2: s2[..., 0] > 0, **spec),
         TypeError, r"reward_fn's output has dtype bool, expected a floating dtype"),
        (envs.ModelEnv(lambda p, s, a: s, lambda p, s, a, s2: s2[..., 0], lambda p, s, a, s2: s2[..., 0], **spec),
         TypeError, r"done_fn's output has dtype float32, expected one of bool"),
    ]
    for env, exc, msg in cases:
        with pytest.raises(exc, match="frl.envs.ModelEnv.step: " + msg):
            env.step(td)


def test_bad_resets_raise():
    env = learned_model()
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv.init: this ModelEnv has no init_fn: start imagination"):
        env.reset(frl.random.key(0), (4,))
    with pytest.raises(ValueError, match=r"frl.envs.ModelEnv.reset: start has shape \[4, 2\], expected \[4, 3\]"):
        env.reset(frl.random.key(0), start=torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"batch_size \[5\] does not match start's batch \[4\]"):
        env.reset(frl.random.key(0), (5,), start=starts())
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv.reset: give a key"):
        env.reset(start=starts())
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv.reset: start has dtype float64, expected one of float32"):
        env.reset(frl.random.key(0), start=starts().double())


def test_bad_construction_raises():
    spec: dict[str, Any] = dict(observation_spec=envs.Unbounded((3,)), action_spec=envs.Bounded(-2.0, 2.0, (1,)))
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv: observe_fn needs state_spec"):
        envs.ModelEnv(lambda p, s, a: s, lambda p, s, a, s2: s2[..., 0], observe_fn=lambda p, s: s, **spec)
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv: dynamics_fn must be callable"):
        envs.ModelEnv(None, lambda p, s, a, s2: s2[..., 0], **spec)  # pyright: ignore[reportArgumentType]  (the wrong type under test)
    with pytest.raises(TypeError, match=r"frl.envs.ModelEnv: action_spec must be an frl.envs spec"):
        envs.ModelEnv(lambda p, s, a: s, lambda p, s, a, s2: s2[..., 0], observation_spec=envs.Unbounded((3,)),
                      action_spec=(1,))  # pyright: ignore[reportArgumentType]  (the wrong type under test)
    with pytest.raises(ValueError, match=r"frl.envs.ModelEnv: max_episode_steps must be a positive int"):
        envs.ModelEnv(lambda p, s, a: s, lambda p, s, a, s2: s2[..., 0], max_episode_steps=0, **spec)
