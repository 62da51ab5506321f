"""Compile ``returns.c`` on first use with the system C compiler, cache the library, load it with ctypes.

No torch headers and no Python C-API are involved, so the build takes about a second (not the
30-60 s of a torch C++ extension) and the library does not depend on torch's ABI. The compiler is
``$CC`` if set (and only that one), else the first of ``cc``, ``gcc``, ``clang`` on the PATH: the
same compiler torch.compile's CPU backend needs.

The library is cached per user, in ``$FRL_CACHE_DIR`` or ``$XDG_CACHE_HOME/frl`` or ``~/.cache/frl``,
under a name keyed by a hash of the source, the compiler, its flags and the CPU (``-march=native``
code must not run on another CPU that shares the home directory). A build writes a temporary file
and renames it into place, so parallel processes (pytest-xdist workers) never load a half-written
library: at worst two of them compile the same file.

If no compiler is found or the build fails, `library()` returns None after one warning, and the
ops use their torch implementation.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TypedDict

SOURCE = Path(__file__).with_name("returns.c")
# -O3 for the vectorizer; -march=native is safe because the library is built on the machine that
# runs it (and keyed by its CPU), with a generic build as the fallback where the flag is refused.
# -march=native is also what turns on returns.c's AVX-512 / AVX2 rows loop on CPUs that have them.
FLAGS = [["-O3", "-march=native"], ["-O3"]]
# No -std=c99: ISO mode turns off floating-point contraction (FMA) in gcc.
BASE_FLAGS = ["-shared", "-fPIC"]



class _Loaded(TypedDict):
    lib: ctypes.CDLL | None  # the loaded library, None where it cannot be had
    path: str | None
    compiled: bool  # by this process


_lock = threading.Lock()
# per dtype ("f32", "f64")
_state: dict[str, _Loaded] = {}


def cache_dir() -> Path:
    """The directory compiled libraries are cached in (not created here)."""
    if os.environ.get("FRL_CACHE_DIR"):
        return Path(os.environ["FRL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "frl"


def find_compiler() -> list[str] | None:
    """The compiler command: ``$CC`` (split like a shell word list) or cc / gcc / clang, else None."""
    if os.environ.get("CC"):
        cmd = shlex.split(os.environ["CC"])
        return cmd if cmd and shutil.which(cmd[0]) else None
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _cpu_id() -> str:
    """What identifies this CPU's instruction set: the machine and, on Linux, the cpuinfo flags."""
    ident = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    ident += line
                if line.strip() == "":  # the first processor's block is enough
                    break
    except OSError:
        pass
    return ident


def _build(compiler: list[str], flags: list[str], target: Path) -> str | None:
    """Compile into ``target`` atomically; return None on success, else the compiler's message."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", prefix=target.stem + ".", dir=target.parent)
    os.close(fd)
    try:
        # The source includes itself by its own path (__FILE__), so compile it by its absolute path.
        proc = subprocess.run([*compiler, *flags, *BASE_FLAGS, "-o", tmp, str(SOURCE.resolve()), "-lm"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return (proc.stderr or proc.stdout).strip()[-2000:]
        os.replace(tmp, target)
        return None
    except OSError as e:
        return str(e)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _declare(lib: ctypes.CDLL, dtype: str) -> ctypes.CDLL:
    for name in ("frl_gae", "frl_td_lambda", "frl_vtrace"):
        fn = getattr(lib, f"{name}_{dtype}")
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p),
                       ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double)]
    return lib


def _load(dtype: str) -> tuple[ctypes.CDLL | None, str | None, bool, str]:
    """(library, path, compiled by this call, why it is None) for dtype "f32" or "f64"."""
    compiler = find_compiler()
    if compiler is None:
        cc = os.environ.get("CC")
        return None, None, False, f"CC={cc!r} was not found" if cc else "no C compiler (cc, gcc, clang) found"
    source = SOURCE.read_bytes()
    errors = []
    for flags in FLAGS:
        flags = [*flags, f"-DFRL_{dtype.upper()}"]
        key = hashlib.sha256(b"\0".join([source, " ".join(compiler + flags + BASE_FLAGS).encode(),
                                         _cpu_id().encode()])).hexdigest()[:16]
        path = cache_dir() / f"returns-{dtype}-{key}.so"
        compiled = False
        if not path.exists():
            err = _build(compiler, flags, path)
            if err is not None:
                errors.append(f"{' '.join(compiler + flags)}: {err}")
                continue
            compiled = True
        try:
            return _declare(ctypes.CDLL(str(path)), dtype), str(path), compiled, ""
        except OSError as e:
            errors.append(f"loading {path}: {e}")
    return None, None, False, "; ".join(errors)


def library(dtype: str = "f32") -> ctypes.CDLL | None:
    """The kernels for ``dtype`` ("f32" or "f64"), built or loaded once per process, or None.

    A library is built for the first dtype a process uses only (a first call compiles half the
    code). Where it cannot be had, the first call warns once and every later call returns None.
    """
    state = _state.get(dtype)
    if state is None:
        with _lock:
            state = _state.get(dtype)
            if state is None:
                if any(s["lib"] is None for s in _state.values()):  # no compiler: no second try, warning
                    state = _Loaded(lib=None, path=None, compiled=False)
                else:
                    lib, path, compiled, why = _load(dtype)
                    state = _Loaded(lib=lib, path=path, compiled=compiled)
                    if lib is None:
                        warnings.warn(f"frl: the fused CPU kernels of frl.returns are unavailable ({why}); "
                                      f"using the slower torch implementation", RuntimeWarning, stacklevel=3)
                _state[dtype] = state
    return state["lib"]


def info(dtype: str = "f32") -> dict:
    """Where ``dtype``'s library came from: ``{"available", "path", "compiled"}`` (by this process)."""
    lib = library(dtype)
    state = _state[dtype]
    return {"available": lib is not None, "path": state["path"], "compiled": state["compiled"]}
