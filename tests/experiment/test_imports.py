"""The pure core imports no host-side library: tqdm, matplotlib and tyro belong to frl.experiment and the examples."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_LIBRARIES = ("tqdm", "matplotlib", "tyro")

# torch itself imports tqdm (torch.hub), so count only the modules that importing frl adds.
PROBE = """
import sys
import tensordict, torch
before = set(sys.modules)
import frl, frl.train, frl.buffers, frl.objectives, frl.envs
added = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in {libs!r})
print(",".join(added))
print("experiment" if "frl.experiment" in sys.modules else "")
"""


def test_pure_core_imports_no_progress_bar_plotting_or_command_line_library():
    proc = subprocess.run([sys.executable, "-c", PROBE.format(libs=set(HOST_LIBRARIES))], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    added, experiment = (proc.stdout.splitlines() + ["", ""])[:2]
    assert added == "", f"importing frl pulled in {added}"
    assert experiment == "", "import frl imported frl.experiment"


def test_experiment_layer_exports_the_run_report():
    import frl.experiment

    assert frl.experiment.__all__ == ["RunReport"]
    assert frl.experiment.RunReport.__module__ == "frl.experiment.report"
