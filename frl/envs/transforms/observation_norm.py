"""ObservationNorm: an affine map of observations, with fixed or running statistics."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase

from frl._checks import check_keys, fail
from frl.envs.specs import Bounded, Spec, Unbounded
from frl.envs.transforms._base import KeyTransform, key_name

__all__ = ["ObservationNorm"]


def _as_tensor(x):
    return None if x is None else torch.as_tensor(x, dtype=torch.get_default_dtype())


class ObservationNorm(KeyTransform):
    """Normalize observations with a fixed affine map or with running mean and variance.

    Fixed (TorchRL's ``ObservationNorm``): ``x * scale + loc``, or ``(x - loc) / scale`` with
    ``standard_normal=True``. Leave ``loc`` / ``scale`` unset and call `init_stats` to fit them on a
    random rollout of the parent env, so that the output has mean 0 and standard deviation 1.

    Running (``running=True``, gymnasium's ``NormalizeObservation``): ``(x - mean) / sqrt(var + eps)``
    with the mean and variance of every observation seen so far, updated with each reset's and each
    step's batch (Chan's parallel update, started from mean 0, variance 1 and a count of ``1e-4``, as
    gymnasium's ``RunningMeanStd``). The statistics live in the TensorDict under
    ``"_<key>_mean"``, ``"_<key>_var"`` and ``"_<key>_count"``, shared by the env batch (each env holds
    a copy, [*B, *obs] and [*B]); they persist across episode resets. The fresh observations of an
    auto-reset are normalized with the current statistics but not added to them.

    Args:
        loc, scale: fixed statistics, floats or tensors broadcastable to the observation.
        in_keys, out_keys: the entries to normalize (``["observation"]``) and where to write them.
        standard_normal: the fixed map's direction (see above); TorchRL's default, False.
        running: use running statistics instead of ``loc`` / ``scale``.
        eps: the running variance's epsilon (gymnasium's ``1e-8``); for fixed statistics, the
            floor of ``scale``.

    Example:
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), ObservationNorm(standard_normal=True))
        >>> env.transforms[0].init_stats(frl.random.key(0), steps=100, batch_size=(16,))
        >>> env = TransformedEnv(frl.envs.make("Pendulum-v1"), ObservationNorm(running=True))

    References:
        TorchRL, ``torchrl.envs.transforms.ObservationNorm``; gymnasium,
        ``gymnasium.wrappers.NormalizeObservation`` and ``RunningMeanStd``; Chan, Golub and LeVeque,
        "Updating formulae and a pairwise algorithm for computing sample variances", 1979.
    """

    def __init__(self, loc=None, scale=None, *, in_keys=None, out_keys=None, standard_normal: bool = False,
                 running: bool = False, eps: float = 1e-8):
        super().__init__(in_keys, out_keys)
        if (loc is None) != (scale is None):
            fail(self.name, "give both loc and scale, or neither (then call init_stats)")
        if running and loc is not None:
            fail(self.name, "running=True computes its own statistics: give no loc / scale")
        self.standard_normal = bool(standard_normal)
        self.running = bool(running)
        self.eps = float(eps)
        self.loc = _as_tensor(loc)
        self.scale = (None if scale is None
                      else torch.clamp_min(torch.as_tensor(scale, dtype=torch.get_default_dtype()), eps))

    @property
    def initialized(self) -> bool:
        return self.running or self.loc is not None

    def _state_keys(self, key):
        n = key_name(key)
        return f"_{n}_mean", f"_{n}_var", f"_{n}_count"

    # ---- fixed statistics ------------------------------------------------------------------------

    def _apply(self, x, key):
        if not self.initialized:
            fail(self.name, "loc and scale are not set: pass them, or call init_stats first", RuntimeError)
        if not x.is_floating_point():
            fail(self.name, f"{key!r} has dtype {x.dtype}, expected a floating dtype", TypeError)
        assert self.loc is not None and self.scale is not None  # initialized, and not running here
        loc, scale = self.loc.to(x.device, x.dtype), self.scale.to(x.device, x.dtype)
        return (x - loc) / scale if self.standard_normal else x * scale + loc

    def _apply_spec(self, spec: Spec, key) -> Spec:
        if self.running or not isinstance(spec, Bounded) or not self.initialized:
            return Unbounded(spec.shape, spec.dtype, spec.device)
        a, b = self._apply(spec.low, key), self._apply(spec.high, key)
        lo, hi = torch.minimum(a, b), torch.maximum(a, b)
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            return Unbounded(spec.shape, spec.dtype, spec.device)
        return Bounded(lo, hi, spec.shape, spec.dtype, spec.device)

    def init_stats(self, key: torch.Tensor, steps: int = 1000, batch_size=(), *, in_key=None) -> ObservationNorm:
        """Fit ``loc`` and ``scale`` on a rollout of the parent env with uniformly random actions.

        The mean and standard deviation of the observations over the batch and time dimensions (per
        feature) become ``loc = mean, scale = std`` (``standard_normal=True``) or
        ``loc = -mean / std, scale = 1 / std``, so that the output is standardized either way.
        This sets the transform's configuration (as TorchRL's ``init_stats`` does): call it before
        compiling a function that uses the env.

        Args:
            key: an `frl.random` key for the reset and the random actions.
            steps: the rollout's length.
            batch_size: the env batch of the rollout.
            in_key: the entry to fit (default: the first of ``in_keys``).

        Returns:
            The transform itself.
        """
        from frl.envs.rollout import rollout
        if self.running:
            fail(self.name, "init_stats is for fixed statistics; running=True computes its own", RuntimeError)
        if self.loc is not None:
            fail(self.name, "loc and scale are already set", RuntimeError)
        parent = self._need_parent()
        k = self.in_keys[0] if in_key is None else in_key
        td = parent.reset(key, batch_size)
        traj = rollout(parent, None, td, steps)
        check_keys(self.name + ".init_stats", traj.get("next"), (k,), "rollout's next")
        obs = traj.get(("next",) + ((k,) if isinstance(k, str) else tuple(k)))
        flat = obs.reshape((-1,) + tuple(obs.shape[traj.batch_dims:])).double()
        mean, std = flat.mean(0), torch.clamp_min(flat.std(0), self.eps)
        dtype = torch.get_default_dtype()
        if self.standard_normal:
            self.loc, self.scale = mean.to(dtype), std.to(dtype)
        else:
            self.loc, self.scale = (-mean / std).to(dtype), (1.0 / std).to(dtype)
        return self

    # ---- running statistics ----------------------------------------------------------------------

    def _moments(self, x: torch.Tensor, nb: int):
        flat = x.reshape((-1,) + tuple(x.shape[nb:]))
        mean = flat.mean(0)
        # Population variance of the batch, as numpy's var in gymnasium's RunningMeanStd.
        var = ((flat - mean) ** 2).mean(0)
        return mean, var, flat.shape[0]

    def _update(self, mean, var, count, x, nb):
        b_mean, b_var, n = self._moments(x, nb)
        delta = b_mean - mean
        tot = count + n
        new_mean = mean + delta * (n / tot)
        m2 = var * count + b_var * n + delta**2 * (count * n / tot)
        return new_mean, m2 / tot, tot

    def _normalize(self, x, mean, var):
        return (x - mean) / torch.sqrt(var + self.eps)

    def _write(self, td: TensorDictBase, key, mean, var, count) -> None:
        batch = tuple(td.batch_size)
        km, kv, kc = self._state_keys(key)
        # Each env holds the shared statistics; contiguous copies keep compiled steps' stride guards stable.
        td.set(km, mean.expand(batch + tuple(mean.shape)).contiguous())
        td.set(kv, var.expand(batch + tuple(var.shape)).contiguous())
        td.set(kc, count.expand(batch).contiguous())

    def _read(self, td: TensorDictBase, key):
        nb = td.batch_dims
        km, kv, kc = self._state_keys(key)
        check_keys(self.name, td, (km, kv, kc), "input")
        first = (0,) * nb
        return td.get(km)[first], td.get(kv)[first], td.get(kc)[first]

    def _reset(self, td, prev):
        if not self.running:
            return super()._reset(td, prev)
        out = td.copy()
        nb = td.batch_dims
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            check_keys(self.name, td, (ki,), "reset")
            x = td.get(ki)
            if not x.is_floating_point():
                fail(self.name, f"{ki!r} has dtype {x.dtype}, expected a floating dtype", TypeError)
            if prev is None:
                shape = tuple(x.shape[nb:])
                mean = torch.zeros(shape, dtype=x.dtype, device=x.device)
                var = torch.ones(shape, dtype=x.dtype, device=x.device)
                count = torch.full((), 1e-4, dtype=x.dtype, device=x.device)
                mean, var, count = self._update(mean, var, count, x, nb)
            else:
                # An auto-reset: the statistics carry on from the step that ended the episode.
                mean, var, count = self._read(prev, ki)
            self._write(out, ki, mean, var, count)
            out.set(ko, self._normalize(x, mean, var))
        return out

    def _step(self, td, next_td):
        if not self.running:
            return super()._step(td, next_td)
        out = next_td.copy()
        nb = next_td.batch_dims
        for ki, ko in zip(self.in_keys, self.out_keys, strict=True):
            check_keys(self.name, next_td, (ki,), "step's next")
            x = next_td.get(ki)
            mean, var, count = self._update(*self._read(td, ki), x, nb)
            self._write(out, ki, mean, var, count)
            out.set(ko, self._normalize(x, mean, var))
        return out

    def __repr__(self) -> str:
        mode = "running" if self.running else ("standard_normal" if self.standard_normal else "affine")
        return f"ObservationNorm({mode}, in_keys={self.in_keys})"
