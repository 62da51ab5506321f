"""PPOTrainer: same seed, same run; compiled pieces agree with eager and never recompile across iterations."""

import torch

import frl
from frl.train import PPOConfig, PPOTrainer


def make_trainer(compile):
    env = frl.envs.make("Pendulum-v1")
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(3, 2, num_cells=(8,)), distribution="tanh_normal",
                                       action_low=-2.0, action_high=2.0)
    critic = frl.nn.value_operator(frl.nn.mlp(3, 1, num_cells=(8,)))
    config = PPOConfig(num_envs=4, rollout_len=8, epochs=2, minibatch_size=16, gamma=0.9)
    return PPOTrainer(env, actor, critic, frl.optim.adam(1e-2), config, compile=compile)


def run(trainer, seeds, iterations):
    state = trainer.init(seeds)
    for _ in range(iterations):
        state, rollout, metrics = trainer.iteration(state)
    return state, rollout, metrics


def test_same_seed_same_run_and_seeds_differ():
    a, rollout, _ = run(make_trainer(False), [0, 1], 2)
    b, _, _ = run(make_trainer(False), [0, 1], 2)
    assert frl.tree.tree_allclose(a.params, b.params, rtol=0, atol=0)
    assert rollout.batch_size == (2, 4, 8)
    assert not torch.equal(a.params["actor", "0", "weight"][0], a.params["actor", "0", "weight"][1])


def test_compiled_matches_eager_without_recompiles():
    eager, _, _ = run(make_trainer(False), [3, 4], 2)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):  # iterations 2 and 3 reuse iteration 1's graphs
        _, rollout, metrics = run(make_trainer(True), [3, 4], 3)
    compiled2, _, _ = run(make_trainer(True), [3, 4], 2)
    assert frl.tree.tree_allclose(compiled2.params, eager.params, rtol=1e-3, atol=1e-4)
    assert metrics["loss"].shape == (2,) and torch.isfinite(metrics["loss"]).all()
