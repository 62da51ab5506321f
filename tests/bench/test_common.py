"""bench/_common.py: the TorchRL interpreter comes only from FRL_TORCHRL_PYTHON."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_frl_bench_{name}", os.path.join(_ROOT, "bench", f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_default_interpreter_when_unset(monkeypatch, capsys):
    common = _load("_common")
    monkeypatch.delenv("FRL_TORCHRL_PYTHON", raising=False)
    # Even where some interpreter exists at a guessed path, nothing is picked without the variable.
    monkeypatch.setattr(common.os.path, "exists", lambda path: True)
    assert common.torchrl_python() is None
    assert common.run_comparator("unused.py") is None
    assert "FRL_TORCHRL_PYTHON is not set: the TorchRL rows are skipped" in capsys.readouterr().err


def test_interpreter_from_the_variable(monkeypatch, capsys):
    common = _load("_common")
    monkeypatch.setenv("FRL_TORCHRL_PYTHON", sys.executable)
    assert common.torchrl_python() == sys.executable
    missing = os.path.join(_ROOT, "no-such-dir", "python")
    monkeypatch.setenv("FRL_TORCHRL_PYTHON", missing)
    assert common.torchrl_python() is None
    assert f"FRL_TORCHRL_PYTHON={missing} does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("value", [None, "no-such-python"])
def test_returns_bench_skips_torchrl_rows_without_the_variable(monkeypatch, value):
    monkeypatch.syspath_prepend(os.path.join(_ROOT, "bench"))
    returns_bench = _load("returns")
    if value is None:
        monkeypatch.delenv("FRL_TORCHRL_PYTHON", raising=False)
    else:
        monkeypatch.setenv("FRL_TORCHRL_PYTHON", value)
    monkeypatch.setattr(returns_bench.os.path, "exists", lambda path: path != "no-such-python")
    rows, note = returns_bench.torchrl_rows([(1, 2)], 1)
    assert rows == []
    assert note.startswith("TorchRL rows skipped: FRL_TORCHRL_PYTHON")
