"""Every Triton kernel compiles for real GPUs (H100 and A100), without a GPU: frl_triton.gpu_check.

The interpreter tests check what the kernels compute; these check that Triton's GPU compiler and
NVIDIA's ptxas (both in Triton's wheel) accept them, and that no kernel spills registers to local
memory in float32 or bfloat16. The check runs in a subprocess because this test session runs under
TRITON_INTERPRET=1, whose kernels cannot be compiled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("triton")

KERNELS = ["gae", "td_lambda", "vtrace", "sumtree_sample", "sumtree_update"]


@pytest.fixture(scope="module")
def report() -> str:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "frl_triton.gpu_check", "--arch", "90", "80"],
                          capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def _rows(report: str) -> list[tuple[str, str, int, int]]:
    rows = re.findall(r"^(\S+)\s+(sm_\d+)\s+(\d+)\s+(\d+)\s+\d+$", report, flags=re.MULTILINE)
    return [(name, arch, int(regs), int(spill)) for name, arch, regs, spill in rows]


def test_every_kernel_compiles_for_h100_and_a100(report):
    rows = _rows(report)
    for kernel in KERNELS:
        for arch in ("sm_90", "sm_80"):
            assert any(n.split("[")[0] == kernel and a == arch for n, a, _, _ in rows), (kernel, arch, report)
    assert all(regs > 0 for _, _, regs, _ in rows), report  # ptxas reported on every kernel


def test_no_register_spills_in_float32_and_bfloat16(report):
    spilling = [(n, a, s) for n, a, _, s in _rows(report) if s > 0 and "fp64" not in n]
    assert not spilling, report


def test_refuses_to_run_under_the_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-m", "frl_triton.gpu_check"], capture_output=True, text=True,
                          env=env, cwd=root, timeout=120)
    assert done.returncode == 2 and "unset TRITON_INTERPRET" in done.stderr
