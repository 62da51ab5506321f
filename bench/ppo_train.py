"""End-to-end speed of examples/ppo_pendulum.py: 1 seed against 8 vmapped seeds, same frames per seed.

    python bench/ppo_train.py [--frames 200000] [--seeds 1 8]

Each run trains from scratch in a fresh process (so compile caches do not carry over) and reports its
wall time, the time of the first iteration (mostly compilation), and frames per second after it. The
target: 8 seeds take at most 3x the wall time of 1 seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_line, print_table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(frames: int, seeds: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, os.path.join(ROOT, "examples", "ppo_pendulum.py"), "--total-frames", str(frames),
               "--num-seeds", str(seeds), "--out", out]
        subprocess.run(cmd, check=True, env=dict(os.environ, FRL_NO_PROGRESS="1"), stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "metrics.json")) as f:
            return json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200_000, help="frames per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    print(machine_line())
    rows, base = [], None
    for s in args.seeds:
        m = run(args.frames, s)
        steady = m["seconds"] - m["first_iteration_seconds"]
        base = base or m["seconds"]
        rows.append([s, m["frames_per_seed"], m["seconds"], m["first_iteration_seconds"],
                     m["frames"] / m["seconds"], (m["frames"] - m["frames_per_iteration"]) / steady,
                     m["seconds"] / base, m["final_return"]])
    print_table(["seeds", "frames/seed", "wall s", "first iter s", "fps (all)", "fps (after 1st)",
                 "wall vs 1st row", "final return"], rows)


if __name__ == "__main__":
    main()
