"""bench/nn_wrap.py runs end to end (its --smoke mode: the eager rows, 3 calls)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_smoke_run_prints_both_networks():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "bench/nn_wrap.py", "--smoke"], capture_output=True, text=True,
                          cwd=root, env=dict(os.environ, PYTHONPATH=root), timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [line.split() for line in done.stdout.splitlines()]
    wrapped = [line for line in lines if "from_torch(nn.Sequential)" in line]
    assert len(wrapped) == 2, done.stdout
    assert all(float(line[line.index("from_torch(nn.Sequential)") + 1]) > 0 for line in wrapped), done.stdout
