"""`compile_step`: how frl's examples compile a training step (whole graph, unguarded on module globals)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

import torch

from frl._compat import global_guard_filter

__all__ = ["compile_step"]

_compiled = itertools.count()  # numbers the compiled functions: each gets a distinct code name


def compile_step(fn: Callable, *, enabled: bool = True, **inductor_options: Any) -> Callable:
    """``torch.compile(fn, fullgraph=True)``, not guarded on module globals, with its own compile cache.

    Before each call of a compiled function dynamo would otherwise re-check every module global the
    traced code read (hundreds in frl, tensordict and torch.func, many in Python): a quarter of a DQN
    collect step's time (bench/dqn_train.py). Nothing rebinds them during a run; tensors, closures
    and the arguments' structure stay guarded. The guard filter is ``frl._compat.global_guard_filter``
    (none where the installed torch lacks it).

    dynamo keeps its compile cache on the code object of the function it compiles, and every
    ``torch.vmap(f)`` is the same wrapper code: compiled directly, the vmapped pieces of a training
    step would share, and thrash, one cache. ``fn`` is therefore called through a function with a
    code object (and a code name) of its own.

    Args:
        fn: a pure function of tensors / TensorDicts (a single-agent step, or its vmap over seeds).
        enabled: ``False`` returns ``fn`` itself (eager runs, debugging).
        **inductor_options: inductor options, e.g. ``cpp_wrapper=True``.

    Returns:
        The compiled function (``fn`` when not enabled).

    Example:
        >>> update = frl.train.make_dqn_update(qnet.apply, frl.optim.adam(1e-3))
        >>> update_seeds = compile_step(torch.vmap(update))  # N agents at once, one graph
    """
    if not enabled:
        return fn

    def step(*args, **kwargs):
        return fn(*args, **kwargs)

    # A fresh code object with a name of its own: its own slot for dynamo's cache, and its own entry in
    # dynamo's shape bookkeeping, which is keyed by file, line and name (pieces that shared one would
    # see each other's inputs as changing shapes, and be recompiled with symbolic sizes).
    name = f"compiled_{getattr(fn, '__name__', 'step')}_{next(_compiled)}"
    name = "".join(c if c.isalnum() else "_" for c in name)
    if sys.version_info >= (3, 11):
        step.__code__ = step.__code__.replace(co_name=name, co_qualname=name)
    else:
        step.__code__ = step.__code__.replace(co_name=name)
    step.__name__ = step.__qualname__ = name
    step.__doc__ = fn.__doc__
    options = dict(inductor_options)
    guard_filter = global_guard_filter()
    if guard_filter is not None:
        options["guard_filter_fn"] = guard_filter
    return torch.compile(step, fullgraph=True, options=options)
