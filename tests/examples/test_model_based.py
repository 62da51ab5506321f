"""Smoke run of the model-based example (PETS-style planning over a learned ensemble) with a tiny budget."""

import os
import subprocess
import sys

import pytest

from tests.examples.test_examples import ROOT, run_example


def test_model_based_pendulum_eager_tiny(tmp_path):
    # Two rounds of 2 envs x 50 steps: a random round, ensemble training, a round of CEM planning.
    m = run_example("model_based_pendulum.py", tmp_path, "--total-frames", "200", "--num-envs", "2",
                    "--max-episode-steps", "50", "--train-steps", "5", "--popsize", "16", "--elites", "4",
                    "--horizon", "4", "--iterations", "2", "--no-compile")
    assert m["real_steps"] == m["frames"] == 200 and m["rounds"] == 2
    assert m["episodes_per_seed"] == [4] and m["evaluation_episodes"] == 2
    assert m["gradient_steps"] == 5 and len(m["round_returns"]) == 2
    # 50 steps of Pendulum: each reward is in [-16.3, 0].
    assert all(-50 * 16.3 <= r <= 0 for r in m["round_returns"])
    assert m["final_return"] == pytest.approx(m["round_returns"][-1], rel=1e-5)


def test_model_based_pendulum_help_documents_every_option():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "model_based_pendulum.py"), "--help"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120).stdout
    for flag in ("--total-frames", "--num-envs", "--ensemble-size", "--horizon", "--popsize", "--elites",
                 "--iterations", "--oracle", "--seed", "--compile", "--no-compile", "--out"):
        assert flag in out, flag
