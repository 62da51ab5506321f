"""The shape of frl.buffers: module-level pure functions bound by a factory, clean module boundaries."""

import ast
import pathlib

import pytest
import torch

import frl
import frl.buffers as fb
from frl import random as fr

PACKAGE = pathlib.Path(fb.__file__).parent


def _module(name: str):
    import sys

    return sys.modules[f"frl.buffers.{name}"]


def test_module_functions_equal_the_bound_ones(transitions):
    # Each piece can be called alone with its settings: the factory only checks and binds them.
    uniform = _module("uniform")
    data = transitions(20)
    buf = fb.uniform(32)
    state = uniform.add(uniform.init(data[0], capacity=32), data, capacity=32)
    batch, info = uniform.sample(state, fr.key(3), 16, capacity=32)
    bound_batch, bound_info = buf.sample(buf.add(buf.init(data[0]), data), fr.key(3), 16)
    assert torch.equal(info["index"], bound_info["index"])
    assert (batch == bound_batch).all()
    assert bool(uniform.can_sample(state, 20)) and not bool(uniform.can_sample(state, 21))


def test_prioritized_functions_take_the_tree_layout(transitions):
    mod = _module("prioritized")
    from frl.buffers import _tree

    lay = _tree.layout(16, 4)
    state = mod.add(mod.init(transitions(1)[0], lay=lay), transitions(10), lay=lay)
    state = mod.update_priorities(state, torch.arange(10), torch.arange(10.0), lay=lay, alpha=1.0, eps=0.0)
    _, info = mod.sample(state, fr.key(0), 64, lay=lay, default_beta=0.4)
    assert (info["index"] > 0).all(), "row 0 has priority zero"


@pytest.mark.parametrize("name", ["uniform", "prioritized", "without_replacement", "trajectory"])
def test_factories_return_bound_module_functions(name):
    buf = {"uniform": lambda: fb.uniform(8), "prioritized": lambda: fb.prioritized(8),
           "without_replacement": lambda: fb.without_replacement(8),
           "trajectory": lambda: fb.trajectory(8, 2)}[name]()
    mod = _module(name)
    for field in buf._fields:
        fn = getattr(buf, field)
        if callable(fn):
            assert getattr(fn, "func", fn) is getattr(mod, field), f"{name}.{field} is not the module's function"


def _imports(path: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in ``path``, including those inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def test_no_module_imports_another_modules_private_names():
    for path in PACKAGE.glob("*.py"):
        for module, names in _imports(path):
            private = [n for n in names if n.startswith("_") and n != "__future__"]
            # Importing a private *module* of the package (frl.buffers._storage) is fine: its names
            # are public within it. Importing a private name *from* a module is not.
            if module.startswith("frl") and module != "frl.buffers":
                assert not private, f"{path.name} imports {private} from {module}"


def test_no_import_cycle_in_frl_buffers():
    graph = {}
    for path in PACKAGE.glob("*.py"):
        name = f"frl.buffers.{path.stem}" if path.stem != "__init__" else "frl.buffers"
        deps = set()
        for module, names in _imports(path):
            if module == "frl.buffers":
                deps.update(f"frl.buffers.{n}" for n in names)
            elif module.startswith("frl.buffers."):
                deps.add(module)
        graph[name] = deps - {"frl.buffers"}
    graph.pop("frl.buffers")

    def visit(node, stack):
        assert node not in stack, f"import cycle: {' -> '.join([*stack, node])}"
        for dep in graph.get(node, ()):
            visit(dep, [*stack, node])

    for node in graph:
        visit(node, [])
