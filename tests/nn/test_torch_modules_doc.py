"""The doctests of docs/torch-modules.md (TorchRL README's examples written with frl) run as shown."""

import doctest
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "torch-modules.md"


def test_torch_modules_page():
    result = doctest.testfile(str(PAGE), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 30
    assert result.failed == 0


def test_docstring_examples_of_the_new_modules():
    import importlib

    import torch
    from tensordict import TensorDict

    import frl

    for name in ("from_torch", "td_module", "sequential", "from_specs"):
        mod = importlib.import_module(f"frl.nn.{name}")
        result = doctest.testmod(mod, extraglobs={"torch": torch, "frl": frl, "TensorDict": TensorDict},
                                 optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, name
