"""The fused C kernels of frl_triton.cpu vs the float64 reference loops; the build cache; the fallback.

The kernels are called through frl_triton.cpu.scan on every memory layout they have a loop for
(batch-major rows, time-major columns, any other strides), every dtype, done pattern and
per-step / scalar coefficients. Cache and fallback tests run in subprocesses with their own cache
directory, so that they see a fresh process state.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from frl_triton.cpu import build, scan
from frl_triton.gae.reference import gae_reference
from frl_triton.td_lambda.reference import td_lambda_reference
from frl_triton.vtrace.reference import vtrace_reference

if not build.info()["available"]:
    pytest.skip("no C compiler: the fused CPU kernels are unavailable", allow_module_level=True)

ROOT = Path(__file__).parents[2]
TOL = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-10, 1e-10), torch.bfloat16: (1.6e-2, 5e-2)}
# layout id -> (shape for (N, T), time_dim): batch-major rows, time-major columns, and a layout whose
# [T, N] view is neither (time in the middle, a trailing dim of 2: the generic loop on a copy)
LAYOUTS = {
    "batch-major": (lambda n, t: (n, t, 1), -2),
    "time-major": (lambda n, t: (t, n, 1), 0),
    "middle": (lambda n, t: (n, t, 2), 1),
}


def _inputs(shape, time_dim, dtype, pattern, per_step, seed):
    g = torch.Generator().manual_seed(seed)
    r, v, nv, log_rho = (torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for _ in range(4))
    u = torch.rand(shape, generator=g)
    if pattern == "random":
        done = u < 0.2
        term = done & (torch.rand(shape, generator=g) < 0.5)
    elif pattern == "truncated":  # done but never terminated
        done, term = u < 0.3, torch.zeros(shape, dtype=torch.bool)
    elif pattern in ("first", "last"):
        done = torch.zeros(shape, dtype=torch.bool)
        done.select(time_dim, 0 if pattern == "first" else -1).fill_(True)
        term = done.clone()
    else:
        done = term = torch.full(shape, pattern == "all", dtype=torch.bool)
    acc = torch.promote_types(dtype, torch.float32)
    if per_step:
        gamma = (0.8 + 0.2 * torch.rand(shape, generator=g, dtype=torch.float64)).to(acc)
        lmbda = torch.rand(shape, generator=g, dtype=torch.float64).to(acc)
    else:  # stride-0 views, as frl.returns passes scalars
        gamma, lmbda = torch.tensor(0.97, dtype=acc).expand(shape), torch.tensor(0.9, dtype=acc).expand(shape)
    return r, v, nv, 0.5 * log_rho, done, term, gamma, lmbda


def _close(actual, expected, dtype):
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(actual.double(), expected, rtol=rtol, atol=atol)


@settings(max_examples=30, deadline=None)
@given(
    layout=st.sampled_from(list(LAYOUTS)),
    n=st.integers(1, 20),  # > the kernel's tile of rows, and a ragged last tile
    T=st.integers(1, 300),  # past a float64 chunk of steps (256); longer T: test_long_sequences_cross_chunks
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    pattern=st.sampled_from(["random", "truncated", "first", "last", "all", "none"]),
    per_step=st.booleans(),
    clip=st.sampled_from([(1.0, 1.0), (0.5, 2.0), (float("inf"), 0.9)]),
    seed=st.integers(0, 2**16),
)
def test_kernels_match_references(layout, n, T, dtype, pattern, per_step, clip, seed):
    make_shape, time_dim = LAYOUTS[layout]
    shape = make_shape(n, T)
    r, v, nv, lr, done, term, gamma, lmbda = _inputs(shape, time_dim, dtype, pattern, per_step, seed)

    adv, target = scan.gae(r, v, nv, done, term, gamma, lmbda, time_dim)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda, time_dim)
    assert adv.dtype == dtype and adv.shape == r.shape
    if layout != "middle":  # outputs keep the inputs' layout
        assert adv.stride() == r.stride() and target.stride() == r.stride()
    _close(adv, ref_adv, dtype)
    _close(target, ref_target, dtype)

    out = scan.td_lambda(r, nv, done, term, gamma, lmbda, time_dim)
    _close(out, td_lambda_reference(r, nv, done, term, gamma, lmbda, time_dim), dtype)

    vs, pg = scan.vtrace(r, v, nv, lr, done, term, gamma, *clip, time_dim)
    ref_vs, ref_pg = vtrace_reference(r, v, nv, lr, done, term, gamma, *clip, time_dim)
    _close(vs, ref_vs, dtype)
    _close(pg, ref_pg, dtype)


@pytest.mark.parametrize("T", [257, 513, 1100], ids=lambda t: f"T={t}")  # past 1 and 2 chunks, ragged
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["batch-major", "time-major"])
def test_long_sequences_cross_chunks(T, dtype, layout):
    """The rows loop carries the scan (and V-trace's next vs) across chunks of steps."""
    make_shape, time_dim = LAYOUTS[layout]
    shape = make_shape(9, T)  # a full tile of rows and a partial one
    for per_step in (False, True):
        r, v, nv, lr, done, term, gamma, lmbda = _inputs(shape, time_dim, dtype, "random", per_step, T)
        done &= torch.rand(shape, generator=torch.Generator().manual_seed(1)) < 0.1  # long episodes
        term &= done
        adv, target = scan.gae(r, v, nv, done, term, gamma, lmbda, time_dim)
        ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda, time_dim)
        _close(adv, ref_adv, dtype)
        _close(target, ref_target, dtype)
        out = scan.td_lambda(r, nv, done, term, gamma, lmbda, time_dim)
        _close(out, td_lambda_reference(r, nv, done, term, gamma, lmbda, time_dim), dtype)
        vs, pg = scan.vtrace(r, v, nv, lr, done, term, gamma, 1.0, 0.9, time_dim)
        ref_vs, ref_pg = vtrace_reference(r, v, nv, lr, done, term, gamma, 1.0, 0.9, time_dim)
        _close(vs, ref_vs, dtype)
        _close(pg, ref_pg, dtype)


def test_strided_and_broadcast_inputs():
    """Non-contiguous inputs (a slice, an expanded bool) take the generic loop and stay correct."""
    g = torch.Generator().manual_seed(3)
    big = torch.randn(6, 50, 3, generator=g, dtype=torch.float64)
    r, v, nv = big[..., 0:1], big[..., 1:2], big[..., 2:3]  # sn = 150, st = 3
    done = torch.zeros((), dtype=torch.bool).expand(6, 50, 1)  # all strides 0
    term = torch.rand(6, 50, 1, generator=g) < 0.1
    gamma, lmbda = torch.tensor(0.9, dtype=torch.float64).expand(6, 50, 1), torch.rand(6, 50, 1, generator=g,
                                                                                        dtype=torch.float64)
    adv, target = scan.gae(r, v, nv, done, term, gamma, lmbda, -2)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda)
    _close(adv, ref_adv, torch.float64)
    _close(target, ref_target, torch.float64)


def test_exp_matches_torch_over_float32_range():
    """V-trace's vectorizable exp (in the C source) against torch.exp, through rho = min(inf, e^x)."""
    x = torch.cat([torch.linspace(-100, 100, 20001), torch.tensor([float("nan"), float("inf"), -float("inf")])])
    shape = (x.numel(), 1, 1)  # one step per row: an inf cannot reach other elements through the scan
    zeros = torch.zeros(shape)
    no = torch.zeros(shape, dtype=torch.bool)
    gamma = torch.tensor(0.0).expand(shape)
    # gamma = 0 and reward = 1: vs = pg = min(rho_bar, rho) * 1, so with rho_bar = inf, vs = e^x.
    vs, _ = scan.vtrace(torch.ones(shape), zeros, zeros, x.view(shape), no, no, gamma, float("inf"), 1.0, -2)
    expected = torch.exp(x)
    finite = expected > 1e-37  # below that torch returns subnormals and the kernel 0
    torch.testing.assert_close(vs.view(-1)[finite], expected[finite], rtol=3e-7, atol=0, equal_nan=True)
    assert (vs.view(-1)[~finite & ~x.isnan()] <= 1e-37).all()
    assert vs.view(-1)[-3].isnan() and vs.view(-1)[-2] == float("inf") and vs.view(-1)[-1] == 0


def test_exp_matches_torch_over_float64_range():
    """V-trace's float64 exp (a vector polynomial with AVX-512, libm otherwise) against torch.exp."""
    x = torch.cat([torch.linspace(-800, 800, 40001, dtype=torch.float64),
                   torch.tensor([float("nan"), float("inf"), -float("inf"), 709.78, 709.79, -745.1, -745.2, 0.0],
                                dtype=torch.float64)])
    shape = (x.numel(), 1, 1)
    zeros = torch.zeros(shape, dtype=torch.float64)
    no = torch.zeros(shape, dtype=torch.bool)
    gamma = torch.tensor(0.0, dtype=torch.float64).expand(shape)
    vs, _ = scan.vtrace(torch.ones(shape, dtype=torch.float64), zeros, zeros, x.view(shape), no, no, gamma,
                        float("inf"), 1.0, -2)
    vs, expected = vs.view(-1), torch.exp(x)
    normal = expected > 1e-300
    torch.testing.assert_close(vs[normal], expected[normal], rtol=1e-15, atol=0, equal_nan=True)
    torch.testing.assert_close(vs[~normal], expected[~normal], rtol=0, atol=1e-315, equal_nan=True)


# --- build cache and fallback (fresh processes) -----------------------------------------------------

_PROBE = """
import json, warnings, torch
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import frl.returns as R
    from frl_triton.cpu import build
    from frl_triton.gae.reference import gae_reference
    g = torch.Generator().manual_seed(0)
    r, v, nv = (torch.randn(3, 40, 1, generator=g) for _ in range(3))
    d = torch.rand(3, 40, 1, generator=g) < 0.2
    adv, _ = R.gae(r, v, nv, d, gamma=0.9, lmbda=0.8)
    R.td_lambda_return(r, nv, d, gamma=0.9, lmbda=0.8)
    ref, _ = gae_reference(r, v, nv, d, d, 0.9, 0.8)
print(json.dumps(dict(info=build.info(), err=float((adv.double() - ref).abs().max()),
                      warnings=[str(w.message) for w in caught if "frl" in str(w.message)])))
"""


def _probe(env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cache_second_process_loads_without_compiling(tmp_path):
    first = _probe({"FRL_CACHE_DIR": str(tmp_path)})
    assert first["info"]["available"] and first["info"]["compiled"]
    assert first["err"] < 1e-5 and first["warnings"] == []
    libs = list(tmp_path.glob("returns-*.so"))
    assert len(libs) == 1 and not list(tmp_path.glob("*.so.*"))  # no temporary file left behind
    mtime = libs[0].stat().st_mtime_ns
    second = _probe({"FRL_CACHE_DIR": str(tmp_path)})
    assert second["info"] == dict(available=True, path=str(libs[0]), compiled=False)
    assert libs[0].stat().st_mtime_ns == mtime


def test_fallback_without_compiler_warns_once_and_stays_correct(tmp_path):
    out = _probe({"FRL_CACHE_DIR": str(tmp_path), "CC": str(tmp_path / "no-such-cc")})
    assert out["info"]["available"] is False
    assert len(out["warnings"]) == 1 and "no-such-cc" in out["warnings"][0]
    assert out["err"] < 1e-5  # the torch blocked scan
    assert not list(tmp_path.glob("*.so"))


def test_fallback_when_compilation_fails(tmp_path):
    """A compiler that exists but fails (here: `false`) also falls back, with the reason in the warning."""
    out = _probe({"FRL_CACHE_DIR": str(tmp_path), "CC": "false"})
    assert out["info"]["available"] is False
    assert len(out["warnings"]) == 1 and "false" in out["warnings"][0]
    assert out["err"] < 1e-5


# --- the rows loop's two implementations (AVX-512 where the build targets it, portable otherwise) ---

def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


_FLAGS = _cpu_flags()


@pytest.mark.skipif("avx512f" not in _FLAGS, reason="the CPU has no AVX-512F")
def test_native_build_uses_the_avx512_rows_loop():
    """On an AVX-512 CPU the -march=native build runs the vector rows loop (16 floats, 8 doubles)."""
    for dtype, lanes in (("f32", 16), ("f64", 8)):
        lib = build.library(dtype)
        assert getattr(lib, f"frl_simd_{dtype}")() == lanes


def _rows_case(n, T, dtype, per_step, seed, pattern="random"):
    """Every op on batch-major [n, T, 1] inputs against its reference."""
    r, v, nv, lr, done, term, gamma, lmbda = _inputs((n, T, 1), -2, dtype, pattern, per_step, seed)
    adv, target = scan.gae(r, v, nv, done, term, gamma, lmbda, -2)
    ref_adv, ref_target = gae_reference(r, v, nv, done, term, gamma, lmbda, -2)
    _close(adv, ref_adv, dtype)
    _close(target, ref_target, dtype)
    out = scan.td_lambda(r, nv, done, term, gamma, lmbda, -2)
    _close(out, td_lambda_reference(r, nv, done, term, gamma, lmbda, -2), dtype)
    vs, pg = scan.vtrace(r, v, nv, lr, done, term, gamma, 1.0, 0.9, -2)
    ref_vs, ref_pg = vtrace_reference(r, v, nv, lr, done, term, gamma, 1.0, 0.9, -2)
    _close(vs, ref_vs, dtype)
    _close(pg, ref_pg, dtype)


# n and T around the vector widths (8, 16) and a float64 chunk (256): ragged last blocks and chunks
_ROWS_CASES = [(1, 1), (3, 15), (17, 16), (5, 17), (16, 33), (2, 255), (4, 257), (3, 530)]


_PATTERNS = ["random", "truncated", "first", "last", "all", "none"]


def _rows_cases(dtype):
    for i, (n, T) in enumerate(_ROWS_CASES):
        _rows_case(n, T, dtype, per_step=bool(i % 2), seed=i, pattern=_PATTERNS[i % len(_PATTERNS)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_rows_loop_ragged_blocks(dtype):
    _rows_cases(dtype)


def test_rows_loop_large_outputs_streamed():
    """Outputs past the kernel's streaming threshold (4 MiB) are written with non-temporal stores where
    a block is aligned: T = 520 floats makes every other row 64-byte aligned, so both kinds of store
    run in one call."""
    _rows_case(1024, 520, torch.float32, per_step=False, seed=5)


_ROWS_PROBE = """
import json, sys
sys.argv = ["probe"]
from frl_triton.cpu import build
import tests.triton.test_cpu_kernels as T
import torch
simd = [getattr(build.library(d), f"frl_simd_{d}")() for d in ("f32", "f64")]
for dtype in (torch.float32, torch.float64):
    T._rows_cases(dtype)
    for pattern in T._PATTERNS:
        T._rows_case(7, 40, dtype, per_step=False, seed=1, pattern=pattern)
T._rows_case(64, 300, torch.float32, per_step=True, seed=9)
T._rows_case(1024, 520, torch.float32, per_step=False, seed=5)  # streamed stores
T.test_exp_matches_torch_over_float32_range()
T.test_exp_matches_torch_over_float64_range()
print(json.dumps(dict(simd=simd, info=build.info())))
"""


@pytest.mark.parametrize("extra_flag, lanes", [
    pytest.param("-DFRL_NO_VEC", [0, 0], id="portable"),
    pytest.param("-mno-avx512f", [8, 4], id="avx2", marks=pytest.mark.skipif(
        not {"avx2", "fma"} <= _FLAGS or platform.machine() not in ("x86_64", "AMD64"),
        reason="the CPU has no AVX2 and FMA")),
])
def test_other_rows_loops(tmp_path, extra_flag, lanes):
    """The rows loops that this CPU's -march=native build does not run, built with an extra flag through
    $CC: the portable C loop (-DFRL_NO_VEC, what a generic build or another ISA runs) and the AVX2 one
    (-mno-avx512f, what an AVX2 CPU without AVX-512 runs)."""
    env = {k: v for k, v in os.environ.items() if k != "CC"}
    cc = build.find_compiler()
    env.update(FRL_CACHE_DIR=str(tmp_path), CC=" ".join([*cc, extra_flag]))
    out = subprocess.run([sys.executable, "-c", _ROWS_PROBE], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["info"]["available"] and res["info"]["compiled"]
    assert res["simd"] == lanes
