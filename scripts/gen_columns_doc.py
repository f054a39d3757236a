"""Write docs/columns.md from the one column definition (transforms/columns.py).

Run: .venv/bin/python scripts/gen_columns_doc.py   (a test checks it is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from transforms.columns import COLUMNS  # noqa: E402

TARGET = ROOT / "docs" / "columns.md"


def render() -> str:
    lines = [
        "# Column dictionary (feature set v1)",
        "",
        "Generated from `transforms/columns.py` by `scripts/gen_columns_doc.py`; the contract is",
        '`FEATURES.md` §4. "Top-level runs" have no `parent_run_id`; a top-level run\'s *tree* is the run',
        "plus every run whose parent chain leads to it. Null is an empty CSV field.",
        "",
        "| # | column | type | meaning |",
        "|---|--------|------|---------|",
    ]
    for i, c in enumerate(COLUMNS, 1):
        lines.append(f"| {i} | `{c.name}` | {c.type} | {c.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
