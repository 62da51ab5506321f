"""A chain of key-wired modules with TorchRL's in_keys / out_keys and sub-chain selection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Union

import torch
from tensordict import NestedKey, TensorDict, TensorDictBase

from frl import random as fr
from frl import tree
from frl._checks import fail
from frl.nn.td_module import TDModule, key_list

__all__ = ["TDSequential", "td_sequential"]

_Wired = Union[TDModule, "TDSequential"]


class TDSequential(NamedTuple):
    """A chain of key-wired modules. See `td_sequential`.

    Attributes:
        init: ``(key [2]) -> params`` with one entry per module, under its name (a batch of keys
            [N, 2] gives a stacked ensemble).
        apply: ``(params, td [*B], key=None, **kwargs) -> td``.
        in_keys: the keys read that no earlier module writes, in order of first use.
        out_keys: every key written, in order of its last write.
        modules: the modules, in order.
        names: each module's entry in the params ("0", "1", ... or the names given); a sub-chain keeps
            the names of the full chain.
        takes_key: whether some module takes an frl.random ``key=``.
        positions: each module's position in the full chain (its init key is ``fold_in(key, position)``,
            and so is the sampling key of a stochastic module).
    """

    init: Callable[[torch.Tensor], TensorDict]
    apply: Callable[..., TensorDictBase]
    in_keys: tuple[NestedKey, ...]
    out_keys: tuple[NestedKey, ...]
    modules: tuple[Any, ...]
    names: tuple[str, ...]
    takes_key: bool
    positions: tuple[int, ...]

    def select_subsequence(self, in_keys: NestedKey | Sequence[NestedKey] | None = None,
                           out_keys: NestedKey | Sequence[NestedKey] | None = None) -> TDSequential:
        """The smallest sub-chain that runs from ``in_keys`` and produces ``out_keys``, as TorchRL's.

        Two filters, in this order: a module is kept if each of its inputs is in ``in_keys`` or is
        written by a module kept before it; then, of those, a module is kept if it writes one of
        ``out_keys`` or an input of a module kept after it. Nested sequences are filtered the same
        way. The sub-chain keeps the modules' names, so its ``apply`` takes the full chain's params
        (or their slice ``params.select(*sub.names)``) and its ``init`` gives that slice.

        Args:
            in_keys: the keys to start from; defaults to the chain's ``in_keys``.
            out_keys: the keys to compute; defaults to the chain's ``out_keys``.

        Returns:
            `TDSequential`.

        Example:
            >>> idn = lambda x: x
            >>> seq = frl.nn.td_sequential(frl.nn.td_module(idn, "a", "b"), frl.nn.td_module(idn, "b", "c"),
            ...                            frl.nn.td_module(idn, "c", "d"), frl.nn.td_module(idn, "a", "e"))
            >>> seq.select_subsequence(in_keys=["c"]).out_keys
            ('d',)
            >>> sub = seq.select_subsequence(out_keys=["c"])
            >>> sub.in_keys, sub.out_keys, sub.names
            (('a',), ('b', 'c'), ('0', '1'))
        """
        fn = "frl.nn.td_sequential.select_subsequence"
        ins = list(self.in_keys if in_keys is None else key_list(fn, "in_keys", in_keys))
        outs = list(self.out_keys if out_keys is None else key_list(fn, "out_keys", out_keys))
        mods = list(self.modules)
        keep = set(range(len(mods)))
        for i, m in enumerate(mods):
            if isinstance(m, TDSequential):
                try:
                    m = mods[i] = m.select_subsequence(in_keys=ins)
                except ValueError:
                    keep.discard(i)
                    continue
            if all(k in ins for k in m.in_keys):
                ins.extend(m.out_keys)
            else:
                keep.discard(i)
        for i in reversed(range(len(mods))):
            if i not in keep:
                continue
            m = mods[i]
            if any(k in outs for k in m.out_keys):
                if isinstance(m, TDSequential):
                    m = mods[i] = m.select_subsequence(out_keys=outs)
                outs.extend(m.in_keys)
            else:
                keep.discard(i)
        if not keep:
            fail(fn, f"no module left after selecting in_keys={in_keys!r}, out_keys={out_keys!r}: no module "
                     "runs from those inputs and produces those outputs")
        order = sorted(keep)
        return _chain([(self.names[i], self.positions[i], mods[i]) for i in order])


def _keys(modules: Sequence[_Wired]) -> tuple[tuple[NestedKey, ...], tuple[NestedKey, ...]]:
    # tensordict's TensorDictSequential._compute_in_and_out_keys: an input is a key read before any
    # module wrote it; outputs keep the position of their last write.
    ins: list[NestedKey] = []
    outs: list[NestedKey] = []
    for m in modules:
        for k in m.in_keys:
            if k not in outs and k not in ins:
                ins.append(k)
        outs.extend(m.out_keys)
    outs = [k for i, k in enumerate(outs) if k not in outs[i + 1:]]
    return tuple(ins), tuple(outs)


def _chain(entries: list[tuple[str, int, Any]]) -> TDSequential:
    names = tuple(name for name, _, _ in entries)
    positions = tuple(pos for _, pos, _ in entries)
    modules = tuple(m for _, _, m in entries)
    ins, outs = _keys(modules)
    takes_key = any(m.takes_key for m in modules)
    apply_name = "frl.nn.td_sequential.apply"

    def init_one(key: torch.Tensor) -> TensorDict:
        # Each module's key comes from its position in the full chain, so a sub-chain's init is the
        # slice of the full chain's init.
        return TensorDict({name: m.init(fr.fold_in(key, pos)) for name, pos, m in entries})

    def init(key: torch.Tensor) -> TensorDict:
        if key.ndim == 2:
            return tree.stack([init_one(k) for k in key.unbind(0)])
        return init_one(key)

    def apply(params: TensorDictBase, td: TensorDictBase, key: torch.Tensor | None = None,
              **kwargs: Any) -> TensorDictBase:
        for name in names:
            if name not in params.keys():
                fail(apply_name, f"params have no entry {name!r} (a td_sequential's params hold one entry per "
                                 f"module: {', '.join(repr(n) for n in names)})", KeyError)
        out = td
        for name, pos, m in entries:
            if m.takes_key:
                # Only stochastic modules take the key and the options (e.g. deterministic=True).
                out = m.apply(params.get(name), out, key=None if key is None else fr.fold_in(key, pos), **kwargs)
            else:
                out = m.apply(params.get(name), out)
        return out

    return TDSequential(init, apply, ins, outs, modules, names, takes_key, positions)


def td_sequential(*modules: Any) -> TDSequential:
    """Chain key-wired modules: each reads the TensorDict that the previous one returned.

    The functional form of tensordict's ``TensorDictSequential`` (TorchRL's encoder-decoder example):
    ``in_keys`` are the keys read that no earlier module writes, ``out_keys`` every key written, both in
    TorchRL's order, and `TDSequential.select_subsequence` cuts the chain by keys. The params are one
    TensorDict with one entry per module ("0", "1", ..., or the names of a dict), so a sub-chain takes
    its slice.

    Args:
        *modules: `TDModule` (from `td_module` / `td_operator`) or `TDSequential` (nested), or a single
            dict ``{name: module}`` to name the entries.

    Returns:
        `TDSequential` ``(init, apply, in_keys, out_keys, modules, names, ...)``. ``apply(params, td,
        key=None, **kwargs)`` runs the modules in order; modules that take a key (a stochastic actor)
        get ``fold_in(key, position)`` and ``kwargs``.

    Example:
        >>> t = torch.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
        ...                          dim_feedforward=32, batch_first=True)
        >>> encoder = frl.nn.td_module(t.encoder, in_keys=["src", "src_mask"], out_keys=["memory"])
        >>> decoder = frl.nn.td_module(t.decoder, in_keys=["tgt", "memory"], out_keys=["output"])
        >>> seq = frl.nn.td_sequential(encoder, decoder)
        >>> seq.in_keys, seq.out_keys
        (('src', 'src_mask', 'tgt'), ('memory', 'output'))
        >>> seq.select_subsequence(out_keys=["memory"]).names
        ('0',)
        >>> seq.select_subsequence(in_keys=["tgt", "memory"]).names
        ('1',)

    References:
        tensordict.nn.TensorDictSequential and its select_subsequence (used by TorchRL).
    """
    fn = "frl.nn.td_sequential"
    if len(modules) == 1 and isinstance(modules[0], Mapping):
        items = [(str(name), m) for name, m in modules[0].items()]
    else:
        items = [(str(i), m) for i, m in enumerate(modules)]
    if not items:
        fail(fn, "no modules given, expected at least one")
    for name, m in items:
        if not isinstance(m, (TDModule, TDSequential)):
            fail(fn, f"module {name!r} is a {type(m).__name__}, expected a key-wired module: wrap a network "
                     "with frl.nn.td_module(net, in_keys, out_keys), an actor or critic with "
                     "frl.nn.td_operator(op, in_keys, out_keys)", TypeError)
    seen = [name for name, _ in items]
    if len(set(seen)) != len(seen):
        fail(fn, f"module names {seen!r} repeat, expected distinct names")
    return _chain([(name, i, m) for i, (name, m) in enumerate(items)])
