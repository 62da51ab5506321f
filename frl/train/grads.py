"""Averaging gradients across processes, for data-parallel train steps."""

from __future__ import annotations

from tensordict import TensorDictBase

from frl._compat import functional_collectives
from frl.tree import tree_map

__all__ = ["all_reduce_gradients"]


def all_reduce_gradients(grads: TensorDictBase, group=None) -> TensorDictBase:
    """Average gradients over the processes of a ``torch.distributed`` group (data parallelism).

    Pass it as the ``grad_transform`` of a train-step factory when running under ``torchrun``. It
    uses torch's functional collectives, which return new tensors (the input is untouched) and trace
    into ``torch.compile`` graphs. With no initialized process group it returns ``grads`` as is, so the
    same script runs on one process.

    Args:
        grads: a TensorDict (or any pytree) of gradients.
        group: the process group; default: the whole world.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return grads
    funcol = functional_collectives()
    group = group if group is not None else dist.group.WORLD
    world = dist.get_world_size(group)
    return tree_map(lambda g: funcol.all_reduce(g, "sum", group) / world, grads)
