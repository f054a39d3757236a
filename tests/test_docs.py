"""Docs that are generated from code stay current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_column_dictionary_is_current():
    module = _generator("gen_columns_doc")
    assert (ROOT / "docs" / "columns.md").read_text() == module.render(), "run scripts/gen_columns_doc.py"


def test_cli_reference_is_current():
    module = _generator("gen_cli_doc")
    assert (ROOT / "docs" / "cli.md").read_text() == module.render(), "run scripts/gen_cli_doc.py"


def test_cli_reference_lists_every_flag_with_its_environment():
    """A flag added to the parser shows up in docs/cli.md without a further edit."""
    from pipeline import simulate
    from pipeline.options import ENV, _parser, our_flags

    main, sim = _generator("gen_cli_doc").render().split("## `python -m pipeline.simulate`")

    def rows(text: str) -> dict[str, str]:
        """First flag of each table row → the row."""
        return {line[3:].split("`")[0]: line for line in text.splitlines() if line.startswith("| `-")}

    main_rows, sim_rows = rows(main), rows(sim)
    assert {a.option_strings[0] for a in our_flags(_parser())} <= set(main_rows)
    assert {a.option_strings[0] for a in our_flags(simulate.parser())} <= set(sim_rows)
    for name, names in ENV.items():
        assert all(f"`{n}`" in main_rows[f"--{name}"] for n in names)
    assert "`S3_BUCKET` + `S3_PREFIX`" in main_rows["--output"]


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert first_block.split() == ["bash", "./run_local.sh", "./run_tests.sh"]
    assert "./run_tests.sh" in (ROOT / ".ci" / "run").read_text()
