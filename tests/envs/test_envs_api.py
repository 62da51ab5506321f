"""frl.envs: reset / step contracts, errors, purity, auto-reset, step_mdp and rollout semantics."""

import pytest
import torch
from tensordict import TensorDict

import frl
from frl import envs
from frl._checks import FrlKeyError

IDS = ["Pendulum-v1", "CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1"]


@pytest.mark.parametrize("id", IDS)
def test_reset_layout_and_determinism(id):
    env = envs.make(id)
    td = env.reset(seed=0, batch_size=(2, 3))
    assert td.batch_size == (2, 3)
    assert td["observation"].shape == (2, 3, *env.observation_spec.shape)
    assert td["observation"].dtype == torch.float32
    assert td["step_count"].shape == (2, 3, 1) and td["step_count"].dtype == torch.int64
    assert td["key"].shape == (2, 3, 2)
    for k in ("done", "terminated", "truncated"):
        assert td[k].shape == (2, 3, 1) and td[k].dtype == torch.bool and not td[k].any()
    assert bool(env.observation_spec.is_in(td["observation"]))
    assert (td == env.reset(frl.random.key(0), (2, 3))).all()  # seed= is key=frl.random.key(seed)
    assert not torch.equal(td["state"], env.reset(seed=1, batch_size=(2, 3))["state"])
    # Every env its own state and its own key.
    assert td["state"].reshape(6, -1).unique(dim=0).shape[0] == 6
    assert td["key"].reshape(6, 2).unique(dim=0).shape[0] == 6
    single = env.reset(seed=0)
    assert single.batch_size == () and single["observation"].shape == env.observation_spec.shape


@pytest.mark.parametrize("id", IDS)
def test_step_output_layout(id, assert_pure):
    env = envs.make(id)
    td = env.reset(seed=0, batch_size=(4,))
    td = envs.random_action(env, td)
    out = assert_pure(env.step, td)
    assert out.batch_size == (4,)
    assert torch.equal(out["action"], td["action"]) and torch.equal(out["observation"], td["observation"])
    nxt = out["next"]
    assert nxt["reward"].shape == (4, 1) and nxt["reward"].dtype == torch.float32
    for k in ("done", "terminated", "truncated"):
        assert nxt[k].shape == (4, 1) and nxt[k].dtype == torch.bool
    assert torch.equal(nxt["step_count"], td["step_count"] + 1)
    assert bool(env.action_spec.is_in(td["action"]))
    assert set(env.done_spec.keys()) == {"done", "terminated", "truncated"}
    assert env.reward_spec.shape == (1,)


def test_step_errors():
    env = envs.make("CartPole-v1")
    td = env.reset(seed=0, batch_size=(4,))
    with pytest.raises(FrlKeyError, match=r"frl.envs.CartPole.step: input TensorDict has no key 'action'"):
        env.step(td)
    with pytest.raises(ValueError, match=r"frl.envs.CartPole.step: action has shape \[4, 1\], expected \[4\]"):
        env.step(td.set("action", torch.zeros(4, 1, dtype=torch.int64)))
    with pytest.raises(TypeError, match=r"frl.envs.CartPole.step: action has dtype float32"):
        env.step(td.set("action", torch.zeros(4)))
    with pytest.raises(RuntimeError, match=r"frl.envs.CartPole.step: action has values outside \{0, 1\}"):
        env.step(td.set("action", torch.tensor([0, 1, 2, 0])))
    pend = envs.make("Pendulum-v1")
    td = pend.reset(seed=0, batch_size=(2,))
    with pytest.raises(ValueError, match=r"frl.envs.Pendulum.step: action has shape \[2\], expected \[2, 1\]"):
        pend.step(td.set("action", torch.zeros(2)))
    with pytest.raises(RuntimeError, match=r"frl.envs.Pendulum.step: action has values outside"):
        pend.step(td.set("action", torch.tensor([[0.0], [float("nan")]])))
    # Out-of-range torques are clipped, as in gymnasium, not refused.
    a = pend.step(td.set("action", torch.tensor([[5.0], [-7.0]])))
    b = pend.step(td.set("action", torch.tensor([[2.0], [-2.0]])))
    assert torch.equal(a["next", "state"], b["next", "state"])
    with pytest.raises(TypeError, match="give a key"):
        pend.reset(batch_size=(2,))


def test_make():
    env = envs.make("Pendulum-v1", g=9.81, max_episode_steps=7, dtype=torch.float64)
    assert env.params.g == 9.81 and env.params.max_episode_steps == 7 and env.dtype == torch.float64
    assert env.reset(seed=0)["observation"].dtype == torch.float64
    with pytest.raises(KeyError, match="unknown env id 'Pong-v5'"):
        envs.make("Pong-v5")
    with pytest.raises(TypeError, match="Pendulum-v1 has no parameter gravity"):
        envs.make("Pendulum-v1", gravity=3.0)


def test_params_change_dynamics_and_time_limit():
    light = envs.make("Pendulum-v1", g=1.0, max_episode_steps=3)
    heavy = envs.make("Pendulum-v1")
    td = heavy.reset(seed=0, batch_size=(5,)).set("action", torch.zeros(5, 1))
    assert not torch.equal(light.step(td)["next", "state"], heavy.step(td)["next", "state"])
    traj = envs.rollout(light, None, light.reset(seed=0, batch_size=(5,)), 7)
    assert traj["next", "truncated"][0, :, 0].tolist() == [False, False, True] * 2 + [False]


def test_step_mdp_semantics():
    b = (3,)
    td = TensorDict({
        "observation": torch.zeros(3, 2), "action": torch.ones(3, 1), "reward": torch.ones(3, 1),
        "hidden": torch.full((3, 4), 7.0), "done": torch.zeros(3, 1, dtype=torch.bool),
        "agent": TensorDict({"obs": torch.zeros(3, 1), "memory": torch.ones(3, 1)}, b),
        "next": TensorDict({
            "observation": torch.ones(3, 2), "reward": torch.full((3, 1), 2.0),
            "done": torch.ones(3, 1, dtype=torch.bool), "state": torch.full((3, 2), 5.0),
            "agent": TensorDict({"obs": torch.ones(3, 1)}, b),
        }, b),
    }, b)
    td.lock_()
    out = envs.step_mdp(td)
    assert set(out.keys(include_nested=True, leaves_only=True)) == {
        "observation", "hidden", "done", "state", ("agent", "obs"), ("agent", "memory")}
    assert (out["observation"] == 1).all() and (out["hidden"] == 7).all() and out["done"].all()
    assert (out["state"] == 5).all() and (out["agent", "obs"] == 1).all() and (out["agent", "memory"] == 1).all()
    assert (td["observation"] == 0).all()  # the input is untouched
    kept = envs.step_mdp(td, exclude_reward=False, exclude_action=False, exclude_done=True)
    assert (kept["reward"] == 2).all() and (kept["action"] == 1).all() and "done" not in kept.keys()
    only_next = envs.step_mdp(td, keep_other=False)
    assert "hidden" not in only_next.keys() and ("agent", "memory") not in only_next.keys(True)
    with pytest.raises(FrlKeyError, match="frl.envs.step_mdp: input TensorDict has no key 'next'"):
        envs.step_mdp(td.exclude("next"))


def test_auto_reset_semantics(assert_pure):
    env = envs.make("Pendulum-v1", max_episode_steps=3)
    td = env.reset(seed=0, batch_size=(4,))
    # Stagger the episodes: env i has already run i steps.
    td["step_count"] = torch.arange(4).reshape(4, 1) % 3
    td = td.set("action", torch.zeros(4, 1))
    out, nxt = assert_pure(envs.step_and_reset, env, td)
    done = out["next", "done"][:, 0]
    assert done.tolist() == [False, False, True, False]
    # The true final observation stays in ("next", "observation").
    torch.testing.assert_close(out["next", "observation"], env._observe(out["next", "state"]))
    # Not done: the root is the plain next step. Done: a fresh episode from the env's own key.
    for i in (0, 1, 3):
        assert torch.equal(nxt["state"][i], out["next", "state"][i])
        assert nxt["step_count"][i, 0] == out["next", "step_count"][i, 0]
        assert torch.equal(nxt["key"][i], out["next", "key"][i])
    fresh = env.init(out["next", "key"])
    for k in ("state", "observation", "key", "step_count"):
        assert torch.equal(nxt[k][2], fresh[k][2]), k
    assert nxt["step_count"][2, 0] == 0 and not torch.equal(nxt["state"][2], out["next", "state"][2])
    assert not nxt["done"].any() and not nxt["truncated"].any()
    assert "action" not in nxt.keys() and "reward" not in nxt.keys()


@pytest.mark.parametrize("id", IDS)
def test_rollout_shapes_and_done_pattern(id):
    env = envs.make(id, max_episode_steps=10)
    td = env.reset(seed=0, batch_size=(2, 3))
    traj = envs.rollout(env, None, td, 25)
    assert traj.batch_size == (2, 3, 25)
    assert traj["next", "observation"].shape == (2, 3, 25, *env.observation_spec.shape)
    assert traj["next", "reward"].shape == (2, 3, 25, 1)
    done, count = traj["next", "done"][..., 0], traj["next", "step_count"][..., 0]
    # step_count counts 1..L within each episode and an episode never exceeds the limit.
    assert count.max() <= 10 and torch.equal(done, traj["next", "terminated"][..., 0] | (count == 10))
    assert torch.equal(traj["step_count"][..., 0][..., 1:], torch.where(done[..., :-1], 0, count[..., :-1]))
    # Observations are continuous within an episode: next observation = following root observation.
    same = ~done[..., :-1]
    assert torch.equal(traj["observation"][..., 1:, :][same], traj["next", "observation"][..., :-1, :][same])
    assert bool(env.action_spec.is_in(traj["action"]))
    if id == "Pendulum-v1":
        assert done.sum() == 2 * 3 * 2  # truncated at steps 10 and 20
    # Without auto-reset the episode runs on: step_count keeps counting.
    raw = envs.rollout(env, None, td, 12, auto_reset=False)
    assert raw["next", "step_count"][0, 0, :, 0].tolist() == list(range(1, 13))


def test_rollout_with_policy_is_deterministic():
    env = envs.make("CartPole-v1")
    td = env.reset(seed=0, batch_size=(3,))

    def policy(td):
        return td.set("action", (td["observation"][..., 2] > 0).long())

    a = envs.rollout(env, policy, td, 30)
    b = envs.rollout(env, policy, td, 30)
    assert (a == b).all()
    assert torch.equal(a["action"], (a["observation"][..., 2] > 0).long())


def test_per_env_params_domain_randomization():
    # A physics constant given as a tensor [B] gives each env its own value.
    g = torch.tensor([2.0, 10.0, 15.0])
    env = envs.make("Pendulum-v1", g=g)
    td = env.reset(seed=0, batch_size=(3,)).set("action", torch.full((3, 1), 0.5))
    out = env.step(td)["next", "state"]
    for i in range(3):
        one = envs.make("Pendulum-v1", g=float(g[i]))
        torch.testing.assert_close(out[i], one.step(td[i])["next", "state"], rtol=0, atol=0)
    # The same through vmap over the constant.
    lengths = torch.tensor([0.5, 1.0, 2.0])
    cart = envs.make("CartPole-v1")
    tdc = cart.reset(seed=1, batch_size=(3,)).set("action", torch.tensor([0, 1, 1]))
    vm = torch.vmap(lambda l, t: envs.make("CartPole-v1", length=l).step(t))(lengths, tdc)
    for i in range(3):
        ref = envs.make("CartPole-v1", length=float(lengths[i])).step(tdc[i])
        torch.testing.assert_close(vm["next", "state"][i], ref["next", "state"])


def test_compiled_auto_reset_observes_the_merged_state():
    """Compiled auto-reset observes the merged state once: it equals eager, the next input's
    observation is the step's ("next", "observation") where not done, and the fresh episode's where done."""
    env = envs.make("Acrobot-v1", max_episode_steps=3)
    td = env.reset(seed=0, batch_size=(8,))
    td["step_count"] = torch.arange(8).reshape(8, 1) % 3  # episodes end at different steps

    def step(td):
        return envs.step_and_reset(env, envs.random_action(env, td))

    compiled = torch.compile(step, fullgraph=True, dynamic=False)
    for _ in range(4):
        out, nxt = compiled(td)
        out_e, nxt_e = step(td)
        torch.testing.assert_close(nxt["observation"], nxt_e["observation"])
        done = out["next", "done"][:, 0]
        assert done.any() and not done.all()
        assert torch.equal(nxt["observation"][~done], out["next", "observation"][~done])
        torch.testing.assert_close(nxt["observation"][done], env._observe(nxt["state"][done]))
        td = nxt
