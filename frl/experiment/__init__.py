"""frl.experiment: the host-side layer that runs experiments around frl's pure training steps.

What belongs here is host-side and stateful by nature: progress bars, metrics files and plots
(`RunReport`), and, as they come, loggers, checkpoints, evaluation and video. It may import tqdm,
matplotlib and other host libraries; the pure core (``frl``, ``frl.train``, ``frl.nn``, ``frl.envs``,
``frl.buffers``, ``frl.objectives``, ...) never imports this package, so ``import frl`` pulls none
of them. Install its libraries with ``pip install frl[experiment]``.
"""

from frl.experiment.report import RunReport

__all__ = ["RunReport"]
