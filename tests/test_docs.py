"""Docs that are generated from code stay current; the repository links nothing outside itself."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Every page whose relative links must resolve.
PAGES = sorted(["README.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))])


def _generator(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_column_tables_in_features_md_are_current():
    text = (ROOT / "docs" / "features.md").read_text()
    assert text == _generator("gen_columns_doc").render(text), "run scripts/gen_columns_doc.py"


def test_every_session_column_is_in_features_md():
    from transforms.columns import COLUMN_NAMES

    generated = (ROOT / "docs" / "features.md").read_text().split("<!-- generated:columns begin -->")[1]
    generated = generated.split("<!-- generated:columns end -->")[0]
    names = re.findall(r"^\| \d+ \| `([a-z0-9_]+)` \|", generated, re.M)
    assert tuple(names) == COLUMN_NAMES and len(names) >= 59


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


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.fail(f"git ls-files failed: {out.stderr}")
    return out.stdout.splitlines()


def test_nothing_reads_or_links_a_path_outside_the_repository():
    outside = re.compile(r"\.\./shared|/wo" "rk/")  # split so this file does not match itself
    hits = []
    for name in _tracked_files():
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
        assert (base / target).exists(), f"{page} links {target}, which does not exist"
