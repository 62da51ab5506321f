"""Smoke runs of the examples with a tiny budget, through their command lines, as a user runs them."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name, out, *flags):
    env = dict(os.environ, FRL_NO_PROGRESS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--out", str(out), *flags],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert "final average return" in proc.stdout and "fps" in proc.stdout
    return metrics


def test_ppo_pendulum_two_vmapped_seeds_compiled(tmp_path):
    m = run_example("ppo_pendulum.py", tmp_path, "--total-frames", "4096", "--num-envs", "8", "--rollout-len", "256",
                    "--minibatch-size", "256", "--epochs", "1", "--num-seeds", "2")
    assert m["num_seeds"] == 2 and m["frames"] == 2 * 4096
    # 8 envs x 512 steps: each env finishes two 200-step episodes.
    assert m["episodes_per_seed"] == [16, 16]
    assert len(m["per_seed_returns"]) == 2 and all(-2000 < r < 0 for r in m["per_seed_returns"])
    assert set(m) >= {"final_return", "frames", "seconds", "fps", "per_seed_returns"}


def test_ppo_cartpole_eager(tmp_path):
    m = run_example("ppo_cartpole.py", tmp_path, "--total-frames", "2048", "--num-envs", "8", "--rollout-len", "128",
                    "--minibatch-size", "256", "--epochs", "1", "--no-compile")
    assert m["frames"] == 2048 and m["episodes_per_seed"][0] > 0
    assert 1 <= m["final_return"] <= 500


@pytest.mark.parametrize("name", ["ppo_pendulum.py", "ppo_cartpole.py", "dqn_cartpole.py", "sac_pendulum.py",
                                  "td3_pendulum.py"])
def test_help_documents_every_option(name):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), "--help"], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120).stdout
    for flag in ("--total-frames", "--seed", "--num-seeds", "--compile", "--no-compile", "--out"):
        assert flag in out, flag


def test_dqn_cartpole_eager_with_prioritized_replay(tmp_path):
    m = run_example("dqn_cartpole.py", tmp_path, "--total-frames", "2048", "--learning-starts", "512",
                    "--batch-size", "32", "--no-compile", "--num-seeds", "2")
    assert m["num_seeds"] == 2 and m["frames"] == 2 * 2048
    assert all(e > 0 for e in m["episodes_per_seed"])


def test_sac_pendulum_eager_two_seeds(tmp_path):
    m = run_example("sac_pendulum.py", tmp_path, "--total-frames", "600", "--learning-starts", "400",
                    "--batch-size", "32", "--num-cells", "32", "--no-compile", "--num-seeds", "2")
    assert m["num_seeds"] == 2 and m["frames"] == 2 * 600
    # 600 steps of one env: three 200-step (truncated) episodes per seed, returns in Pendulum's range.
    assert m["episodes_per_seed"] == [3, 3]
    assert all(-2000 < r < 0 for r in m["per_seed_returns"])


def test_td3_pendulum_eager_two_seeds(tmp_path):
    m = run_example("td3_pendulum.py", tmp_path, "--total-frames", "600", "--learning-starts", "400",
                    "--batch-size", "32", "--num-cells", "32", "--no-compile", "--num-seeds", "2")
    assert m["num_seeds"] == 2 and m["frames"] == 2 * 600
    assert m["episodes_per_seed"] == [3, 3]
    assert all(-2000 < r < 0 for r in m["per_seed_returns"])


EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))
BANNERS = {"ppo_pendulum.py": ("COLLECT", "ADVANTAGES", "UPDATE", "LOG"),
           "ppo_cartpole.py": ("COLLECT", "ADVANTAGES", "UPDATE", "LOG"),
           "dqn_cartpole.py": ("COLLECT", "STORE", "SAMPLE + UPDATE", "LOG"),
           "sac_pendulum.py": ("COLLECT", "STORE", "SAMPLE + UPDATE", "LOG"),
           "td3_pendulum.py": ("COLLECT", "STORE", "SAMPLE + UPDATE", "LOG"),
           "model_based_pendulum.py": ("COLLECT", "STORE", "LOG", "UPDATE")}  # a round: steps, then the fit


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_has_one_shape(name):
    """Self-contained: its own Args, its loop's phases marked in order, the library's compile helper, the
    experiment layer's report; no settings or loops hidden in the library."""
    with open(os.path.join(ROOT, "examples", name)) as f:
        source = f.read()
    assert name in BANNERS, f"examples/{name}: add its loop's banners to BANNERS"
    positions = [source.find(f"# {banner}:") for banner in BANNERS[name]]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), (name, positions)
    assert "class Args:" in source and "tyro.cli(Args)" in source
    assert "compile_step(" in source and "from frl.experiment import RunReport" in source
    assert "References:" in source
    for hidden in ("PPOTrainer", "run_ppo", "PPOArgs", "OffPolicyArgs", "_seeds("):
        assert hidden not in source, f"examples/{name} uses {hidden}"
    assert source.count("\n") <= 230, f"examples/{name}: {source.count(chr(10))} lines"
