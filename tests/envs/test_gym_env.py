"""frl.envs.GymEnv and spec_from_gym_space, checked against gymnasium itself.

Single envs are stepped side by side with ``gymnasium.make`` (same seed, same actions); vector envs
against gymnasium's SAME_STEP vector env and against independent single envs (every transition
appears exactly once: none lost at an episode's end, none duplicated).
"""

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from tensordict import TensorDict

import frl
from frl import envs
from frl.envs import specs as S


# ---- spec conversion ----------------------------------------------------------------------------

LEAF_SPACES = {
    "box": (spaces.Box(-2.0, 2.0, (1,), np.float32), S.Bounded, (1,), torch.float32),
    "box_unbounded": (spaces.Box(-np.inf, np.inf, (3,), np.float64), S.Unbounded, (3,), torch.float64),
    "box_image": (spaces.Box(0, 255, (4, 4, 3), np.uint8), S.Bounded, (4, 4, 3), torch.uint8),
    "box_per_element": (spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 5.0], np.float32), dtype=np.float32),
                        S.Bounded, (2,), torch.float32),
    "discrete": (spaces.Discrete(3), S.Categorical, (), torch.int64),
    "discrete_start": (spaces.Discrete(3, start=-1), S.Bounded, (), torch.int64),
    "multidiscrete": (spaces.MultiDiscrete([2, 3]), S.MultiCategorical, (2,), torch.int64),
    "multidiscrete_2d": (spaces.MultiDiscrete(np.array([[2, 3], [4, 5]])), S.Bounded, (2, 2), torch.int64),
    "multidiscrete_start": (spaces.MultiDiscrete([2, 3], start=[1, -1]), S.Bounded, (2,), torch.int64),
    "multibinary": (spaces.MultiBinary(4), S.Binary, (4,), torch.int8),
    "multibinary_2d": (spaces.MultiBinary([2, 3]), S.Bounded, (2, 3), torch.int8),
}


@pytest.mark.parametrize("name", sorted(LEAF_SPACES))
def test_spec_from_gym_space_leaves(name):
    space, cls, shape, dtype = LEAF_SPACES[name]
    spec = envs.spec_from_gym_space(space)
    assert type(spec) is cls and tuple(spec.shape) == shape and spec.dtype == dtype
    # gymnasium's samples lie in the spec ...
    space.seed(0)
    for _ in range(20):
        x = torch.as_tensor(np.asarray(space.sample()))
        assert x.dtype == dtype and bool(spec.is_in(x)), (name, x)
    # ... and the spec's samples lie in the space.
    batch = spec.sample(frl.random.key(1), (20,))
    for x in batch:
        assert space.contains(np.asarray(x.numpy(), dtype=space.dtype)), (name, x)
    # Values just outside the space are outside the spec.
    if isinstance(space, spaces.Discrete):
        assert not bool(spec.is_in(torch.tensor(space.start + space.n)))
        assert not bool(spec.is_in(torch.tensor(space.start - 1)))


def test_spec_from_gym_space_keeps_partly_infinite_bounds():
    spec = envs.spec_from_gym_space(spaces.Box(np.array([-np.inf, 0.0], np.float32), np.array([np.inf, 1.0], np.float32), dtype=np.float32))
    assert isinstance(spec, S.Bounded)
    assert bool(spec.is_in(torch.tensor([-1e30, 0.5])))
    assert not bool(spec.is_in(torch.tensor([0.0, 1.5])))


def test_spec_from_gym_space_dict_and_tuple_nest():
    space = spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (2,)),
                         "inner": spaces.Dict({"k": spaces.Discrete(4)}),
                         "pair": spaces.Tuple((spaces.MultiBinary(3), spaces.Discrete(2)))})
    spec = envs.spec_from_gym_space(space)
    assert isinstance(spec, S.Composite) and set(spec.keys()) == {"pos", "inner", "pair"}
    inner_k, pair = spec["inner", "k"], spec["pair"]
    assert isinstance(inner_k, S.Categorical) and inner_k.n == 4
    assert isinstance(pair, S.Composite) and list(pair.keys()) == ["0", "1"]
    assert isinstance(spec["pair", "0"], S.Binary) and isinstance(spec["pair", "1"], S.Categorical)
    assert envs.spec_from_gym_space(spaces.Box(-1.0, 1.0, (2,)), float_dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("space", [spaces.Text(5), spaces.Sequence(spaces.Discrete(2))], ids=["text", "sequence"])
def test_spec_from_gym_space_rejects_unsupported(space):
    with pytest.raises(TypeError, match=r"frl\.envs\.spec_from_gym_space: unsupported space .*" + type(space).__name__):
        envs.spec_from_gym_space(space)


# ---- single env against gymnasium ---------------------------------------------------------------

def _actions(space, n, seed):
    space.seed(seed)
    return [space.sample() for _ in range(n)]


@pytest.mark.parametrize("id,steps", [("Pendulum-v1", 230), ("CartPole-v1", 120)])
def test_single_env_matches_gymnasium_step_for_step(id, steps):
    ref = gym.make(id)
    env = envs.GymEnv(id)
    actions = _actions(ref.action_space, steps, seed=3)
    obs, _ = ref.reset(seed=7)
    td = env.reset(seed=7)
    torch.testing.assert_close(td["observation"], torch.as_tensor(obs), rtol=0, atol=0)
    ends = 0
    for a in actions:
        td["action"] = torch.as_tensor(np.asarray(a))
        out = env.step(td)
        obs, r, term, trunc, _ = ref.step(a)
        n = out["next"]
        torch.testing.assert_close(n["observation"], torch.as_tensor(obs), rtol=0, atol=0)
        assert n["reward"].shape == (1,) and n["reward"].item() == np.float32(r)
        assert n["terminated"].tolist() == [term] and n["truncated"].tolist() == [trunc]
        assert n["done"].tolist() == [term or trunc]
        td = env.auto_reset(out)
        if term or trunc:
            ends += 1
            obs, _ = ref.reset()  # gymnasium's own stream continues, as in frl's auto_reset
            assert not td["done"].any()
        torch.testing.assert_close(td["observation"], torch.as_tensor(obs), rtol=0, atol=0)
    assert ends >= 1  # the episode boundary was exercised (Pendulum: truncation at 200)
    env.close()


def test_reset_seeding():
    env = envs.GymEnv("Pendulum-v1")
    a, b = env.reset(seed=5), env.reset(seed=5)
    assert (a == b).all()
    k = frl.random.key(3)
    c, d = env.reset(key=k), env.reset(key=k)
    assert (c == d).all() and not torch.equal(c["observation"], a["observation"])
    assert not torch.equal(env.reset(key=frl.random.key(4))["observation"], c["observation"])
    assert env.reset()["key"].shape == (2,)  # unseeded: gymnasium's stream continues, a key is still given
    with pytest.raises(ValueError, match=r"frl\.envs\.GymEnv\.reset: batch_size=\[4\]"):
        env.reset(seed=0, batch_size=(4,))
    with pytest.raises(TypeError, match="either key or seed"):
        env.reset(key=k, seed=1)


def test_step_checks_its_action():
    env = envs.GymEnv("CartPole-v1")
    td = env.reset(seed=0)
    with pytest.raises(KeyError, match=r"frl\.envs\.GymEnv\.step: input TensorDict has no key 'action'"):
        env.step(td)
    with pytest.raises(ValueError, match=r"action has shape \[1\], expected \[\]"):
        env.step(td.clone().set("action", torch.tensor([1])))
    with pytest.raises(TypeError, match="expected an integer"):
        env.step(td.clone().set("action", torch.tensor(1.0)))
    with pytest.raises(ValueError, match=r"action has values outside \{0, \.\.\., 1\}"):
        env.step(td.clone().set("action", torch.tensor(2)))
    pend = envs.GymEnv("Pendulum-v1")
    td = pend.reset(seed=0)
    with pytest.raises(ValueError, match=r"frl\.envs\.GymEnv\.step: action has values outside \[-2, 2\]"):
        pend.step(td.clone().set("action", torch.tensor([float("nan")])))
    with pytest.raises(ValueError, match="outside"):
        pend.step(td.clone().set("action", torch.tensor([2.5])))
    frl.set_value_checks(False)
    try:  # unchecked, gymnasium's Pendulum clips the torque itself
        out = pend.step(td.clone().set("action", torch.tensor([2.5])))
    finally:
        frl.set_value_checks(True)
    assert out["next", "observation"].shape == (3,)
    # A float64 action is cast to the Box's float32.
    assert pend.step(td.clone().set("action", torch.tensor([0.5], dtype=torch.float64)))["next", "reward"].dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_actions_reach_the_host_cast_as_numpy_casts_them(dtype):
    # Small actions go to numpy through Python numbers (x.tolist()), large ones through x.numpy():
    # either way the host gets numpy's cast of the value to the space's dtype, in a copy.
    env = envs.GymEnv("Pendulum-v1")
    td = env.reset(seed=0)
    x = torch.tensor([0.1], dtype=dtype)
    env.step(td.set("action", x))
    want = np.asarray(x.double().numpy(), dtype=np.float32)  # float16 / bfloat16 values are exact in float64
    got = env.env.unwrapped.last_u
    assert got == want[0] and np.asarray(got).dtype == np.float32
    x.fill_(-1.0)  # the caller reuses its tensor: the host's copy does not change
    assert env.env.unwrapped.last_u == want[0]
    big = envs.spec_from_gym_space(spaces.Box(-1.0, 1.0, (5, 5), np.float32))
    from frl.envs import _host
    convert = _host.action_leaf(big, np.float32, (), "action")
    y = torch.linspace(-1, 1, 25, dtype=torch.float64).reshape(5, 5)
    a = convert("f", y)
    assert a.dtype == np.float32 and np.array_equal(a, y.numpy().astype(np.float32))
    assert np.array_equal(convert("f", y[:1].expand(5, 5)), y[:1].expand(5, 5).numpy().astype(np.float32))


def test_host_new_td_builds_what_tensordict_builds():
    # _host.new_td skips TensorDict's constructor (checked once against _new_unsafe at import).
    from frl.envs import _host
    entries = {"a": torch.zeros(3, 2), "b": TensorDict({"c": torch.ones(3)}, batch_size=[3])}
    td = _host.new_td(dict(entries), torch.Size([3]))
    ref = TensorDict(dict(entries), batch_size=[3])
    assert type(td) is TensorDict and td.batch_size == ref.batch_size and td.device == ref.device
    assert td.names == ref.names and set(td.keys(True, True)) == set(ref.keys(True, True))
    assert td["a"] is entries["a"] and (td == ref).all()
    td["d"] = torch.zeros(3)  # an ordinary, writable TensorDict
    assert "d" not in ref.keys() and td.clone()["d"].shape == (3,)
    assert _host.new_td({"a": torch.zeros(3)}, torch.Size([3]), torch.device("cpu")).device == torch.device("cpu")


def test_step_is_pure_and_outputs_do_not_alias(assert_pure):
    env = envs.GymEnv("Pendulum-v1", max_episode_steps=4)
    td = env.reset(seed=0).set("action", torch.tensor([1.0]))
    assert_pure(env.step, td)
    kept, copies = [], []
    td = env.reset(seed=0)
    for t in range(9):
        td = td.set("action", torch.tensor([0.3 * (t % 3) - 0.3]))
        out = env.step(td)
        kept.append(out)
        copies.append(out.clone())
        td = env.auto_reset(out)
    for a, b in zip(kept, copies):
        assert (a == b).all()  # later steps and resets wrote into none of the earlier outputs
    assert sum(bool(o["next", "truncated"]) for o in kept) == 2


def test_check_env_rollout_step_and_reset_single():
    env = envs.GymEnv("Pendulum-v1", max_episode_steps=5)
    envs.check_env(env, steps=12)
    traj = envs.rollout(env, None, env.reset(seed=0), steps=12)
    assert traj.batch_size == (12,) and traj["next", "reward"].shape == (12, 1)
    assert traj["next", "truncated"].squeeze(-1).tolist() == [t % 5 == 4 for t in range(12)]
    out, nxt = envs.step_and_reset(env, envs.random_action(env, env.reset(seed=1)))
    assert "next" in out.keys() and "next" not in nxt.keys()


# ---- vector envs against gymnasium's vector env ---------------------------------------------------

def _vector_actions(n_envs, steps, seed):
    return np.random.default_rng(seed).integers(0, 2, size=(steps, n_envs))


def test_vector_env_matches_gymnasium_same_step():
    n, steps = 3, 80
    ref = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * n,
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    env = envs.GymEnv("CartPole-v1", num_envs=n)
    assert env.batch_size == (n,) and env.action_spec.shape == ()
    obs, _ = ref.reset(seed=11)
    td = env.reset(seed=11)
    torch.testing.assert_close(td["observation"], torch.as_tensor(obs), rtol=0, atol=0)
    ends = 0
    for a in _vector_actions(n, steps, 0):
        td["action"] = torch.as_tensor(a)
        out = env.step(td)
        obs, r, term, trunc, info = ref.step(a)
        done = term | trunc
        final = obs.copy()
        for i in np.flatnonzero(done):
            final[i] = info["final_obs"][i]
        torch.testing.assert_close(out["next", "observation"], torch.as_tensor(final), rtol=0, atol=0)
        torch.testing.assert_close(out["next", "reward"], torch.as_tensor(r, dtype=torch.float32)[:, None])
        assert out["next", "terminated"].squeeze(-1).tolist() == term.tolist()
        assert out["next", "truncated"].squeeze(-1).tolist() == trunc.tolist()
        td = env.auto_reset(out)
        torch.testing.assert_close(td["observation"], torch.as_tensor(obs), rtol=0, atol=0)
        assert not td["done"].any()
        ends += int(done.sum())
    assert ends >= 3
    env.close()


def _transitions_by_env(env, seed, actions):
    """Run env with the given actions [steps, N]; per env index, the list of (obs, action, reward,
    next_obs, term, trunc). A single env (batch ()) counts as env 0."""
    single = not env.batch_size
    td = env.reset(seed=seed)
    per_env = [[] for _ in range(1 if single else env.batch_size[0])]
    for a in actions:
        td["action"] = torch.as_tensor(a[0] if single else a)
        out = env.step(td)
        for i, row in enumerate(per_env):
            at = out if single else out[i]
            row.append((at["observation"].tolist(), int(a[i]), at["next", "reward"].item(),
                        at["next", "observation"].tolist(), bool(at["next", "terminated"]),
                        bool(at["next", "truncated"])))
        td = env.auto_reset(out)
    return per_env


def _reference_transitions(ref, seed, actions):
    """One gymnasium env's (obs, action, reward, next_obs, term, trunc), reset by hand at episode ends."""
    obs, _ = ref.reset(seed=seed)
    want = []
    for a in actions:
        nobs, r, term, trunc, _ = ref.step(int(a))
        want.append((torch.as_tensor(obs).tolist(), int(a), float(np.float32(r)),
                     torch.as_tensor(nobs).tolist(), term, trunc))
        obs = ref.reset()[0] if term or trunc else nobs
    return want


def test_vector_env_loses_and_duplicates_no_transition():
    # Each member of the vector env must see exactly the transitions of an independent gymnasium env
    # seeded with seed + i, reset by hand at each episode's end.
    n, steps, seed = 3, 70, 4
    actions = _vector_actions(n, steps, 1)
    got = _transitions_by_env(envs.GymEnv("CartPole-v1", num_envs=n), seed, actions)
    for i in range(n):
        ref = gym.make("CartPole-v1")
        want = _reference_transitions(ref, seed + i, actions[:, i])
        assert got[i] == want, f"env {i}"
        assert sum(w[4] or w[5] for w in want) >= 1


@pytest.mark.parametrize("vectorize", ["sync", "async"])
def test_vector_env_under_a_shorter_time_limit_matches_gymnasium(vectorize):
    # A StepCounter limit ends episodes gymnasium would continue: the vector GymEnv must reset just
    # those envs (gymnasium's reset_mask). Reference: independent envs under gymnasium's TimeLimit.
    n, steps, seed, limit = 3, 40, 4, 7
    actions = _vector_actions(n, steps, 1)
    env = envs.TransformedEnv(envs.GymEnv("CartPole-v1", num_envs=n, vectorize=vectorize),
                              [envs.StepCounter(max_steps=limit)])
    try:
        got = _transitions_by_env(env, seed, actions)
    finally:
        env.close()
    for i in range(n):
        ref = gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=limit)
        want = _reference_transitions(ref, seed + i, actions[:, i])
        assert got[i] == want, f"env {i}"
        assert sum(w[5] for w in want) >= 2


# Wrappers act inside each sub-env: a frame stack restarts at that env's own reset, and a time limit
# counts that env's steps. Picklable (functools.partial), as the async workers need.
_WRAPPERS = (functools.partial(gym.wrappers.TimeLimit, max_episode_steps=6),
             functools.partial(gym.wrappers.FrameStackObservation, stack_size=3))


@pytest.mark.parametrize("num_envs,vectorize", [(None, "sync"), (3, "sync"), (3, "async")],
                         ids=["single", "sync3", "async3"])
def test_wrappers_apply_inside_each_env_as_gymnasium_does(num_envs, vectorize):
    steps, seed = 30, 5
    actions = _vector_actions(num_envs or 1, steps, 2)
    env = envs.GymEnv("CartPole-v1", num_envs=num_envs, vectorize=vectorize, wrappers=_WRAPPERS)
    try:
        assert env.observation_spec.shape == (3, 4)  # the spec is the wrapped env's
        got = _transitions_by_env(env, seed, actions)
    finally:
        env.close()
    for i, row in enumerate(got):
        ref = gym.make("CartPole-v1")
        for wrap in _WRAPPERS:
            ref = wrap(ref)
        want = _reference_transitions(ref, seed + i, actions[:, i])
        assert row == want, f"env {i}"
        assert sum(w[5] for w in want) >= 3  # truncated by the wrapper's limit, every 6 steps


def test_wrappers_must_be_callables():
    with pytest.raises(TypeError, match=r"GymEnv.*wrappers must be callables"):
        envs.GymEnv("CartPole-v1", wrappers=["TimeLimit"])  # pyright: ignore[reportArgumentType]  (the wrong type under test)


def test_async_vector_env_equals_sync():
    actions = _vector_actions(2, 40, 2)
    with envs.GymEnv("CartPole-v1", num_envs=2, vectorize="async") as env:
        got = _transitions_by_env(env, 3, actions)
        envs.check_env(env, steps=4)
    want = _transitions_by_env(envs.GymEnv("CartPole-v1", num_envs=2), 3, actions)
    assert got == want
    assert env.env.closed


def test_vector_env_check_env_rollout_and_stale_auto_reset():
    env = envs.GymEnv("Pendulum-v1", num_envs=2, max_episode_steps=3)
    envs.check_env(env, steps=7)
    traj = envs.rollout(env, None, env.reset(seed=0), steps=7)
    assert traj.batch_size == (2, 7) and traj["next", "observation"].shape == (2, 7, 3)
    assert traj["next", "truncated"][0].squeeze(-1).tolist() == [t % 3 == 2 for t in range(7)]
    # After the truncation at t=2 the next input is the new episode's first observation, not the final one.
    assert not torch.equal(traj["observation"][:, 3], traj["next", "observation"][:, 2])
    torch.testing.assert_close(traj["observation"][:, 2], traj["next", "observation"][:, 1], rtol=0, atol=0)
    td = env.reset(seed=0)
    outs = []
    for _ in range(3):
        out = env.step(envs.random_action(env, td))
        outs.append(out)
        td = env.auto_reset(out)
    with pytest.raises(ValueError, match=r"frl\.envs\.GymEnv\.auto_reset: td is not the output of this env's latest step"):
        env.auto_reset(outs[1])  # all done at step 3 only: done flags differ from the pending ones
    with pytest.raises(ValueError, match="num_envs"):
        envs.GymEnv("CartPole-v1", num_envs=0)
    with pytest.raises(ValueError, match="vectorize='threads'"):
        envs.GymEnv("CartPole-v1", num_envs=2, vectorize="threads")


# ---- Dict / Tuple observation and action spaces ---------------------------------------------------

class _StructuredEnv(gym.Env):
    """Dict observations (with "state" and a Tuple inside), Dict actions (with a Discrete(start=-1))."""

    def __init__(self):
        self.observation_space = spaces.Dict({
            "state": spaces.Box(-10.0, 10.0, (2,), np.float32),
            "flags": spaces.MultiBinary(3),
            "pair": spaces.Tuple((spaces.Discrete(5), spaces.Box(-1.0, 1.0, (1,), np.float32))),
        })
        self.action_space = spaces.Dict({"move": spaces.Discrete(3, start=-1),
                                         "force": spaces.Box(-1.0, 1.0, (2,), np.float32)})
        self.t = 0

    def _obs(self):
        return {"state": self.pos.copy(), "flags": (np.arange(3) < self.t % 4).astype(np.int8),
                "pair": (self.t % 5, np.array([self.np_random.uniform(-1, 1)], np.float32))}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.pos = 0, self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self._obs(), {}

    def step(self, action):
        assert self.action_space.contains(action), action
        self.t += 1
        self.pos = np.clip(self.pos + action["move"] + action["force"], -10, 10).astype(np.float32)
        return self._obs(), float(self.pos.sum()), bool(abs(self.pos[0]) >= 10), self.t >= 6, {}


gym.register("frl-test/Structured-v0", entry_point=_StructuredEnv)  # pyright: ignore[reportArgumentType]  (gymnasium's stub wants a creator function; a class is one)


@pytest.mark.parametrize("num_envs", [None, 2], ids=["single", "sync2"])
def test_dict_and_tuple_spaces(num_envs):
    env = envs.GymEnv("frl-test/Structured-v0", num_envs=num_envs)
    spec, action_spec = env.observation_spec, env.action_spec
    assert isinstance(spec, S.Composite) and isinstance(action_spec, S.Composite)
    # TorchRL's layout: the Dict's keys at the root, "state" renamed to "observation".
    assert set(spec.keys()) == {"observation", "flags", "pair"}
    move_spec = action_spec["move"]
    assert isinstance(move_spec, S.Bounded) and move_spec.low.item() == -1
    envs.check_env(env, steps=8)
    batch = () if num_envs is None else (num_envs,)
    ref = gym.make("frl-test/Structured-v0") if num_envs is None else gym.vector.SyncVectorEnv(
        [lambda: gym.make("frl-test/Structured-v0")] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs, _ = ref.reset(seed=1)
    td = env.reset(seed=1)
    for t in range(8):
        assert td["observation"].shape == batch + (2,) and td["pair", "1"].shape == batch + (1,)
        torch.testing.assert_close(td["observation"], torch.as_tensor(obs["state"]), rtol=0, atol=0)
        torch.testing.assert_close(td["flags"], torch.as_tensor(obs["flags"]), rtol=0, atol=0)
        torch.testing.assert_close(td["pair", "0"], torch.as_tensor(obs["pair"][0]), rtol=0, atol=0)
        move = np.full(batch, t % 3 - 1, dtype=np.int64)
        force = np.full(batch + (2,), 0.5, dtype=np.float32)
        td["action"] = TensorDict({"move": torch.as_tensor(move), "force": torch.as_tensor(force)}, batch_size=batch)
        out = env.step(td)
        a = {"move": move[()] if num_envs is None else move, "force": force}
        obs, r, term, trunc, info = ref.step(a)
        ended = np.asarray(term) | np.asarray(trunc)
        final = obs["state"] if num_envs is None or not ended.any() else np.stack(
            [info["final_obs"][i]["state"] if ended[i] else obs["state"][i] for i in range(num_envs)])
        torch.testing.assert_close(out["next", "observation"], torch.as_tensor(final), rtol=0, atol=0)
        assert out["next", "truncated"].reshape(-1).tolist() == np.atleast_1d(trunc).tolist()
        td = env.auto_reset(out)
        if num_envs is None and (term or trunc):
            obs, _ = ref.reset()
    with pytest.raises(TypeError, match=r"action must be a TensorDict"):
        env.step(td.clone().set("action", torch.zeros(batch + (2,))))


@pytest.mark.parametrize("id,kwargs", [("FrozenLake-v1", {"is_slippery": True}), ("Blackjack-v1", {})])
def test_discrete_and_tuple_observations_match_gymnasium(id, kwargs):
    # FrozenLake observes a Discrete index; Blackjack a Tuple of three Discretes ("observation", "0" / "1" / "2").
    ref, env = gym.make(id, **kwargs), envs.GymEnv(id, **kwargs)
    envs.check_env(env, steps=20)

    def same(td_obs, obs):
        if isinstance(obs, tuple):
            assert list(td_obs.keys()) == [str(i) for i in range(len(obs))]
            for i, o in enumerate(obs):
                assert td_obs[str(i)].dtype == torch.int64 and td_obs[str(i)].item() == o
        else:
            assert td_obs.shape == () and td_obs.dtype == torch.int64 and td_obs.item() == obs

    obs, _ = ref.reset(seed=2)
    td = env.reset(seed=2)
    ends = 0
    for a in _actions(ref.action_space, 60, 1):
        same(td["observation"], obs)
        out = env.step(td.set("action", torch.as_tensor(a)))
        obs, r, term, trunc, _ = ref.step(a)
        same(out["next", "observation"], obs)
        assert out["next", "reward"].item() == r and out["next", "terminated"].item() == term
        td = env.auto_reset(out)
        if term or trunc:
            ends += 1
            obs, _ = ref.reset()
    assert ends >= 2
