"""frl._checks: check_values raises on bad values eagerly, under vmap and compiled, and never drops
out; check_key_or_seed gives the five key-or-seed callers one check and one message."""

import functools

import pytest
import torch

import frl
from frl import random as fr
from frl._checks import check_key_or_seed, check_values


def _guarded(x):
    return check_values("frl.test", "x", x, (x >= 0) & (x <= 1), "[0, 1]") * 2


@pytest.mark.parametrize("way", ["eager", "vmap", "compiled", "compiled vmap"])
def test_check_values_raises_every_way(way):
    fn = torch.vmap(_guarded) if "vmap" in way else _guarded
    if "compiled" in way:
        torch._dynamo.reset()
        fn = torch.compile(fn, fullgraph=True)
    good = torch.rand(3, 4)
    torch.testing.assert_close(fn(good), good * 2)
    bad = good.clone()
    bad[2, 1] = 1.5  # one member of the vmapped batch only
    with pytest.raises(RuntimeError, match=r"frl\.test: x has values outside \[0, 1\]"):
        fn(bad)
    nan = good.clone()
    nan[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="outside"):
        fn(nan)


# --- check_key_or_seed ------------------------------------------------------------------------------


def test_check_key_or_seed_cases():
    fn = "frl.test.reset"
    check_key_or_seed(fn, fr.key(0), None)
    check_key_or_seed(fn, None, 3)
    check_key_or_seed(fn, None, None, required=False)
    with pytest.raises(TypeError, match=r"^frl\.test\.reset: give either key or seed, not both$"):
        check_key_or_seed(fn, fr.key(0), 3)
    with pytest.raises(TypeError, match=r"^frl\.test\.reset: give a key \(frl\.random\.key\(seed\)\) or seed=<int>$"):
        check_key_or_seed(fn, None, None)
    bad_key = r"^frl\.test\.reset: key must be an int64 tensor of shape \[2\] \(an frl\.random key: .*\), got "
    with pytest.raises(TypeError, match=bad_key + r"int32 \[2\]$"):
        check_key_or_seed(fn, fr.key(0).int(), None)
    with pytest.raises(TypeError, match=bad_key + r"int64 \[3, 2\]$"):
        check_key_or_seed(fn, fr.split(fr.key(0), 3), None)
    with pytest.raises(TypeError, match=bad_key + r"int$"):
        check_key_or_seed(fn, 7, None)


def test_check_key_or_seed_under_vmap_and_compile():
    # Per member under vmap ([2] each), and static metadata only: nothing to break a compiled graph.
    def f(key):
        check_key_or_seed("frl.test", key, None)
        return key + 1

    keys = fr.split(fr.key(0), 3)
    torch.testing.assert_close(torch.vmap(f)(keys), keys + 1)
    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(f, fullgraph=True)(keys[0]), keys[0] + 1)
    with pytest.raises(TypeError, match="got int64 \\[3, 2\\]"):
        f(keys)


def _model_env():
    from tests.envs.test_model_env import learned_model, starts

    env = learned_model()
    return functools.partial(env.reset, start=starts()), "frl.envs.ModelEnv.reset"


def _stateless_env():
    return functools.partial(frl.envs.make("Pendulum-v1").reset, batch_size=(2,)), "frl.envs.Pendulum.reset"


def _gym_env():
    env = frl.envs.GymEnv("Pendulum-v1")
    return env.reset, "frl.envs.GymEnv.reset"


def _sync_collector():
    from frl.collectors import SyncCollector

    env = frl.envs.make("CartPole-v1")
    return (functools.partial(SyncCollector, env, None, frames_per_batch=4, batch_size=(2,), compile=False),
            "frl.collectors.SyncCollector")


def _async_collector():
    from frl.collectors import AsyncCollector

    make_env = functools.partial(frl.envs.make, "CartPole-v1")
    return (functools.partial(AsyncCollector, make_env, None, num_workers=1, frames_per_batch=4),
            "frl.collectors.AsyncCollector")


CALLERS = {"Env.reset": _stateless_env, "ModelEnv.reset": _model_env, "GymEnv.reset": _gym_env,
           "SyncCollector": _sync_collector, "AsyncCollector": _async_collector}


@pytest.mark.parametrize("caller", list(CALLERS))
def test_key_or_seed_callers_share_one_check(caller):
    call, name = CALLERS[caller]()
    with pytest.raises(TypeError, match=rf"^{name}: give either key or seed, not both$"):
        call(key=fr.key(0), seed=0)
    with pytest.raises(TypeError, match=rf"^{name}: key must be an int64 tensor of shape \[2\] \(an frl\.random key: .*\), "
                                        r"got int32 \[2\]$"):
        call(key=fr.key(0).int())
    with pytest.raises(TypeError, match=rf"^{name}: key must be an int64 tensor of shape \[2\] .* got int64 \[4, 2\]$"):
        call(key=fr.split(fr.key(0), 4))
    if caller != "GymEnv.reset":  # a host env's reset may take neither (it continues its own stream)
        with pytest.raises(TypeError, match=rf"^{name}: give a key \(frl\.random\.key\(seed\)\) or seed=<int>$"):
            call()
