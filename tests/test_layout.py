"""The layers of protege point one way. The rule, bottom to top:

    common           what everything shares; imports nothing of ours
    v1               the wire contract (proto/)
    filters          pure student-side filters
    server           the teacher service
    client           the student side: data, labelling, training, distillation
    protege          the teacher recipes and the study (protege/study/, protege/teacher_fitting/)
    protege/cli      the commands: they parse arguments and call one library function

A module imports modules of its own layer or those below it, never above; no two modules import
each other, directly or around a loop; and imports of our modules sit at the top of a module, but
in the commands (protege/cli), which import the library a command calls in that command: ``protege
--help`` builds every parser and stays under a second without torch.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO

LAYERS = (
    "protege.common",
    "protege.v1",
    "protege.filters",
    "protege.server",
    "protege.client",
    "protege",
    "protege.cli",
)
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]


def import_roots() -> list[Path]:
    """The folders pyproject's package-dir puts packages under, each package at the path its import
    names: client/protege/client is protege.client under client/."""
    roots = []
    for package, folder in PYPROJECT["setuptools"]["package-dir"].items():
        parts = package.split(".")
        assert Path(folder).parts[-len(parts) :] == tuple(parts), f"{package} is not at its path: {folder}"
        roots.append(REPO.joinpath(*Path(folder).parts[: -len(parts)]))
    return list(dict.fromkeys(roots))


ROOTS = import_roots()


def modules() -> dict[str, Path]:
    """Every module of ours by its dotted name: its path under its import root (generated gRPC code
    left out)."""
    found = {}
    for root in ROOTS:
        for path in sorted((root / "protege").rglob("*.py")):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            assert name not in found, f"{name} is in two import roots: {found[name]} and {path}"
            found[name] = path
    return found


def layer(name: str) -> int:
    if name == "protege.__main__":  # `python -m protege`: the command line
        return LAYERS.index("protege.cli")
    # The most specific layer a name is in: protege.client.x is in protege.client, not protege.
    tops = [top for top in LAYERS if name == top or name.startswith(top + ".")]
    return LAYERS.index(max(tops, key=len))


def imports(name: str, path: Path, known: set[str], top_only: bool) -> set[str]:
    """The modules of ours that module ``name`` imports (anywhere, or at its top level only)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in _type_checking_blocks(tree) for node in ast.walk(block)}
    nodes = tree.body if top_only else [node for node in ast.walk(tree) if id(node) not in typing_only]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = node.module if not node.level else ".".join(filter(None, (base, node.module)))
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(target for target in targets if target in known)
    return found - {name}


def _type_checking_blocks(tree: ast.Module) -> list[ast.If]:
    """``if TYPE_CHECKING:`` blocks: imports for static tools, never run."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    ]


GRAPH = {name: imports(name, path, set(modules()), top_only=False) for name, path in modules().items()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_a_module_imports_only_its_layer_and_those_below(name: str) -> None:
    above = sorted(other for other in GRAPH[name] if layer(other) > layer(name))
    assert not above, f"{name} ({LAYERS[layer(name)]}) imports a layer above it: {', '.join(above)}"


def test_no_modules_import_each_other_around_a_loop() -> None:
    # A package's __init__ that re-exports its modules is not a loop with them.
    graph = {name: {o for o in targets if not name.startswith(o + ".")} for name, targets in GRAPH.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import loop: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_our_modules_are_imported_at_the_top_of_a_module() -> None:
    late = {
        name: sorted(GRAPH[name] - imports(name, path, set(modules()), top_only=True))
        for name, path in modules().items()
        if not name.startswith("protege.cli")
    }
    assert not {name: found for name, found in late.items() if found}


def test_every_import_path_names_its_file() -> None:
    """A newcomer greps ``protege.client.labelling.jobs`` and opens
    client/protege/client/labelling/jobs.py."""
    import importlib.util

    found = {name: importlib.util.find_spec(name).origin for name in modules()}
    assert {name: origin for name, origin in found.items() if origin != str(modules()[name])} == {}


def test_protege_is_one_namespace_without_path_edits() -> None:
    assert [root for root in ROOTS if (root / "protege" / "__init__.py").exists()] == []
    assert [name for name, path in modules().items() if "__path__" in path.read_text()] == []


def test_pyright_searches_the_import_roots() -> None:
    searched = [REPO / path for path in PYPROJECT["pyright"]["extraPaths"]]
    assert sorted(searched) == sorted(ROOTS)


def test_pyright_resolves_every_import_of_ours() -> None:
    """What Pylance shows a newcomer: every ``protege`` import of the editable install found."""
    import json
    import shutil
    import subprocess

    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent))
    shown = subprocess.run(
        [pyright, "--outputjson", "--pythonpath", sys.executable],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    report = json.loads(shown.stdout)
    assert report["summary"]["filesAnalyzed"] > len(modules()), shown.stderr
    missing = [
        f"{Path(d['file']).relative_to(REPO)}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d.get("rule") == "reportMissingImports" and '"protege' in d["message"]
    ]
    assert missing == []


@pytest.mark.parametrize(
    "name",
    sorted(n for n, p in modules().items() if p.name == "__init__.py" and "HOMES = {" in p.read_text()),
)
def test_a_lazy_package_shows_static_tools_what_it_runs(name: str) -> None:
    """Each name a package imports when first read (HOMES) is in its __all__, and its TYPE_CHECKING
    block imports it from the same module: Pylance's go-to-definition lands where Python does."""
    import importlib
    import inspect

    package = importlib.import_module(name)
    tree = ast.parse(modules()[name].read_text())
    static = {
        alias.asname or alias.name: "." * node.level + (node.module or "")
        for block in _type_checking_blocks(tree)
        for node in ast.walk(block)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert static == package.HOMES
    assert set(package.HOMES) <= set(package.__all__)
    for home in set(package.HOMES.values()):  # a module named as a name it exports would shadow it
        importlib.import_module(home, name)
    shadowed = [exported for exported in package.HOMES if inspect.ismodule(getattr(package, exported))]
    assert shadowed == []
    assert all(getattr(package, exported) is not None for exported in package.__all__)


@pytest.mark.parametrize("name", sorted(n for n, p in modules().items() if p.name == "__init__.py"))
def test_every_package_says_what_it_holds_in_all(name: str) -> None:
    """Each name of a package's ``__all__`` is something it exports or one of its modules."""
    import importlib
    import importlib.util

    package = importlib.import_module(name)
    assert hasattr(package, "__all__"), f"{name} has no __all__"
    missing = [
        exported
        for exported in package.__all__
        if exported not in vars(package)
        and exported not in getattr(package, "HOMES", {})
        and importlib.util.find_spec(f"{name}.{exported}") is None
    ]
    assert missing == []


def test_every_package_is_in_the_built_distribution() -> None:
    # A package pyproject leaves out is missing from `pip install .` (the container's install).
    listed = set(PYPROJECT["setuptools"]["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages - listed == set()


def test_the_client_exports_what_a_user_calls_and_loads_torch_only_when_asked() -> None:
    import subprocess
    import sys

    code = (
        "import sys, protege.client as c; assert 'torch' not in sys.modules; "
        "print(sorted(name for name in c.__all__ if getattr(c, name) is not None))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert {"Distiller", "DistillConfig", "TeacherClient", "train_cross_encoder"} <= set(eval(shown.stdout))


# Names several modules define on purpose: each command module's parser hook and runner, and the
# results interface both studies' reports share (results.py and volume_results.py).
SHARED_NAMES = {"add_parsers", "run", "plot", "table", "goals"}


def test_public_functions_and_classes_have_one_home() -> None:
    homes: dict[str, list[str]] = {}
    for name, path in modules().items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                homes.setdefault(node.name, []).append(name)
    twice = {name: where for name, where in homes.items() if len(where) > 1 and name not in SHARED_NAMES}
    assert not twice


# File names written in more than one module, and why: Hugging Face's model config, read where a
# model is loaded; and two tables of other runs that share a name (a distill round's pairs, the
# volume study's pair set).
SHARED_FILE_NAMES = {"config.json", "pairs.parquet"}
FILE_NAME = re.compile(r"^[\w-]+\.(json|parquet|npy|png|html|faiss|csv|tsv)$")


def test_a_file_name_has_one_home() -> None:
    """``"provenance.json"`` was once written in six modules beside two constants for it."""
    homes: dict[str, set[str]] = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and FILE_NAME.match(node.value):
                homes.setdefault(node.value, set()).add(name)
    twice = {file: sorted(where) for file, where in homes.items() if len(where) > 1}
    assert not {file: where for file, where in twice.items() if file not in SHARED_FILE_NAMES}


def test_no_function_is_longer_than_sixty_lines() -> None:
    """Functions of one job: product code and bench/ (generated code and tests aside)."""
    paths = dict(modules()) | {f"bench.{path.stem}": path for path in sorted((REPO / "bench").glob("*.py"))}
    long = {
        f"{name}.{node.name}": node.end_lineno - node.lineno + 1
        for name, path in paths.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60
    }
    assert not long


def test_tests_share_helpers_through_conftest_not_each_other() -> None:
    for path in sorted((REPO / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("test_"), f"{path.name} imports {node.module}"


def test_the_readme_stays_short() -> None:
    """A newcomer's page: what and why, the two commands, the headline; depth lives in docs/."""
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


FLAG = re.compile(r"(?<![\w-])--([a-z]|$)")  # "--" at a string's end: an f-string's "--{role}"
LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical"}
# The module that makes parsers from configs names the parser's own --config flag.
FLAG_MAKERS = {"protege.common.config_flags"}


def _message_texts(tree: ast.Module) -> list[tuple[int, str]]:
    """The string parts of what a module raises and logs, with their lines."""
    messages: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            messages += [*node.exc.args, *(keyword.value for keyword in node.exc.keywords)]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in LOG_CALLS:
            messages += node.args
    return [
        (part.lineno, part.value)
        for message in messages
        for part in ast.walk(message)
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    ]


def test_messages_name_flags_only_in_the_cli() -> None:
    """A library message names a setting through ``common.setting_names`` (its flag under the
    CLI), so a Python caller is not told to pass a flag."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {text!r}"
        for name, path in modules().items()
        if not name.startswith("protege.cli") and name not in FLAG_MAKERS
        for line, text in _message_texts(ast.parse(path.read_text()))
        if FLAG.search(text)
    ]
    assert not found, "\n".join(found)


def _exported_names() -> set[str]:
    names: set[str] = set()
    for path in modules().values():
        if path.name == "__init__.py":
            for node in ast.parse(path.read_text()).body:
                targets = [getattr(target, "id", "") for target in getattr(node, "targets", [])]
                if isinstance(node, ast.Assign) and "__all__" in targets:
                    names.update(element.value for element in node.value.elts)  # type: ignore[attr-defined]
    return names


def _is_exception(node: ast.ClassDef) -> bool:
    bases = [getattr(base, "id", getattr(base, "attr", "")) for base in node.bases]
    return any(base.endswith(("Error", "Exception")) for base in bases)


def _has_field_help(node: ast.ClassDef) -> bool:
    """A config: its fields' help (``field(metadata={"help": ...})``) says what each sets, once."""
    return any(
        isinstance(item, ast.AnnAssign) and "'help'" in ast.unparse(item.value or ast.Constant(None))
        for item in node.body
    )


def test_public_classes_say_what_they_are_with_args_and_an_example() -> None:
    """The sentence-transformers shape for every class a package exports: what it is, ``Args:``
    (a config's fields say theirs in their help), and an ``Example::``; errors need neither."""
    exported, missing = _exported_names(), []
    for path in modules().values():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name in exported and not _is_exception(node):
                doc = ast.get_docstring(node) or ""
                wants = ["Example::"] + ([] if _has_field_help(node) else ["Args:"])
                where = f"{path.relative_to(REPO)} {node.name}"
                missing += [f"{where}: {want}" for want in wants if want not in doc]
    assert not missing, "\n".join(missing)
