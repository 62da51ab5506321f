"""Triton kernels of frl.returns, run on CPU tensors in Triton's interpreter, vs the float64 loops.

tests/conftest.py sets TRITON_INTERPRET=1 before triton is imported. The interpreter is slow, so
sizes stay small; T values cover a single chunk, an exact multiple of the chunk and a ragged tail.
"""

from __future__ import annotations

import os

import pytest
import torch

triton = pytest.importorskip("triton")
if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
    pytest.skip("needs a GPU or TRITON_INTERPRET=1", allow_module_level=True)

from frl_triton import _common  # noqa: E402
from frl_triton._tile import CHUNK  # noqa: E402
from frl_triton.gae.kernel import gae_triton  # noqa: E402
from frl_triton.gae.reference import gae_reference  # noqa: E402
from frl_triton.td_lambda.kernel import td_lambda_triton  # noqa: E402
from frl_triton.td_lambda.reference import td_lambda_reference  # noqa: E402
from frl_triton.vtrace.kernel import vtrace_triton  # noqa: E402
from frl_triton.vtrace.reference import vtrace_reference  # noqa: E402

DTYPES = {"f32": torch.float32, "f64": torch.float64, "bf16": torch.bfloat16}
TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10), torch.bfloat16: (2e-2, 6e-2)}
CASES = [  # (shape, time_dim, layout id)
    ((3, 5, 1), -2, "bm-short"),
    ((2, 2 * CHUNK, 1), -2, "bm-exact"),
    ((5, CHUNK + 7, 1), -2, "bm-ragged"),
    ((CHUNK + 7, 3, 1), 0, "tm-ragged"),
    ((2, CHUNK + 3, 3), 1, "mid"),
]


def _inputs(shape, time_dim, dtype, pattern, seed):
    g = torch.Generator().manual_seed(seed)
    r, v, nv, log_rho = (torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for _ in range(4))
    if pattern == "random":
        done = torch.rand(shape, generator=g) < 0.15
        term = done & (torch.rand(shape, generator=g) < 0.5)
    elif pattern == "edges":  # done at t=0 and at t=T-1 only, truncated at the end
        done = torch.zeros(shape, dtype=torch.bool)
        done.select(time_dim, 0).fill_(True)
        done.select(time_dim, -1).fill_(True)
        term = torch.zeros(shape, dtype=torch.bool)
        term.select(time_dim, 0).fill_(True)
    else:
        done = term = torch.full(shape, pattern == "all", dtype=torch.bool)
    acc = torch.promote_types(dtype, torch.float32)
    gamma = (0.8 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float64)).to(acc)
    lmbda = torch.tensor(0.9, dtype=acc).expand(shape)  # a stride-0 view, as frl.returns passes
    return r, v, nv, 0.5 * log_rho, done, term, gamma, lmbda


def _close(actual, expected, dtype):
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(actual.double(), expected, rtol=rtol, atol=atol)


GAE_GRID = [(c[0], c[1], d, "random") for c in CASES for d in DTYPES.values()] + [
    (c[0], c[1], torch.float32, p) for c in CASES for p in ("edges", "all", "none")]
GAE_IDS = [f"{c[2]}-{k}-random" for c in CASES for k in DTYPES] + [
    f"{c[2]}-f32-{p}" for c in CASES for p in ("edges", "all", "none")]


@pytest.mark.parametrize("shape,time_dim,dtype,pattern", GAE_GRID, ids=GAE_IDS)
def test_gae_kernel_matches_reference(shape, time_dim, dtype, pattern):
    r, v, nv, _, done, term, gamma, lmbda = _inputs(shape, time_dim, dtype, pattern, 0)
    adv, target = gae_triton(r, v, nv, done, term, gamma, lmbda, time_dim)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda, time_dim)
    assert adv.dtype == dtype and adv.shape == r.shape
    if shape[-1] == 1 or time_dim == 0:  # layouts viewable as [T, N]: outputs keep the input layout
        assert adv.stride() == r.stride()
    _close(adv, ref_adv, dtype)
    _close(target, ref_target, dtype)


@pytest.mark.parametrize("pattern", ["random", "edges"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("shape,time_dim", [c[:2] for c in CASES], ids=[c[2] for c in CASES])
def test_td_lambda_kernel_matches_reference(shape, time_dim, dtype, pattern):
    r, _, nv, _, done, term, gamma, lmbda = _inputs(shape, time_dim, dtype, pattern, 1)
    out = td_lambda_triton(r, nv, done, term, gamma, lmbda, time_dim)
    _close(out, td_lambda_reference(r, nv, done, term, gamma, lmbda, time_dim), dtype)


@pytest.mark.parametrize("pattern,clip", [("random", (1.0, 1.0)), ("edges", (2.0, 0.5))],
                         ids=["random-clip1", "edges-clip2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape,time_dim", [c[:2] for c in CASES], ids=[c[2] for c in CASES])
def test_vtrace_kernel_matches_reference(shape, time_dim, dtype, pattern, clip):
    r, v, nv, log_rho, done, term, gamma, _ = _inputs(shape, time_dim, dtype, pattern, 2)
    vs, pg = vtrace_triton(r, v, nv, log_rho, done, term, gamma, clip[0], clip[1], time_dim)
    ref_vs, ref_pg = vtrace_reference(r, v, nv, log_rho, done, term, gamma, *clip, time_dim)
    _close(vs, ref_vs, dtype)
    _close(pg, ref_pg, dtype)


@pytest.mark.parametrize("wide", [False, True], ids=["int32-offsets", "int64-offsets"])
def test_kernels_with_scalar_coefficients_and_64_bit_offsets(monkeypatch, wide):
    """Scalar gamma and lambda (stride-0 views, read once per program) and the 64-bit offset path.

    Offsets need 64 bits only for tensors over 2**31 elements, too large for a test, so the launch
    layout is forced to take that path on small tensors.
    """
    from frl_triton import _tile

    layout = _tile.launch_layout
    monkeypatch.setattr(_tile, "launch_layout", lambda i, o: (layout(i, o)[0], wide))
    shape, time_dim = (5, CHUNK + 7, 1), -2
    r, v, nv, log_rho, done, term, _, _ = _inputs(shape, time_dim, torch.float32, "random", 3)
    gamma, lmbda = torch.tensor(0.97).expand(shape), torch.tensor(0.9).expand(shape)
    assert _tile.is_scalar(gamma) and not _tile.is_scalar(r)
    adv, target = gae_triton(r, v, nv, done, term, gamma, lmbda, time_dim)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda, time_dim)
    _close(adv, ref_adv, torch.float32)
    _close(target, ref_target, torch.float32)
    out = td_lambda_triton(r, nv, done, term, gamma, lmbda, time_dim)
    _close(out, td_lambda_reference(r, nv, done, term, gamma, lmbda, time_dim), torch.float32)
    vs, pg = vtrace_triton(r, v, nv, log_rho, done, term, gamma, 1.0, 1.0, time_dim)
    ref_vs, ref_pg = vtrace_reference(r, v, nv, log_rho, done, term, gamma, 1.0, 1.0, time_dim)
    _close(vs, ref_vs, torch.float32)
    _close(pg, ref_pg, torch.float32)


def test_kernels_under_vmap():
    """The triton ops' vmap rules: an ensemble of 3 with one unbatched argument."""
    shape = (2, 9, 1)
    members = [_inputs(shape, -2, torch.float32, "random", s) for s in range(3)]
    r, v, nv, log_rho, done, term, gamma, lmbda = (torch.stack(xs) for xs in zip(*members, strict=True))
    adv, target = torch.vmap(gae_triton, in_dims=(0, 0, 0, 0, None, 0, None, None))(
        r, v, nv, done, term[0], gamma, lmbda[0], -2)
    for i in range(3):
        ref_adv, ref_target = gae_reference(r[i], v[i], nv[i], done[i], term[0], gamma[i], lmbda[0])
        _close(adv[i], ref_adv, torch.float32)
        _close(target[i], ref_target, torch.float32)
    out = torch.vmap(td_lambda_triton, in_dims=(0, 0, 0, 0, 0, 0, None))(r, nv, done, term, gamma, lmbda, -2)
    for i in range(3):
        _close(out[i], td_lambda_reference(r[i], nv[i], done[i], term[i], gamma[i], lmbda[i]), torch.float32)
    vs, pg = torch.vmap(vtrace_triton, in_dims=(0, 0, 0, 0, 0, 0, 0, None, None, None))(
        r, v, nv, log_rho, done, term, gamma, 1.0, 1.0, -2)
    for i in range(3):
        ref_vs, ref_pg = vtrace_reference(r[i], v[i], nv[i], log_rho[i], done[i], term[i], gamma[i], 1.0, 1.0)
        _close(vs[i], ref_vs, torch.float32)
        _close(pg[i], ref_pg, torch.float32)


# --- the CPU scan behind the ops (no Triton involved) ----------------------------------------------


@pytest.mark.parametrize("T, N", [(3, 4), (50, 5), (64, 3), (101, 7), (20, _common._WIDE)],
                         ids=["serial-short", "blocked-head", "blocked-exact", "blocked-long", "serial-wide"])
def test_reverse_scan_matches_loop(T, N):
    g = torch.Generator().manual_seed(T)
    x = torch.randn(T, N, generator=g, dtype=torch.float64)
    c = torch.rand(T, N, generator=g, dtype=torch.float64) * (torch.rand(T, N, generator=g) > 0.1)
    expected = torch.zeros_like(x)
    running = torch.zeros(N, dtype=torch.float64)
    for t in reversed(range(T)):
        running = x[t] + c[t] * running
        expected[t] = running
    torch.testing.assert_close(_common.reverse_scan(x, c), expected, rtol=1e-12, atol=1e-12)
    inplace = x.clone()
    _common.reverse_scan(inplace, c, out=inplace)
    torch.testing.assert_close(inplace, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, time_dim", [((3, 40, 1), -2), ((40, 3, 1), 0), ((2, 40, 3), 1)],
                         ids=["batch-major", "time-major", "other"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scan_along_flag_pair_equals_tensor_coef(shape, time_dim, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=dtype)
    flag = torch.rand(shape, generator=g) < 0.2
    coef = (~flag).to(dtype) * 0.9
    expected = _common.scan_along(x.clone(), coef, time_dim)
    torch.testing.assert_close(_common.scan_along(x.clone(), (flag, 0.9), time_dim), expected)
