"""Property test: per-episode transforms equal a plain Python loop for any action (and so done) pattern."""

from collections import deque

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frl import envs
from frl.envs import CatFrames, RewardSum, StepCounter, TransformedEnv
from tests.envs.transforms._envs import count_env

N, LIMIT = 3, 5
# Multiples of 0.5 keep every number exact; CountEnv terminates at x >= 3, StepCounter truncates at 5.
actions = st.lists(st.lists(st.sampled_from([-0.5, 0.0, 0.5, 1.0]), min_size=2, max_size=2), min_size=1, max_size=14)


@settings(max_examples=30)
@given(actions)
def test_reward_sum_step_counter_cat_frames_match_a_loop(seq):
    env = TransformedEnv(count_env(), [RewardSum(), StepCounter(LIMIT), CatFrames(N)])
    td = env.reset(seed=0, batch_size=(2,))
    # The reference: each env's x, episode return, step count and last N observations.
    ref = [{"x": 0.0, "ret": 0.0, "n": 0, "frames": deque([(0.0, 0.0)] * N, maxlen=N)} for _ in range(2)]
    for a in seq:
        out, td = envs.step_and_reset(env, td.set("action", torch.tensor(a).reshape(2, 1)))
        for i, e in enumerate(ref):
            e["x"] += a[i]
            e["ret"] += e["x"]
            e["n"] += 1
            e["frames"].append((e["x"], 2 * e["x"]))
            terminated, truncated = e["x"] >= 3.0, e["n"] >= LIMIT
            assert out["next", "episode_reward"][i].item() == e["ret"]
            assert out["next", "step_count"][i].item() == e["n"]
            assert out["next", "observation"][i].tolist() == [v for f in e["frames"] for v in f]
            assert out["next", "terminated"][i].item() == terminated
            assert out["next", "truncated"][i].item() == truncated
            if terminated or truncated:
                e.update(x=0.0, ret=0.0, n=0, frames=deque([(0.0, 0.0)] * N, maxlen=N))
            assert td["episode_reward"][i].item() == e["ret"] and td["step_count"][i].item() == e["n"]
            assert td["observation"][i].tolist() == [v for f in e["frames"] for v in f]
