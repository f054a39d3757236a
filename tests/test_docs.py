"""Docs that are generated from code stay current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_column_dictionary_is_current():
    spec = importlib.util.spec_from_file_location("gen_columns_doc", ROOT / "scripts" / "gen_columns_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "columns.md").read_text() == module.render(), "run scripts/gen_columns_doc.py"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert first_block.split() == ["bash", "./run_local.sh", "./run_tests.sh"]
    assert "./run_tests.sh" in (ROOT / ".ci" / "run").read_text()
