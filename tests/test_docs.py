"""Docs that are generated from code stay current; the repository links nothing outside itself."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Pages whose links are checked here (docs/deploy-aws.md, cli.md, benchmarks.md have owners of their own).
PAGES = [
    "README.md",
    "docs/features.md",
    "docs/agno-test-data.md",
    "docs/design.md",
    "docs/decisions.md",
    "docs/runners.md",
]
# Generated from the option parser by the options area; linked before it lands.
NOT_YET = {"docs/cli.md"}


def _gen_columns_doc():
    spec = importlib.util.spec_from_file_location("gen_columns_doc", ROOT / "scripts" / "gen_columns_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_column_tables_in_features_md_are_current():
    text = (ROOT / "docs" / "features.md").read_text()
    assert text == _gen_columns_doc().render(text), "run scripts/gen_columns_doc.py"


def test_every_session_column_is_in_features_md():
    from transforms.columns import COLUMN_NAMES

    generated = (ROOT / "docs" / "features.md").read_text().split("<!-- generated:columns begin -->")[1]
    generated = generated.split("<!-- generated:columns end -->")[0]
    names = re.findall(r"^\| \d+ \| `([a-z0-9_]+)` \|", generated, re.M)
    assert tuple(names) == COLUMN_NAMES and len(names) >= 59


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert first_block.split() == ["bash", "./run_local.sh", "./run_tests.sh"]
    assert "./run_tests.sh" in (ROOT / ".ci" / "run").read_text()


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"git ls-files failed: {out.stderr}")
    return out.stdout.splitlines()


def test_nothing_reads_or_links_a_path_outside_the_repository():
    outside = re.compile(r"\.\./shared|/wo" "rk/")  # split so this file does not match itself
    hits = []
    for name in _tracked_files():
        # Recorded benchmark runs keep the command lines they ran (docs/benchmarks.md).
        if name.startswith("bench/results/"):
            continue
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if outside.search(line)]
    assert hits == []


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    text = (ROOT / page).read_text()
    base = (ROOT / page).parent
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        if os.path.normpath(base.relative_to(ROOT) / target) in NOT_YET:
            continue
        assert (base / target).exists(), f"{page} links {target}, which does not exist"
