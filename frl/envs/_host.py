"""Shared machinery of the host adapters (`GymEnv`, `DMControlEnv`): host arrays <-> TensorDicts.

A host env steps a stateful simulator (gymnasium, dm_control) on the CPU through numpy. What it hands
out must look exactly like a stateless frl env's TensorDicts, and cost little: at ~10-20 us per raw
gymnasium step, the per-step overhead budget is about as much again. So the hot path avoids
TensorDict's validating constructor (the batch size and device are known, every leaf is built here),
converts arrays with ``torch.from_numpy`` (after one numpy copy where the host may reuse its buffer),
and checks actions on their numpy form against bounds cached at construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase

from frl import random as fr
from frl._checks import FrlKeyError, check_key_or_seed, check_keys, fail, fmt_shape, value_checks_enabled
from frl._compat import is_plain_td, new_td_fast, td_batch_and_device, td_entries
from frl.envs.env import SharedSpecs
from frl.envs.specs import Binary, Bounded, Categorical, Composite, MultiCategorical, Spec, Unbounded
from frl.envs.step_mdp import merge_entries

FLAGS = ("done", "terminated", "truncated")


class HostEnv(SharedSpecs):
    """What the host adapters share: the common specs and name (`SharedSpecs`), and a lifetime.

    A subclass sets ``env`` (the host library's env, which has ``close()``) and ``reward_dtype``.
    """

    stateful = True  # one live simulator state: check_env replays from the reset key instead of re-stepping
    env: Any  # the host library's env object (gymnasium, dm_control): not typed here

    def close(self) -> None:
        """Close the host env (its worker processes, renderer and physics contexts)."""
        self.env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_NOT_NEXT = {"reward", "action"}
_SKIP = {"next", "reward", "action"}


# A TensorDict from leaves built here (right batch, right device), without the validating constructor.
new_td = new_td_fast


def flags(terminated: np.ndarray, truncated: np.ndarray, shape: tuple[int, ...]) -> dict:
    """``done`` / ``terminated`` / ``truncated`` [*B, 1] bool tensors, each with its own storage."""
    term = np.array(terminated, dtype=np.bool_).reshape(shape)
    trunc = np.array(truncated, dtype=np.bool_).reshape(shape)
    return {"done": torch.from_numpy(term | trunc), "terminated": torch.from_numpy(term),
            "truncated": torch.from_numpy(trunc)}


def false_flags(shape: tuple[int, ...]) -> dict:
    return {k: torch.zeros(shape, dtype=torch.bool) for k in FLAGS}


def reset_seed(fn: str, key: torch.Tensor | None, seed: int | None, count: int) -> tuple[int | None, torch.Tensor]:
    """The host library's seed and the frl key of a reset.

    ``seed=s`` seeds the host with ``s`` itself (so that ``GymEnv(...).reset(seed=s)`` matches
    ``gymnasium.make(...).reset(seed=s)``) and the frl keys with ``frl.random.key(s)``; a ``key``
    is split into a 31-bit host seed and the frl keys; neither continues the host's own random
    stream (as gymnasium's ``reset()``), with frl keys folded from the count of such resets.
    """
    check_key_or_seed(fn, key, seed, required=False)
    if seed is not None:
        return int(seed), fr.key(int(seed))
    if key is not None:
        k_host, k_frl = fr.split(key)
        return int(fr.randint(k_host, (), 0, 2**31 - 1)), k_frl
    return None, fr.fold_in(fr.key(0x5EED), count)


def check_batch_size(fn: str, batch_size, own: torch.Size) -> None:
    batch = (int(batch_size),) if isinstance(batch_size, int) else tuple(int(b) for b in batch_size)
    if batch not in ((), tuple(own)):
        fail(fn, f"batch_size={list(batch)}, but this env's batch is {list(own)} (set by num_envs): "
                 f"omit batch_size or pass {list(own)}")


# A plain TensorDict without dim names: its entries can be read from its entry dict directly.
_plain = is_plain_td


def get(td: TensorDictBase, key: str):
    """``td.get(key)`` for a top-level key (KeyError if absent), faster on a plain TensorDict."""
    return td_entries(td)[key] if type(td) is TensorDict else td.get(key)


def carry_key(td: TensorDictBase, entries: dict) -> dict:
    """Put ``td["key"]`` into a step's ``"next"`` entries, as the stateless envs do (if td has one)."""
    try:
        entries["key"] = get(td, "key")
    except KeyError:
        pass
    return entries


def with_next(td: TensorDictBase, nxt: TensorDict) -> TensorDictBase:
    """``td.copy().set("next", nxt)``: a shallow copy of ``td`` with ``"next"``, ``td`` untouched."""
    if _plain(td):
        entries = dict(td_entries(td))
        entries["next"] = nxt
        return new_td(entries, *td_batch_and_device(td))
    out = td.copy()
    out.set("next", nxt)
    return out


def next_input(td: TensorDictBase) -> TensorDict:
    """``frl.envs.step_mdp(td)`` with its default options, without its checks (the layout is ours)."""
    nxt = get(td, "next")
    if not (_plain(td) and _plain(nxt)):
        return new_td(merge_entries(td, nxt, _NOT_NEXT), td.batch_size, td.device)
    out = dict(td_entries(td))
    for k in _SKIP:
        if k in out:
            del out[k]
    nd = td_entries(nxt)
    tensor = torch.Tensor
    for v in nd.values():
        if type(v) is not tensor:
            break
    else:  # only tensors in "next" (the usual case): nothing to merge
        out.update(nd)
        if "reward" in nd:
            del out["reward"]
        return new_td(out, *td_batch_and_device(td))
    for k, v in nd.items():
        if k == "reward":
            continue
        old = out.get(k)
        if isinstance(old, TensorDictBase) and isinstance(v, TensorDictBase):
            # Both levels have this sub-TensorDict: merge key by key, as step_mdp does.
            v = new_td(merge_entries(old, v, _NOT_NEXT), v.batch_size, v.device)
        out[k] = v
    return new_td(out, td.batch_size, td.device)


def get_action(fn: str, td: TensorDictBase):
    try:
        return get(td, "action")
    except KeyError:
        pass
    check_keys(fn, td, ("action",))
    fail(fn, "input TensorDict has no key 'action'", FrlKeyError)


# ---- actions: torch -> numpy, checked against the spec --------------------------------------------


def _np_in(spec: Spec) -> Callable[[np.ndarray], bool | np.bool_]:
    """A fast numpy membership test of one action leaf (NaN fails every comparison, so it is out)."""
    if isinstance(spec, Bounded):
        low, high = spec.low.numpy(), spec.high.numpy()
        if low.size == 1:
            # One number per env (Pendulum's torque): Python comparisons beat numpy's reductions.
            lo, hi = low.item(), high.item()
            return lambda a: lo <= a.item() <= hi if a.size == 1 else ((a >= lo) & (a <= hi)).all()
        return lambda a: ((a >= low) & (a <= high)).all()
    if isinstance(spec, Categorical):
        n = spec.n
        return lambda a: ((a >= 0) & (a < n)).all()
    if isinstance(spec, MultiCategorical):
        nvec = np.asarray(spec.nvec)
        return lambda a: ((a >= 0) & (a < nvec)).all()
    if isinstance(spec, Binary):
        return lambda a: ((a == 0) | (a == 1)).all()
    if isinstance(spec, Unbounded) and spec.dtype.is_floating_point:
        return lambda a: np.isfinite(a).all()
    return lambda a: True


def _describe(spec: Spec) -> str:
    if isinstance(spec, Bounded):
        lo, hi = spec.low, spec.high
        if lo.numel() and bool((lo == lo.flatten()[0]).all()) and bool((hi == hi.flatten()[0]).all()):
            return f"[{lo.flatten()[0].item():g}, {hi.flatten()[0].item():g}]"
        return f"[{lo.tolist()}, {hi.tolist()}]"
    if isinstance(spec, Categorical):
        return f"{{0, ..., {spec.n - 1}}}"
    if isinstance(spec, MultiCategorical):
        return f"{{0, ..., nvec - 1}} with nvec={list(spec.nvec)}"
    if isinstance(spec, Binary):
        return "{0, 1}"
    return "finite values"


_FLOAT_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
_INT_DTYPES = frozenset({torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64})


def action_leaf(spec: Spec, np_dtype, batch: tuple[int, ...], name: str, scalar: bool = False):
    """A function ``(fn, tensor) -> numpy`` for one action leaf: shape, dtype kind and values checked.

    ``scalar`` returns a 0-d array as a numpy scalar (what single gymnasium envs expect of Discrete).
    """
    shape = torch.Size(batch + tuple(spec.shape))  # a Size: comparing x.shape with it is cheapest
    floating = spec.dtype.is_floating_point
    spec_dtype = spec.dtype
    inside = _np_in(spec)
    describe = _describe(spec)
    np_dtype = np.dtype(np_dtype)
    ok_dtypes = _FLOAT_DTYPES if floating else _INT_DTYPES
    # Every torch call costs a few us between two simulator steps (cold caches): the checks below
    # read two attributes, and x.numpy() itself rejects CUDA tensors and tensors requiring grad.
    # A few numbers go through Python floats / ints instead (x.tolist(): one torch call instead of
    # x.numpy() + astype; it converts exactly, and np.array rounds to the space's dtype as astype does).
    small = shape.numel() <= 16

    def convert(fn: str, x) -> np.ndarray:
        if not isinstance(x, torch.Tensor):
            fail(fn, f"{name} must be a tensor, got {type(x).__name__}", TypeError)
        if x.shape != shape:
            fail(fn, f"{name} has shape {fmt_shape(x.shape)}, expected {fmt_shape(shape)} "
                     f"(batch {list(batch)} + action_spec.shape {list(spec.shape)})")
        if x.dtype is not spec_dtype and x.dtype not in ok_dtypes:
            kind = "a floating" if floating else "an integer (or bool)"
            fail(fn, f"{name} has dtype {str(x.dtype).replace('torch.', '')}, expected {kind} dtype "
                     f"(action_spec.dtype is {str(spec.dtype).replace('torch.', '')})", TypeError)
        # Both paths copy: the host may keep the action it was given (Pendulum keeps its last torque),
        # which must not change when the caller later reuses its tensor.
        if small:
            a = np.array(x.tolist(), dtype=np_dtype)
        else:
            try:
                a = x.numpy()
            except (TypeError, RuntimeError):  # on a device, or requires grad
                a = x.detach().cpu().numpy()
            a = a.astype(np_dtype)
        if value_checks_enabled() and not inside(a):
            fail(fn, f"{name} has values outside {describe} (the action spec); clip or project it first "
                     "(spec.project), or turn value checks off with frl.set_value_checks(False)")
        return a[()] if scalar else a

    return convert


# ---- observations: numpy -> tensors ------------------------------------------------------------


def leaf_from_host(np_dtype, torch_dtype: torch.dtype, copy: bool) -> Callable[[object], torch.Tensor]:
    """numpy array (or Python scalar) -> tensor of ``torch_dtype``; copies when the host may reuse it."""
    np_dtype = np.dtype(np_dtype)
    from_numpy, array = torch.from_numpy, np.array
    try:
        same = from_numpy(np.zeros((), np_dtype)).dtype == torch_dtype
    except TypeError:  # no torch dtype: convert raises when called, as before
        same = False
    if copy and same:
        # The hot path of a single env (no dtype cast). order="C": a rendered frame may be a
        # transposed view (pygame's), and tensors should be contiguous.
        return lambda x: from_numpy(array(x, dtype=np_dtype, order="C"))

    def convert(x) -> torch.Tensor:
        a = array(x, dtype=np_dtype, order="C") if copy else np.asarray(x, dtype=np_dtype)
        t = from_numpy(a)
        return t if t.dtype == torch_dtype else t.to(torch_dtype)

    return convert


def leaves(spec: Spec, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Spec]]:
    """The leaf specs of ``spec`` with their nested keys."""
    if isinstance(spec, Composite):
        out = []
        for k, s in spec.items():
            out += leaves(s, prefix + (k,))
        return out
    return [(prefix, spec)]
