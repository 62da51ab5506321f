"""frl.envs under the three ways to run: eager, torch.func.vmap, torch.compile(fullgraph=True).

The arg sets of each `three_ways` call are consecutive steps of one run, so the compiled function
is shown not to recompile across the steps of a loop. Batches are tiny: compile time dominates.
"""


import frl
from frl import envs


def _consecutive(env, n, batch=(3,)):
    """n consecutive inputs of ``step`` (with random actions and auto-reset), from seed 0."""
    td = envs.random_action(env, env.reset(seed=0, batch_size=batch))
    out = [td]
    for _ in range(n - 1):
        td = envs.random_action(env, envs.step_and_reset(env, td)[1])
        out.append(td)
    return out


def test_reset_three_ways(three_ways):
    env = envs.make("CartPole-v1")
    three_ways(lambda key: env.reset(key, (3,)), (frl.random.key(0),), (frl.random.key(1),))


def test_step_and_reset_three_ways(three_ways, assert_pure):
    # A short time limit puts resets among the compared steps.
    env = envs.make("CartPole-v1", max_episode_steps=2)
    tds = _consecutive(env, 3)
    assert_pure(envs.step_and_reset, env, tds[0])
    outs = three_ways(lambda td: envs.step_and_reset(env, td), *[(td,) for td in tds])
    assert any(bool(o[0]["next", "done"].any()) for o in outs)


def test_rollout_three_ways(three_ways):
    # rollout = random_action -> step -> auto_reset, unrolled: this covers each of them.
    env = envs.make("Pendulum-v1", max_episode_steps=2)
    tds = _consecutive(env, 2)
    outs = three_ways(lambda td: envs.rollout(env, None, td, 2), (tds[0],), (tds[1],))
    assert bool(outs[0]["next", "done"].any())
