"""The base of frl's transforms: a pure function of the TensorDict, state included.

A transform maps what its parent env produces (the base env, transformed by the transforms before
it) to what the next transform, or the user, sees. It never keeps state on the object: what it must
remember from step to step (a frame stack, an episode return, running statistics, a step count)
travels in the TensorDict under the transform's own keys, so a transformed stateless env stays a
pair of pure functions that vmap and compile.

A subclass overrides some of these hooks (each returns a new TensorDict, never writes into its
arguments):

- ``_reset(td, prev)``: a fresh episode. ``td`` is the reset TensorDict at the parent's level;
  ``prev`` is None on ``env.reset`` and, on auto-reset, the TensorDict the episode would have
  continued from (``step_mdp`` of the step's output, at the transformed level), from which
  statistics that outlive episodes are taken.
- ``_step(td, next_td)``: a step. ``td`` is the step's input (the transformed level: the user's
  TensorDict, holding the transform's state at the root) and ``next_td`` the step's ``"next"``
  entries at the parent's level.
- ``_inv(td)``: the input of the parent's step from the user's (action transforms).
- ``transform_observation_spec(specs)`` (a dict key -> spec), ``transform_action_spec``,
  ``transform_reward_spec``, ``transform_done_spec``.
- ``transform_params(params)``: the parent's ``params`` as seen through the transform (a time
  limit lowers ``max_episode_steps``).

References:
    TorchRL, ``torchrl.envs.transforms.Transform``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tensordict import TensorDictBase

from frl._checks import check_keys, fail
from frl.envs.specs import Bounded, Composite, Spec, Unbounded

__all__ = ["Transform", "KeyTransform"]


def as_keys(keys, default: Sequence) -> list:
    """A list of keys from one key (a str) or a sequence of keys (each a str or a tuple of str)."""
    if keys is None:
        keys = default
    if isinstance(keys, str):
        keys = [keys]
    return [k if isinstance(k, str) else tuple(k) for k in keys]


def key_name(key) -> str:
    """A flat name for a (possibly nested) key, for the transform's private state entries."""
    return key if isinstance(key, str) else "_".join(key)


def obs_spec_dict(spec) -> dict:
    """The observation entries a spec describes, as a dict key -> spec.

    frl's stateless envs describe their single ``"observation"`` with one spec; a `Composite`
    (host adapters with dict observations) describes several entries.
    """
    if isinstance(spec, Composite):
        return dict(spec.items())
    return {"observation": spec}


def retype(spec: Spec, dtype: torch.dtype) -> Spec:
    """The same spec with another floating dtype."""
    if isinstance(spec, Bounded):
        return Bounded(spec.low.to(dtype), spec.high.to(dtype), spec.shape, dtype, spec.device)
    if isinstance(spec, Unbounded):
        return Unbounded(spec.shape, dtype, spec.device)
    fail("frl.envs.transforms", f"cannot change the dtype of a {type(spec).__name__} spec", TypeError)


class Transform:
    """Base class of the transforms; see the module docstring for the hooks a subclass overrides.

    A transform belongs to at most one `TransformedEnv` at a time. ``transform.parent`` is the env up
    to this transform (the base env with the transforms before it), or None when detached.
    """

    def __init__(self):
        self._owner = None  # the TransformedEnv whose list holds this transform

    @property
    def name(self) -> str:
        return f"frl.envs.{type(self).__name__}"

    @property
    def parent(self):
        """The env this transform reads from: the base env transformed by the transforms before this one."""
        owner = self._owner
        if owner is None:
            return None
        # The owner builds the view itself, so a transform never imports the env class.
        i = owner.transforms.index(self)
        return owner._view(owner.base_env, list(owner.transforms)[:i])

    def _need_parent(self):
        parent = self.parent
        if parent is None:
            fail(self.name, "this transform is not in a TransformedEnv; add it to one first", RuntimeError)
        return parent

    # ---- hooks ----------------------------------------------------------------------------------

    def _reset(self, td: TensorDictBase, prev: TensorDictBase | None) -> TensorDictBase:
        return td

    def _step(self, td: TensorDictBase, next_td: TensorDictBase) -> TensorDictBase:
        return next_td

    def _inv(self, td: TensorDictBase) -> TensorDictBase:
        return td

    def transform_observation_spec(self, specs: dict) -> dict:
        return specs

    def transform_action_spec(self, spec: Spec) -> Spec:
        return spec

    def transform_reward_spec(self, spec: Spec) -> Spec:
        return spec

    def transform_done_spec(self, spec: Composite) -> Composite:
        return spec

    def transform_params(self, params: Any) -> Any:
        """The parent env's ``params`` as this transform changes them (e.g. a lower time limit)."""
        return params

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class KeyTransform(Transform):
    """A stateless transform applying one tensor function to each of ``in_keys``, writing ``out_keys``.

    Subclasses implement ``_apply(x, key) -> x`` and ``_apply_spec(spec, key) -> spec``. The function is
    applied to the entries of a reset and of each step's ``"next"``: reward keys (present only in
    ``"next"``) are applied on steps only.
    """

    def __init__(self, in_keys, out_keys=None, default_in_keys=("observation",)):
        super().__init__()
        self.in_keys = as_keys(in_keys, default_in_keys)
        self.out_keys = as_keys(out_keys, self.in_keys) if out_keys is not None else list(self.in_keys)
        if len(self.out_keys) != len(self.in_keys):
            fail(self.name, f"got {len(self.in_keys)} in_keys and {len(self.out_keys)} out_keys; "
                            "give one out_key per in_key")

    def _apply(self, x: torch.Tensor, key) -> torch.Tensor:
        raise NotImplementedError

    def _apply_spec(self, spec: Spec, key) -> Spec:
        return spec

    def _apply_td(self, td: TensorDictBase, on_reset: bool) -> TensorDictBase:
        out = td.copy()
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            # The reward exists only in a step's "next": a reset has none to transform.
            if on_reset and ki == "reward":
                continue
            check_keys(self.name, td, (ki,), "reset" if on_reset else "step's next")
            out.set(ko, self._apply(td.get(ki), ki))
        return out

    def _reset(self, td, prev):
        return self._apply_td(td, True)

    def _step(self, td, next_td):
        return self._apply_td(next_td, False)

    def transform_observation_spec(self, specs):
        specs = dict(specs)
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            if ki in specs:
                specs[ko] = self._apply_spec(specs[ki], ki)
        return specs

    def transform_reward_spec(self, spec):
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            if ki == "reward" and ko == "reward":
                return self._apply_spec(spec, ki)
        return spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_keys={self.in_keys}, out_keys={self.out_keys})"


def td_device(td: TensorDictBase) -> torch.device:
    """The device of a TensorDict's entries (its own, or that of its first leaf)."""
    if td.device is not None:
        return td.device
    for v in td.values(include_nested=True, leaves_only=True):
        if v.device is not None:
            return v.device
    return torch.device("cpu")
