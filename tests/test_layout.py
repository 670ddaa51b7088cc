"""DESIGN.md's dependency rules: filters import neither side; server and client share only proto."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

FORBIDDEN = {
    "filters": ("protege.server", "protege.client"),
    "server": ("protege.client",),
    "client": ("protege.server",),
}


def imported_modules(path: Path, top: Path) -> set[str]:
    depth = len(path.relative_to(top).parts) - 1  # packages between `top` and the file
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level - 1 > depth:
            names.add("<relative import out of the folder>")
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_import_direction(folder: str) -> None:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path, REPO / folder):
            assert not name.startswith(FORBIDDEN[folder]), f"{path.relative_to(REPO)} imports {name}"
            assert not name.startswith("<relative"), f"{path.relative_to(REPO)} reaches outside {folder}/"


def test_a_checkout_imports_its_own_folders_without_an_editable_install(tmp_path: Path) -> None:
    # A copy of the checkout: Python started inside it imports `protege` from it, where the
    # installed package's folder mapping does not apply (a `pip install .` run from the checkout).
    import shutil
    import subprocess
    import sys

    for name in ("protege", "proto", "server", "client", "filters"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    code = "import protege.client.readers as r, protege.filters as f; print(r.__file__); print(f.__file__)"
    shown = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == [
        str(tmp_path / "client" / "readers.py"),
        str(tmp_path / "filters" / "__init__.py"),
    ]
