"""What remote workers get with `--setup_file ./setup.py`: the package Beam's stager
builds holds every module of pipeline/ and transforms/, and what it makes pip
install covers every third-party import in them (LOOPBACK runs in the launching
process's environment, so test_runners.py cannot show this)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "transforms")


def _modules() -> list[str]:
    return sorted(f"{pkg}/{p.name}" for pkg in PACKAGES for p in (REPO_ROOT / pkg).glob("*.py"))


def _distribution(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(c, ast.Name) and c.id in ("ImportError", "ModuleNotFoundError") for c in caught)


def test_the_staged_package_holds_every_module_and_its_requirements(tmp_path):
    from apache_beam.runners.portability.stager import Stager

    src = tmp_path / "src"  # a copy, so the build leaves nothing in the work tree
    src.mkdir()
    shutil.copy(REPO_ROOT / "setup.py", src)
    for pkg in PACKAGES:
        shutil.copytree(REPO_ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "staged"
    out.mkdir()
    cwd = os.getcwd()
    try:
        sdist = Stager._build_setup_package(str(src / "setup.py"), str(out))  # what --setup_file runs
    finally:
        os.chdir(cwd)

    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        requires = next(n for n in names if n.endswith(".egg-info/requires.txt"))
        required = {_distribution(r) for r in tar.extractfile(requires).read().decode().splitlines() if r.strip()}
    shipped = sorted(n.split("/", 1)[1] for n in names if n.endswith(".py") and n.split("/")[1] in PACKAGES)
    assert shipped == _modules()

    # Third-party imports → their distributions: each is required, or comes with Apache Beam
    # (an import guarded by `except ImportError` is optional).
    imported: set[str] = set()
    optional: set[str] = set()
    for module in _modules():
        tree = ast.parse((REPO_ROOT / module).read_text())
        imported |= _imports(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                optional |= _imports(ast.Module(body=node.body, type_ignores=[]))
    third_party = imported - optional - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}
    with_beam = {_distribution(r) for r in md.requires("apache-beam") or [] if "extra ==" not in r}
    dists = md.packages_distributions()
    for name in sorted(third_party):
        owners = {d.lower().replace("_", "-") for d in dists.get(name, [])}
        assert owners, f"{name} is imported but not installed"
        assert owners & (required | with_beam), f"{name} ({owners}) is not in setup.py's install_requires"
