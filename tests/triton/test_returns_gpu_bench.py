"""bench/returns_gpu.py runs end to end (its --smoke mode: CPU, Triton's interpreter, tiny sizes).

Its GPU figures can only be taken on a GPU machine; this keeps the script from rotting in between.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")


def test_smoke_run_prints_every_row():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "bench/returns_gpu.py", "--smoke"], capture_output=True, text=True,
                          cwd=root, env=dict(os.environ, PYTHONPATH=root), timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    for op in ("gae", "td_lambda", "vtrace"):
        assert any(line.startswith(op) and "frl triton ops" in line for line in done.stdout.splitlines()), done.stdout
    assert "vmapped step (8 members)" in done.stdout
