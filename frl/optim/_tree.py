"""Flat views of parameter pytrees, with the structure checks every optimizer runs.

Each transform flattens its inputs once, does per-leaf tensor math on lists, and rebuilds one pytree
per output. Leaves are matched by position when the trees have the same structure (the usual case:
gradients from ``torch.func.grad`` of the params), and by key otherwise, so a TensorDict whose keys
were inserted in another order still pairs the right tensors. A missing or extra key, or a leaf of the
wrong shape, is an error that names the key.

Eagerly, a plain `TensorDict` is flattened and rebuilt by a direct walk over its entries rather than
through torch's pytree registry: the walk costs a few microseconds where the registry costs over a
hundred per tree, and an Adam step flattens and rebuilds about ten trees. Under torch.compile (where
that cost is paid once, at trace time) and for any other pytree, torch's pytree is used.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict

from frl._checks import FrlKeyError, fail, fmt_shape
from frl._compat import is_plain_td, new_td_unsafe, pytree, td_entries

__all__ = ["flatten", "leaves_like", "unflatten"]


class _TensorDictSpec:
    """The structure of a plain TensorDict: nested key names, and a TensorDict of that structure.

    Two specs are equal when their keys are (in the same order); the template only supplies the
    batch size and device of the rebuilt TensorDicts.
    """

    __slots__ = ("signature", "template")

    def __init__(self, signature: tuple, template: TensorDict):
        self.signature = signature
        self.template = template

    def __eq__(self, other) -> bool:
        return isinstance(other, _TensorDictSpec) and self.signature == other.signature

    def __hash__(self) -> int:
        return hash(self.signature)


def _td_walk(td: TensorDict, leaves: list) -> tuple | None:
    """Append ``td``'s leaves to ``leaves`` in pytree order; return its key signature, or None if
    it holds anything but tensors and plain TensorDicts (then the caller uses torch's pytree)."""
    if not is_plain_td(td):
        return None
    signature = []
    for key, value in td_entries(td).items():
        if isinstance(value, torch.Tensor):
            leaves.append(value)
            signature.append(key)
        else:
            sub = _td_walk(value, leaves)
            if sub is None:
                return None
            signature.append((key, sub))
    return tuple(signature)


def _td_build(template: TensorDict, leaves) -> TensorDict:
    source = {}
    for key, value in td_entries(template).items():
        source[key] = next(leaves) if isinstance(value, torch.Tensor) else _td_build(value, leaves)
    return new_td_unsafe(source, template.batch_size, template.device)


def flatten(tree: Any) -> tuple[list, Any]:
    """``(leaves, spec)`` as torch's ``pytree.tree_flatten``, faster for eager TensorDicts."""
    if type(tree) is TensorDict and not torch.compiler.is_compiling():
        leaves = []
        signature = _td_walk(tree, leaves)
        if signature is not None:
            return leaves, _TensorDictSpec(signature, tree)
    return pytree.tree_flatten(tree)


def unflatten(leaves: list, spec: Any) -> Any:
    """The inverse of `flatten`."""
    if isinstance(spec, _TensorDictSpec):
        return _td_build(spec.template, iter(leaves))
    return pytree.tree_unflatten(leaves, spec)


def _key_name(path) -> str:
    """('actor', '0', 'weight') for a TensorDict or dict path; attribute names and indices as they are."""
    parts = []
    for entry in path:
        if isinstance(entry, pytree.MappingKey):
            parts.append(entry.key)
        elif isinstance(entry, pytree.SequenceKey):
            parts.append(entry.idx)
        elif isinstance(entry, pytree.GetAttrKey):
            parts.append(entry.name)
        else:
            parts.append(str(entry))
    if len(parts) == 1:
        return repr(parts[0])
    return str(tuple(parts))


def _paths(tree: Any) -> list:
    return [path for path, _ in pytree.tree_flatten_with_path(tree)[0]]


def leaves_like(fn: str, what: str, tree: Any, ref: Any, ref_leaves: list, ref_spec: Any,
                ref_what: str = "the optimizer state") -> list:
    """The leaves of ``tree`` in the order of ``ref``'s leaves, checked against them.

    Args:
        fn: the public name for error messages, e.g. ``"frl.optim.adam.update"``.
        what: what ``tree`` is, e.g. ``"updates"``.
        tree: the pytree to read.
        ref: a pytree whose structure ``tree`` must have (the keys; the order may differ).
        ref_leaves, ref_spec: ``flatten(ref)``, which the caller has already computed.
        ref_what: what ``ref`` is, for the messages.

    Returns:
        A list of tensors, one per leaf of ``ref`` and in its order, each of the matching shape.
    """
    leaves, spec = flatten(tree)
    if spec != ref_spec:
        # Keys in another order, another container type, or a key missing: pair the leaves by key
        # path (a slow path eagerly; under torch.compile it runs once, at trace time).
        by_path = dict(pytree.tree_flatten_with_path(tree)[0])
        ref_paths = _paths(ref)
        for path in ref_paths:
            if path not in by_path:
                fail(fn, f"{what} have no key {_key_name(path)}, which {ref_what} has", FrlKeyError)
        extra = [p for p in by_path if p not in set(ref_paths)]
        if extra:
            fail(fn, f"{what} have a key {_key_name(extra[0])} that {ref_what} lacks", FrlKeyError)
        leaves = [by_path[path] for path in ref_paths]
    for i, (leaf, ref_leaf) in enumerate(zip(leaves, ref_leaves, strict=True)):
        if not isinstance(leaf, torch.Tensor):
            fail(fn, f"{what} key {_key_name(_paths(ref)[i])} is a {type(leaf).__name__}, expected a tensor",
                 TypeError)
        if leaf.shape != ref_leaf.shape:
            fail(fn, f"{what} key {_key_name(_paths(ref)[i])} has shape {fmt_shape(leaf.shape)}, expected "
                     f"{fmt_shape(ref_leaf.shape)} (its shape in {ref_what})")
    return leaves
