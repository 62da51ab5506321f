"""Tensor specs: the shape, dtype and range of what an environment reads and writes.

A spec describes one tensor of a single environment (no batch dimensions); its methods accept
leading batch dimensions. Every method is a pure tensor function, so it works eagerly, under
`torch.func.vmap` and under `torch.compile(fullgraph=True)`:

* ``is_in(x)`` returns a 0-dim bool tensor, True where every element of ``x`` lies in the spec (and
  ``x`` ends with the spec's shape). It never synchronizes with the device; pass it to
  `frl._checks.check_values` to raise.
* ``sample(key, batch_size=())`` draws a uniform element (a standard normal for `Unbounded` floats)
  of shape ``[*batch_size, *shape]`` from an explicit `frl.random` key.
* ``zero(batch_size=())`` returns zeros of shape ``[*batch_size, *shape]``.
* ``project(x)`` maps ``x`` to the nearest element of the spec (clamp, round, arg-max), so that
  ``is_in(project(x))`` holds for any finite ``x`` of the right shape.

The names and layouts follow TorchRL's specs (``Bounded``, ``Unbounded``, ``Categorical``,
``Composite``), so that a TorchRL user reads them at sight.

Example:
    >>> spec = Bounded(-2.0, 2.0, (1,))
    >>> a = spec.sample(frl.random.key(0), (4,))      # [4, 1] in [-2, 2)
    >>> bool(spec.is_in(a)), spec.zero((4,)).shape
    (True, torch.Size([4, 1]))

References:
    TorchRL, ``torchrl.data.tensor_specs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from tensordict import TensorDict

from frl import random as fr

__all__ = ["Spec", "Bounded", "Unbounded", "Categorical", "OneHot", "MultiCategorical", "Binary", "Composite"]


def _as_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(s) for s in shape)


def _shape_ok(x: torch.Tensor, shape: tuple[int, ...]) -> bool:
    # Static (trace-time) check: x must end with the spec's shape.
    n = len(shape)
    return x.dim() >= n and tuple(x.shape[x.dim() - n:]) == shape


def _false(x: torch.Tensor) -> torch.Tensor:
    return torch.zeros((), dtype=torch.bool, device=x.device)


class Spec:
    """Base class of the tensor specs: ``shape``, ``dtype``, ``device``, ``is_in``, ``sample``, ``zero``."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    def is_in(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, key: torch.Tensor, batch_size: Sequence[int] = ()) -> torch.Tensor:
        raise NotImplementedError

    def zero(self, batch_size: Sequence[int] = ()) -> torch.Tensor:
        return torch.zeros(_as_shape(batch_size) + self.shape, dtype=self.dtype, device=self.device)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True, eq=False, init=False)
class Bounded(Spec):
    """A box ``low <= x <= high`` (elementwise; ``low`` / ``high`` broadcast to ``shape``).

    Args:
        low, high: floats or tensors broadcastable to ``shape``.
        shape: the shape of one element (no batch dimensions).
        dtype: a floating dtype, or an integer dtype (then ``sample`` draws integers in [low, high]).
        device: where `zero` puts its result; `sample` uses the key's device.
    """

    low: torch.Tensor
    high: torch.Tensor
    shape: tuple[int, ...] = ()
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default=torch.device("cpu"))

    # The bounds are stored as tensors of ``shape``, whatever was given: a hand-written __init__ so
    # that the fields have the type they hold.
    def __init__(self, low: float | torch.Tensor, high: float | torch.Tensor, shape: Sequence[int] | int = (),
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        shape, device = _as_shape(shape), torch.device(device)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "device", device)
        for name, value in (("low", low), ("high", high)):
            v = torch.as_tensor(value, dtype=dtype, device=device)
            object.__setattr__(self, name, torch.broadcast_to(v, shape).clone())

    def is_in(self, x):
        if not _shape_ok(x, self.shape):
            return _false(x)
        low, high = self.low.to(x.device), self.high.to(x.device)
        return ((x >= low) & (x <= high)).all()

    def sample(self, key, batch_size=()):
        shape = _as_shape(batch_size) + self.shape
        low, high = self.low.to(key.device), self.high.to(key.device)
        if self.dtype.is_floating_point:
            u = fr.uniform(key, shape, self.dtype)
            # low * (1 - u) + high * u stays finite for bounds near the dtype's max (high - low would not).
            # The clamp guards against a rounding step past a bound.
            return torch.minimum(torch.maximum(low * (1 - u) + high * u, low), high)
        u = fr.uniform(key, shape, torch.float64)
        # Integers in [low, high]: floor of a uniform over [low, high + 1).
        return (low.double() + torch.floor(u * (high - low + 1).double())).to(self.dtype)

    def project(self, x):
        low, high = self.low.to(x.device), self.high.to(x.device)
        if not self.dtype.is_floating_point:
            x = torch.round(x) if x.is_floating_point() else x
        return torch.minimum(torch.maximum(x.to(self.dtype), low), high)


@dataclass(frozen=True, eq=False)
class Unbounded(Spec):
    """Any finite value of ``dtype``. ``sample`` draws standard normals (integers: from [-100, 100))."""

    shape: tuple[int, ...] = ()
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default=torch.device("cpu"))

    def __post_init__(self):
        object.__setattr__(self, "shape", _as_shape(self.shape))
        object.__setattr__(self, "device", torch.device(self.device))

    def is_in(self, x):
        if not _shape_ok(x, self.shape):
            return _false(x)
        if x.is_floating_point():
            return torch.isfinite(x).all()
        return torch.ones((), dtype=torch.bool, device=x.device)

    def sample(self, key, batch_size=()):
        shape = _as_shape(batch_size) + self.shape
        if self.dtype.is_floating_point:
            return fr.normal(key, shape, self.dtype)
        if self.dtype == torch.bool:
            return fr.bernoulli(key, 0.5, shape)
        return fr.randint(key, shape, -100, 100).to(self.dtype)

    def project(self, x):
        # NaN to 0 and infinities to the dtype's extremes: the nearest finite values.
        x = x.to(self.dtype)
        return torch.nan_to_num(x) if x.is_floating_point() else x


@dataclass(frozen=True, eq=False)
class Categorical(Spec):
    """An integer in ``{0, ..., n - 1}`` (TorchRL's ``Categorical``: index layout, not one-hot).

    Args:
        n: the number of categories.
        shape: the shape of one element; ``()`` for a single discrete action.
        dtype: an integer dtype.
    """

    n: int
    shape: tuple[int, ...] = ()
    dtype: torch.dtype = torch.int64
    device: torch.device = field(default=torch.device("cpu"))

    def __post_init__(self):
        object.__setattr__(self, "shape", _as_shape(self.shape))
        object.__setattr__(self, "device", torch.device(self.device))

    def is_in(self, x):
        if not _shape_ok(x, self.shape) or x.is_floating_point() or x.dtype == torch.bool:
            return _false(x)
        return ((x >= 0) & (x < self.n)).all()

    def sample(self, key, batch_size=()):
        return fr.randint(key, _as_shape(batch_size) + self.shape, 0, self.n).to(self.dtype)

    def project(self, x):
        x = torch.round(x) if x.is_floating_point() else x
        return torch.clamp(x, 0, self.n - 1).to(self.dtype)


@dataclass(frozen=True, eq=False, init=False)
class OneHot(Spec):
    """A one-hot vector of ``n`` entries (TorchRL's ``OneHot``; GymEnv's default for Discrete).

    Args:
        n: the number of categories; ``shape`` is ``(*leading, n)``, ``(n,)`` by default.
        dtype: int64 (TorchRL's default) or bool.
    """

    n: int
    shape: tuple[int, ...] = ()
    dtype: torch.dtype = torch.int64
    device: torch.device = field(default=torch.device("cpu"))

    # ``shape`` defaults to ``(n,)``: a hand-written __init__ so that the field is always a tuple.
    def __init__(self, n: int, shape: Sequence[int] | int | None = None, dtype: torch.dtype = torch.int64,
                 device: torch.device | str = "cpu"):
        full = (n,) if shape is None else _as_shape(shape)
        if full[-1:] != (n,):
            raise ValueError(f"frl.envs.OneHot: shape {list(full)} must end with n={n}")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "shape", full)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "device", torch.device(device))

    def is_in(self, x):
        if not _shape_ok(x, self.shape) or x.is_floating_point():
            return _false(x)
        xi = x.to(torch.int64)
        return (((xi == 0) | (xi == 1)).all() & (xi.sum(-1) == 1).all())

    def sample(self, key, batch_size=()):
        idx = fr.randint(key, _as_shape(batch_size) + self.shape[:-1], 0, self.n)
        return torch.nn.functional.one_hot(idx, self.n).to(self.dtype)

    def project(self, x):
        return torch.nn.functional.one_hot(torch.argmax(x, dim=-1), self.n).to(self.dtype)

    def to_categorical(self, x: torch.Tensor) -> torch.Tensor:
        """The index of the hot entry: ``[..., n] -> [...]``, int64."""
        return torch.argmax(x.to(torch.int64), dim=-1)


@dataclass(frozen=True, eq=False)
class MultiCategorical(Spec):
    """A vector of integers, entry ``i`` in ``{0, ..., nvec[i] - 1}`` (gymnasium's MultiDiscrete).

    Args:
        nvec: the number of categories of each entry; ``shape`` is ``(len(nvec),)``.
    """

    nvec: tuple[int, ...]
    dtype: torch.dtype = torch.int64
    device: torch.device = field(default=torch.device("cpu"))

    def __post_init__(self):
        object.__setattr__(self, "nvec", tuple(int(v) for v in self.nvec))
        object.__setattr__(self, "device", torch.device(self.device))

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.nvec),)

    def _n(self, device):
        return torch.tensor(self.nvec, dtype=torch.int64, device=device)

    def is_in(self, x):
        if not _shape_ok(x, self.shape) or x.is_floating_point() or x.dtype == torch.bool:
            return _false(x)
        return ((x >= 0) & (x < self._n(x.device))).all()

    def sample(self, key, batch_size=()):
        u = fr.uniform(key, _as_shape(batch_size) + self.shape, torch.float64)
        return torch.floor(u * self._n(key.device).double()).to(self.dtype)

    def project(self, x):
        x = torch.round(x) if x.is_floating_point() else x
        return torch.minimum(torch.clamp(x.to(torch.int64), min=0), self._n(x.device) - 1).to(self.dtype)


@dataclass(frozen=True, eq=False)
class Binary(Spec):
    """A vector of ``n`` bits (gymnasium's MultiBinary, TorchRL's ``Binary``; int8 by default, as TorchRL)."""

    n: int
    dtype: torch.dtype = torch.int8
    device: torch.device = field(default=torch.device("cpu"))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n,)

    def is_in(self, x):
        if not _shape_ok(x, self.shape) or x.is_floating_point():
            return _false(x)
        xi = x.to(torch.int64)
        return ((xi == 0) | (xi == 1)).all()

    def sample(self, key, batch_size=()):
        return fr.bernoulli(key, 0.5, _as_shape(batch_size) + self.shape).to(self.dtype)

    def project(self, x):
        return (x > 0.5).to(self.dtype) if x.is_floating_point() else torch.clamp(x, 0, 1).to(self.dtype)


class Composite(Spec):
    """A dict of specs, describing a TensorDict. ``sample`` and ``zero`` return TensorDicts.

    Args:
        specs: a mapping from key to spec (nested `Composite` for nested keys).
        shape: leading dimensions shared by all entries (``()`` for one environment).

    Example:
        >>> spec = Composite({"observation": Unbounded((3,)), "action": Bounded(-1.0, 1.0, (1,))})
        >>> td = spec.zero((8,))      # TensorDict with batch_size [8]
    """

    # A Composite has no single dtype, and a device only when all its entries share one.
    dtype: torch.dtype | None
    device: torch.device | None

    def __init__(self, specs: Mapping[str, Spec] | None = None, shape: Sequence[int] = (), **kwargs: Spec):
        self.specs = dict(specs or {}, **kwargs)
        self.shape = _as_shape(shape)
        self.dtype = None
        devices = {s.device for s in self.specs.values()}
        self.device = devices.pop() if len(devices) == 1 else None

    def __getitem__(self, key):
        if isinstance(key, tuple):
            spec: Spec = self
            for k in key:
                if not isinstance(spec, Composite):
                    raise KeyError(key)
                spec = spec.specs[k]
            return spec
        return self.specs[key]

    def keys(self):
        return self.specs.keys()

    def items(self):
        return self.specs.items()

    def __contains__(self, key):
        return key in self.specs

    def __repr__(self):
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.specs.items())
        return f"Composite({{{inner}}}, shape={self.shape})"

    def is_in(self, td) -> torch.Tensor:
        ok = None
        for k, spec in self.specs.items():
            if k not in td.keys():
                return torch.zeros((), dtype=torch.bool)
            v = spec.is_in(td[k])
            ok = v if ok is None else ok & v
        return torch.ones((), dtype=torch.bool) if ok is None else ok

    def sample(self, key, batch_size=()):
        batch = _as_shape(batch_size) + self.shape
        keys = fr.split(key, max(1, len(self.specs)))
        out = {k: spec.sample(keys[i], batch) for i, (k, spec) in enumerate(self.specs.items())}
        return TensorDict(out, batch_size=batch, device=key.device)

    def zero(self, batch_size=()):
        batch = _as_shape(batch_size) + self.shape
        return TensorDict({k: spec.zero(batch) for k, spec in self.specs.items()}, batch_size=batch)

    def project(self, td):
        out = {k: spec.project(td.get(k)) for k, spec in self.specs.items()}
        return TensorDict(out, batch_size=td.batch_size)


def done_flags_spec() -> Composite:
    """The ``done`` / ``terminated`` / ``truncated`` spec every frl env shares: bool [1] each."""
    flag = Bounded(False, True, (1,), torch.bool)
    return Composite({"done": flag, "terminated": flag, "truncated": flag})
