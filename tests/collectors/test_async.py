"""AsyncCollector: frame budget, valid transitions, weight broadcast, and failing workers.

Each test spawns 2 worker processes (seconds each: they import torch), so there are few tests. The
collectors get ``timeout=120``: a hang fails the test with TimeoutError instead of blocking the run.
"""

from __future__ import annotations

import functools

import pytest
import torch
from tensordict import TensorDict

import frl
from frl.collectors import AsyncCollector, WorkerError
from tests.collectors.host_envs import CounterEnv, counter_policy


def _check_transitions(batch):
    """Within a batch, step t+1 starts from step t's next observation unless step t ended an episode."""
    obs, nxt = batch["observation"], batch["next", "observation"]
    done = batch["next", "done"][..., 0]
    cont = ~done[..., :-1]
    assert torch.equal(obs[..., 1:, :][cont], nxt[..., :-1, :][cont])
    # A trajectory id changes exactly after an episode end.
    ids = batch["collector", "traj_ids"]
    assert torch.equal(ids[..., 1:] != ids[..., :-1], done[..., :-1])


def test_async_stateless_env_budget_versions_and_weights():
    make_env = functools.partial(frl.envs.make, "CartPole-v1", max_episode_steps=6)
    total, per_batch = 4 * 8 * 7, 4 * 8  # 7 batches of [4, 8]: the budget ends mid-stream
    seen = []
    with AsyncCollector(make_env, counter_policy, TensorDict(a=torch.tensor(0)), num_workers=2,
                        frames_per_batch=per_batch, total_frames=total - 4 * 3, batch_size=(4,), seed=0,
                        timeout=120) as collector:
        assert len(collector) == 7
        for i, batch in enumerate(collector):
            seen.append(batch)
            if i == 0:
                collector.update_policy_weights(TensorDict(a=torch.tensor(1)))
        assert collector.frames == total - 4 * 3
    assert collector._closed and all(not p.is_alive() for p in collector._workers)

    shapes = [tuple(b.batch_size) for b in seen]
    assert shapes == [(4, 8)] * 6 + [(4, 5)]  # the last batch is cut to the budget
    for batch in seen:
        _check_transitions(batch)
        version = batch["collector", "policy_version"]
        # A batch uses one version throughout, and its actions are those of that version's weights.
        assert (version == version.flatten()[0]).all()
        assert (batch["action"] == version).all()
        wid = batch["collector", "worker_id"]
        assert (batch["collector", "traj_ids"] % 2 == wid).all()
    versions = [int(b["collector", "policy_version"].flatten()[0]) for b in seen]
    # Updated after the first batch: at most 4 stale batches are in flight then (2 queued, 1 per
    # worker), so the last two batches must use the new weights.
    assert versions[0] == 0 and versions[-2:] == [1, 1]
    # Each worker's episodes run on across its batches (which arrive in order): a batch starts from
    # the previous one's last next observation, except where that step ended an episode.
    by_worker = {}
    for b in seen:
        by_worker.setdefault(int(b["collector", "worker_id"].flatten()[0]), []).append(b)
    for batches in by_worker.values():
        for prev, cur in zip(batches, batches[1:]):
            cont = ~prev["next", "done"][:, -1, 0]
            assert torch.equal(cur["observation"][cont, 0], prev["next", "observation"][cont, -1])
            assert torch.equal(cur["collector", "traj_ids"][cont, 0], prev["collector", "traj_ids"][cont, -1])
    # The two workers run their own seeds: their first batches differ.
    firsts = {}
    for b in seen:
        firsts.setdefault(int(b["collector", "worker_id"].flatten()[0]), b)
    if len(firsts) == 2:
        assert not torch.equal(firsts[0]["observation"], firsts[1]["observation"])


@pytest.mark.parametrize("failure", ["raise", "exit"])
def test_async_failing_worker_raises_in_main(failure):
    # The env fails at its 10th step: each worker first delivers two valid batches of 4 steps.
    make_env = functools.partial(CounterEnv, (2, 3, 5), **{f"{failure}_at": 10})
    collector = AsyncCollector(make_env, counter_policy, TensorDict(a=torch.tensor(1)), num_workers=2,
                               frames_per_batch=12, seed=0, timeout=120)
    delivered = []
    expected = "planned failure at step 10" if failure == "raise" else "died with exit code 3"
    with pytest.raises(WorkerError, match=expected):
        for batch in collector:
            _check_transitions(batch)
            assert (batch["next", "reward"] == 2.0).all()
            delivered.append(batch)
    assert len(delivered) <= 4
    # The error shut everything down.
    assert collector._closed and all(not p.is_alive() for p in collector._workers)
    with pytest.raises(RuntimeError, match="shut down"):
        next(iter(collector))
