"""bench/offpolicy_step.py runs end to end (its --smoke mode: frl's eager SAC and TD3 updates, 2 calls, no TorchRL)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_smoke_run_prints_both_frl_rows():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "bench/offpolicy_step.py", "--smoke"], capture_output=True, text=True,
                          cwd=root, env=dict(os.environ, PYTHONPATH=root), timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = {line.split("  ")[0].strip(): line.split() for line in done.stdout.splitlines()}
    for name in ("SAC frl", "TD3 frl"):
        assert name in rows, done.stdout
        assert float(rows[name][3]) > 0, done.stdout  # the eager ms column
    assert "TorchRL" not in done.stdout
