"""The Example sections of frl.nn's docstrings run and print what they claim."""

import doctest
import importlib

import pytest
import torch
from tensordict import TensorDict

import frl
import frl.nn

MODULES = ["module", "mlp", "convnet", "distributions", "actor", "actor_critic", "exploration"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(f"frl.nn.{name}")
    result = doctest.testmod(mod, extraglobs={"torch": torch, "frl": frl, "TensorDict": TensorDict},
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
