"""SyncCollector against independent references: frl.envs.rollout, hand-written loops, hand counts."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from tensordict import TensorDict

import frl
from frl import random as fr
from frl.collectors import SyncCollector
from tests.collectors.host_envs import CounterEnv, counter_policy

B, T = 3, 5


def _cartpole():
    # Short episodes, so that every collection crosses episode ends and batch ends.
    return frl.envs.make("CartPole-v1", max_episode_steps=4)


def _actor():
    actor = frl.nn.probabilistic_actor(frl.nn.mlp(4, 2, num_cells=(8,)), "categorical")
    return actor, actor.init(fr.key(0))


def _step_keys(seed, batches, steps=T):
    """The documented schedule: key -> (k_env, k_policy); batch i step t uses split(fold_in(k_policy, i), T)[t]."""
    k_env, k_policy = fr.split(fr.key(seed))
    return k_env, [fr.split(fr.fold_in(k_policy, i), steps)[t] for i in range(batches) for t in range(steps)]


def _bookkeeping_reference(reward, done):
    """Episode returns and TorchRL-style trajectory ids by a plain loop over [N, T] tensors."""
    n, steps = reward.shape
    ret = torch.zeros(n, dtype=torch.float64)
    ids = list(range(n))
    nxt = n
    exp_ret = torch.zeros(n, steps, dtype=torch.float64)
    exp_ids = torch.zeros(n, steps, dtype=torch.int64)
    for t in range(steps):
        for i in range(n):
            ret[i] += float(reward[i, t])
            exp_ret[i, t] = ret[i]
            exp_ids[i, t] = ids[i]
        for i in range(n):  # row-major order of the done envs
            if done[i, t]:
                ret[i] = 0.0
                ids[i] = nxt
                nxt += 1
    return exp_ret, exp_ids


def test_sync_equals_rollout_across_batches():
    env = _cartpole()
    actor, params = _actor()
    collector = SyncCollector(env, actor, params, frames_per_batch=B * T, total_frames=3 * B * T,
                              batch_size=(B,), seed=7, compile=False)
    batches = list(collector)
    assert [tuple(b.batch_size) for b in batches] == [(B, T)] * 3
    assert collector.frames == 3 * B * T and len(collector) == 3
    got = TensorDict.cat(batches, dim=1)

    k_env, keys = _step_keys(7, 3)
    it = iter(keys)
    ref = frl.envs.rollout(env, lambda td: actor.apply(params, td, next(it)), env.reset(k_env, (B,)), steps=3 * T)
    ref_keys = set(ref.keys(True, True))
    extra = set(got.keys(True, True)) - ref_keys
    assert extra == {("collector", "traj_ids"), ("next", "episode_return")}
    for k in ref_keys:
        torch.testing.assert_close(got.get(k), ref.get(k), rtol=0, atol=0, msg=lambda m: f"{k}: {m}")
    done = got["next", "done"][..., 0]
    assert done.any() and not done.all()  # the bookkeeping below is exercised

    exp_ret, exp_ids = _bookkeeping_reference(got["next", "reward"][..., 0], done)
    torch.testing.assert_close(got["next", "episode_return"][..., 0].double(), exp_ret)
    assert torch.equal(got["collector", "traj_ids"], exp_ids)
    # CartPole pays 1 per step: an episode's return is its length, counted from step_count.
    ends = got["next", "episode_return"][done]
    assert torch.equal(ends[:, 0].long(), got["next", "step_count"][done][:, 0])


def test_sync_budget_cuts_last_batch_and_stops():
    env = _cartpole()
    actor, params = _actor()
    kw: dict[str, Any] = dict(frames_per_batch=B * T, batch_size=(B,), seed=3, compile=False)
    capped = SyncCollector(env, actor, params, total_frames=2 * B * T + 2 * B, **kw)
    assert len(capped) == 3
    shapes = [tuple(b.batch_size) for b in capped]
    assert shapes == [(B, T), (B, T), (B, 2)]
    assert capped.frames == 2 * B * T + 2 * B
    assert list(capped) == []  # the budget is spent: iteration stops
    with pytest.raises(StopIteration):
        capped.next_batch()

    # The cut batch is the first two steps of the batch an endless collector gives.
    capped = SyncCollector(env, actor, params, total_frames=2 * B * T + 2 * B, **kw)
    endless = SyncCollector(env, actor, params, total_frames=-1, **kw)
    with pytest.raises(TypeError, match="no length"):
        len(endless)
    for a, b in zip(capped, endless):
        n = a.batch_size[-1]
        torch.testing.assert_close(a.to_dict(), b[:, :n].to_dict(), rtol=0, atol=0)


def test_sync_bad_arguments():
    env = _cartpole()
    with pytest.raises(ValueError, match=r"frames_per_batch=10 must be a positive multiple of the number of envs 3"):
        SyncCollector(env, None, frames_per_batch=10, batch_size=(3,), seed=0, compile=False)
    with pytest.raises(ValueError, match=r"total_frames=20 must be -1 or a positive multiple"):
        SyncCollector(env, None, frames_per_batch=9, total_frames=20, batch_size=(3,), seed=0, compile=False)
    with pytest.raises(TypeError, match="give a key"):
        SyncCollector(env, None, frames_per_batch=9, batch_size=(3,), compile=False)


def test_sync_update_policy_weights_takes_effect():
    env = _cartpole()
    collector = SyncCollector(env, counter_policy, TensorDict(a=torch.tensor(0)), frames_per_batch=B * T,
                              batch_size=(B,), seed=0, compile=False)
    first = collector.next_batch()
    collector.update_policy_weights(TensorDict(a=torch.tensor(1)))
    second = collector.next_batch()
    assert (first["action"] == 0).all() and (second["action"] == 1).all()
    # The env state carried on: the second batch starts where the first ended.
    # The env state carried on: where the first batch's last step did not end an episode, the
    # second batch starts from its next observation; where it did, from a fresh episode.
    ended = first["next", "done"][:, -1, 0]
    assert not ended.all()
    assert torch.equal(second["observation"][~ended, 0], first["next", "observation"][~ended, -1])
    assert (second["step_count"][ended, 0] == 0).all() and (second["step_count"][~ended, 0] > 0).all()


def test_sync_compiled_equals_eager_no_recompile():
    env = _cartpole()
    actor, params = _actor()
    new_params = actor.init(fr.key(11))
    kw: dict[str, Any] = dict(frames_per_batch=2 * 4, batch_size=(2,), seed=5)
    eager = SyncCollector(env, actor, params, compile=False, **kw)
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True):
        compiled = SyncCollector(env, actor, params, compile=True, **kw)
        outs = []
        for i in range(3):
            if i == 2:  # new weights: used by the compiled step without recompiling
                compiled.update_policy_weights(new_params)
                eager.update_policy_weights(new_params)
            outs.append((compiled.next_batch(), eager.next_batch()))
    for c, e in outs:
        torch.testing.assert_close(c.to_dict(), e.to_dict())
    # The update changed the policy: the last batch's logits are those of new_params.
    last = outs[-1][0]
    torch.testing.assert_close(last["logits"], actor.apply(new_params, last, fr.key(0))["logits"])


@pytest.mark.parametrize("compile", [False, True], ids=["eager_policy", "compiled_policy"])
def test_sync_host_env_matches_eager_loop(compile):
    lengths = (2, 3, 5)
    collector = SyncCollector(CounterEnv(lengths), counter_policy, TensorDict(a=torch.tensor(1)),
                              frames_per_batch=3 * 4, total_frames=3 * 4 * 3, seed=0, compile=compile)
    assert collector.host and collector.batch_size == (3,)
    got = TensorDict.cat(list(collector), dim=1)

    # The protocol by hand: policy -> step -> the env's own auto_reset.
    env = CounterEnv(lengths)
    td, frames = env.reset(), []
    for _ in range(12):
        out = env.step(counter_policy(TensorDict(a=torch.tensor(1)), td))
        frames.append(out)
        td = env.auto_reset(out)
    ref = TensorDict.stack(frames, 1)
    for k in ref.keys(True, True):
        assert torch.equal(got.get(k), ref.get(k)), k
    # Reward 2 per step: an episode of env i ends with return 2 * lengths[i], after lengths[i] steps.
    done = got["next", "done"][..., 0]
    for i, n in enumerate(lengths):
        assert done[i].nonzero()[:, 0].tolist() == list(range(n - 1, 12, n))
        assert (got["next", "episode_return"][i][done[i]] == 2.0 * n).all()
    exp_ret, exp_ids = _bookkeeping_reference(got["next", "reward"][..., 0], done)
    assert torch.equal(got["collector", "traj_ids"], exp_ids)
    torch.testing.assert_close(got["next", "episode_return"][..., 0].double(), exp_ret)
