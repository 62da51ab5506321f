"""frl: functional, JIT-compiled reinforcement learning for PyTorch.

Everything a training loop needs is a pure function over TensorDicts, composable with
`torch.func.vmap` and `torch.compile`. See the README for a quick start.
"""

from frl import buffers, collectors, envs, nn, objectives, optim, random, returns, train, tree
from frl._checks import set_value_checks, value_checks_enabled

__version__ = "0.1.0"

__all__ = [
    "buffers", "collectors", "envs", "nn", "objectives", "optim", "random", "returns", "train", "tree",
    "set_value_checks", "value_checks_enabled", "__version__",
]
