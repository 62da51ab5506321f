"""PPOTrainer: same seed, same run; compiled pieces agree with eager and never recompile across iterations."""

import pytest
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


def test_init_reads_seeds_as_seeds_and_keys_only_through_keys():
    trainer = make_trainer(False)
    from_list = trainer.init([3, 4])
    # An integer tensor of shape [N] is N seeds (it used to be read as keys, silently).
    from_tensor = trainer.init(torch.tensor([3, 4]))
    from_keys = trainer.init(keys=torch.stack([frl.random.key(3), frl.random.key(4)]))
    for state in (from_tensor, from_keys):
        assert frl.tree.tree_allclose(state.params, from_list.params, rtol=0, atol=0)
        assert torch.equal(state.key, from_list.key)


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": torch.stack([frl.random.key(0), frl.random.key(1)])},
     r"seeds= is a torch.int64 tensor of shape \[2, 2\], expected ints: an integer tensor of shape \[N\]"),
    ({"seeds": torch.tensor([0.0, 1.0])}, r"seeds= is a torch.float32 tensor of shape \[2\], expected ints"),
    ({"keys": torch.tensor([0, 1])}, r"keys= is a torch.int64 tensor of shape \[2\], expected frl.random keys"),
    ({"keys": torch.zeros(2, 2)}, r"keys= is a torch.float32 tensor of shape \[2, 2\], expected frl.random keys"),
    ({}, r"give exactly one of seeds= \(ints\) and keys="),
    ({"seeds": [0], "keys": frl.random.key(0)[None]}, r"give exactly one of seeds="),
], ids=["keys-as-seeds", "float-seeds", "seeds-as-keys", "float-keys", "neither", "both"])
def test_init_rejects_ambiguous_seeds_and_keys(kwargs, match):
    with pytest.raises(ValueError, match=r"frl.train.PPOTrainer.init: " + match):
        make_trainer(False).init(**kwargs)
