"""The package's layering (.importlinter) and what import-linter cannot see: argparse only in the command
layer, and no private name taken from another module, benchmarks included."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "videogan"


def lint_imports(source_root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's .importlinter over the package under `source_root`."""
    program = Path(sys.executable).with_name("lint-imports")
    assert program.exists(), f"{program}: import-linter is missing; install the dev extras (pip install -e '.[dev]')"
    return subprocess.run([str(program), "--no-cache", "--no-logo", str(ROOT / ".importlinter")], cwd=source_root,
                          env={"PYTHONPATH": str(source_root), "PATH": str(Path(sys.executable).parent)},
                          capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold():
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module, upward", [
    ("models/generator.py", "from ..train.media import write_grids"),  # a lower layer importing a higher one
    ("train/media.py", "from ..eval import fvd"),  # train and eval are independent
    ("checkpoint.py", "from .cli import main"),
])
def test_an_import_that_breaks_a_layer_fails_the_check(tmp_path, module, upward):
    copy = tmp_path / "videogan"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    path = copy / module
    path.write_text(path.read_text().replace("from __future__ import annotations\n",
                                             f"from __future__ import annotations\n\n{upward}\n", 1))
    result = lint_imports(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout + result.stderr


def python_files(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    return [node for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_only_the_command_layer_imports_argparse():
    outside = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in python_files(PACKAGE)
               if "cli" not in path.relative_to(PACKAGE).parts[:1] for node in imports(path)
               if any(name == "argparse" or name.startswith("argparse.") for name in imported_modules(node))]
    assert not outside, f"argparse outside videogan/cli: {outside}"


def imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_is_imported_from_another_module():
    """`from module import _name` (or a `_module`) reaches into another module's internals: what another
    module needs is public. Covers the package and the benchmarks; other packages' internals are theirs."""
    crossings = []
    for path in python_files(PACKAGE, ROOT / "benchmarks"):
        for node in imports(path):
            ours = node.level > 0 if isinstance(node, ast.ImportFrom) else False
            modules = imported_modules(node)
            ours = ours or any(m == "videogan" or m.startswith("videogan.") for m in modules)
            if not ours:
                continue
            names = [alias.name for alias in node.names] if isinstance(node, ast.ImportFrom) else []
            parts = [part for module in modules for part in module.split(".")] + names
            crossings += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in parts if is_private(name)]
    assert not crossings, f"private names imported across modules: {crossings}"
