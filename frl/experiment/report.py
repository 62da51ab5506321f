"""Progress and results of a training run: a progress bar, ``metrics.json`` and a learning curve.

Host-side and stateful by nature (it prints and writes files); the training step itself stays pure.
"""

from __future__ import annotations

import json
import math
import os
import time

import torch

__all__ = ["RunReport"]


class RunReport:
    """Tracks finished-episode returns per seed, shows a progress bar, and writes the results.

    Args:
        total_frames: frames per seed the run will take (the progress bar's length).
        num_seeds: number of independent agents trained together.
        out: output folder for ``metrics.json`` and ``learning_curve.png`` (created if needed).
        desc: the progress bar's label.
        window: the final return is the mean over the last ``window`` episodes of each seed.
        frames_per_iteration: frames per seed of one training iteration (bench/ppo_train.py uses it to
            leave the first iteration, mostly compilation, out of the steady-state speed).

    Example:
        >>> report = RunReport(total_frames=4096, num_seeds=2, out="runs/demo")
        >>> report.log(frames, rollout["next", "episode_return"], rollout["next", "done"])  # [2, ...] each
        >>> metrics = report.finish({"args": {...}})  # writes runs/demo/metrics.json and learning_curve.png
    """

    def __init__(self, total_frames: int, num_seeds: int, out: str, desc: str = "train", window: int = 10,
                 frames_per_iteration: int = 0):
        from tqdm.auto import tqdm

        self.total_frames, self.num_seeds, self.out, self.window = total_frames, num_seeds, out, window
        self.frames_per_iteration = frames_per_iteration  # per seed; metrics.json reports it for all seeds
        self.returns: list[list[float]] = [[] for _ in range(num_seeds)]
        self.curve: list[tuple[int, list[float]]] = []  # (frames, mean recent return of each seed)
        self.frames = 0
        self.start = time.perf_counter()
        self.first_log_seconds: float | None = None  # start to first log: mostly compilation
        self.bar = tqdm(total=total_frames, desc=desc, unit="frame", unit_scale=True, dynamic_ncols=True,
                        disable=os.environ.get("FRL_NO_PROGRESS") == "1")

    def log(self, frames: int, episode_return: torch.Tensor, done: torch.Tensor) -> None:
        """Record the episodes that ended in a batch of transitions.

        Args:
            frames: frames per seed collected so far.
            episode_return: return accumulated up to each transition, shape [num_seeds, ...].
            done: where episodes ended, same shape (bool).
        """
        if self.first_log_seconds is None:
            self.first_log_seconds = time.perf_counter() - self.start
        ep = episode_return.reshape(self.num_seeds, -1).cpu()
        dn = done.reshape(self.num_seeds, -1).cpu()
        for s in range(self.num_seeds):
            self.returns[s].extend(ep[s][dn[s]].tolist())
        recent = self.recent_returns()
        self.curve.append((frames, recent))
        self.bar.update(frames - self.frames)
        self.frames = frames
        finite = [r for r in recent if not math.isnan(r)]
        if finite:
            self.bar.set_postfix(ret=f"{sum(finite) / len(finite):.1f}")

    def __call__(self, trainer, state, rollout, metrics) -> None:
        """Use the report as a `frl.train.PPOTrainer` hook: logs every iteration's rollout."""
        self.frames_per_iteration = trainer.config.frames_per_batch
        self.log(state.iteration * trainer.config.frames_per_batch, rollout["next", "episode_return"],
                 rollout["next", "done"])

    def recent_returns(self) -> list[float]:
        return [sum(r[-self.window:]) / len(r[-self.window:]) if r else math.nan for r in self.returns]

    def finish(self, extra: dict | None = None) -> dict:
        """Close the bar, write ``metrics.json`` and ``learning_curve.png``, print and return the summary."""
        self.bar.close()
        seconds = time.perf_counter() - self.start
        per_seed = self.recent_returns()
        finite = [r for r in per_seed if not math.isnan(r)]
        metrics = {
            "final_return": sum(finite) / len(finite) if finite else None,
            "per_seed_returns": per_seed,
            "episodes_per_seed": [len(r) for r in self.returns],
            "frames": self.frames * self.num_seeds,
            "frames_per_seed": self.frames,
            "num_seeds": self.num_seeds,
            "seconds": seconds,
            "fps": self.frames * self.num_seeds / seconds,
            "first_iteration_seconds": self.first_log_seconds,
            "frames_per_iteration": self.frames_per_iteration * self.num_seeds,
            **(extra or {}),
        }
        os.makedirs(self.out, exist_ok=True)
        with open(os.path.join(self.out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
        self._plot(os.path.join(self.out, "learning_curve.png"))
        final = "n/a" if metrics["final_return"] is None else f"{metrics['final_return']:.1f}"
        print(f"final average return (last {self.window} episodes, mean over {self.num_seeds} seed(s)): {final}")
        print(f"frames: {metrics['frames']:,}  time: {seconds:.1f} s  fps: {metrics['fps']:,.0f}")
        print(f"wrote {self.out}/metrics.json and {self.out}/learning_curve.png")
        return metrics

    def _plot(self, path: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        frames = [f for f, _ in self.curve]
        for s in range(self.num_seeds):
            label = f"seed {s}" if self.num_seeds <= 8 else None
            ax.plot(frames, [r[s] for _, r in self.curve], lw=1, alpha=0.8, label=label)
        ax.set_xlabel("frames per seed")
        ax.set_ylabel(f"return (mean of last {self.window} episodes)")
        ax.grid(alpha=0.3)
        if self.num_seeds <= 8:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
