"""Write the column tables of docs/features.md from the one column definition (transforms/columns.py).

Run: .venv/bin/python scripts/gen_columns_doc.py   (tests/test_docs.py checks it is current)

Everything between `<!-- generated:NAME begin -->` and `<!-- generated:NAME end -->`
is replaced: `columns` gets `COLUMNS` (the session table), `companion` every other
tuple of `Column` in the module (the companion tables), each with the fields
`Column` has (name, type, and whatever else it grows, e.g. a unit).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms import columns  # noqa: E402

TARGET = ROOT / "docs" / "features.md"
HEADINGS = {"name": "column", "doc": "meaning"}


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")


def table(cols: tuple) -> list[str]:
    fields = cols[0]._fields
    lines = [
        "| # | " + " | ".join(HEADINGS.get(f, f) for f in fields) + " |",
        "|---|" + "|".join("---" for _ in fields) + "|",
    ]
    for i, col in enumerate(cols, 1):
        cells = [f"`{col.name}`"] + [_cell(getattr(col, f)) for f in fields[1:]]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    return lines


def _is_columns(value: object) -> bool:
    return isinstance(value, tuple) and bool(value) and all(isinstance(c, columns.Column) for c in value)


def companion_tables() -> dict[str, tuple]:
    """Every tuple of Column in transforms/columns.py but COLUMNS, by attribute name."""
    found = {}
    for attr, value in vars(columns).items():
        if attr != "COLUMNS" and _is_columns(value) and not attr.startswith("_"):
            if not any(value is seen for seen in found.values()):
                found[attr] = value
    return found


def sections() -> dict[str, str]:
    companion: list[str] = []
    for attr, cols in companion_tables().items():
        companion += ["", f"`{attr}`:", "", *table(cols)]
    if not companion:
        companion = ["", "(`transforms/columns.py` defines no companion table in this version.)"]
    return {"columns": "\n".join(["", *table(columns.COLUMNS), ""]), "companion": "\n".join([*companion, ""])}


def render(text: str) -> str:
    """`text` (docs/features.md) with every generated section made current."""
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- generated:{name} begin -->\n).*?(<!-- generated:{name} end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{TARGET.relative_to(ROOT)} has no generated:{name} markers")
        text = pattern.sub(lambda m, body=body: m.group(1) + body.lstrip("\n") + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    TARGET.write_text(render(TARGET.read_text()))
    print(f"wrote {TARGET.relative_to(ROOT)}")
