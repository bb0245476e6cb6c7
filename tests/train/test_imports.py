"""The training package's imports point one way, and the loop names no concrete callback."""

import ast
from pathlib import Path

import minigrad.train

PACKAGE = Path(minigrad.train.__file__).parent


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at run time or for type checking alone."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_of_the_package_imports_another_that_imports_it_back():
    graph = {p.stem: {m.rsplit(".", 1)[-1] for m in imports_of(p)
                      if m.startswith("minigrad.train.")}
             for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def reaches(start, target, seen=()):
        return any(n == target or (n not in seen and reaches(n, target, (*seen, n)))
                   for n in graph.get(start, ()))

    circles = sorted(name for name in graph if reaches(name, name))
    assert circles == []


def test_the_loop_and_the_trainer_know_no_concrete_callback_or_scheduler():
    for module in ("loop", "trainer"):
        imported = imports_of(PACKAGE / f"{module}.py")
        assert "minigrad.train.callbacks" not in imported, module
        assert not any(name.startswith("minigrad.optim") for name in imported), module
