"""schema.json and the dataset card (README.md) beside the manifest, both made from
the one column definition (transforms/columns.py via transforms/tables.py)."""

from __future__ import annotations

import json
from typing import Any

from transforms.tables import TABLES

# The Hugging Face `datasets` feature types of our column types.
HF_TYPES = {
    "string": "string",
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "timestamp": "timestamp[us, tz=UTC]",
}


def schema(tables: list[str]) -> dict[str, Any]:
    """Every column of every table written: name, type, unit, definition."""
    return {
        "tables": {
            name: {
                "key": list(TABLES[name].key),
                "columns": [
                    {"name": c.name, "type": c.type, "unit": c.unit or None, "definition": c.doc}
                    for c in TABLES[name].columns
                ],
            }
            for name in tables
        }
    }


def table_rows(table: dict[str, Any]) -> int | None:
    """A table's rows: from a published manifest's files, or given as `rows`."""
    if "files" in table:
        return sum(f["rows"] for f in table["files"])
    return table.get("rows")


def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def _q(text: Any) -> str:
    """A YAML scalar: JSON's string form is valid YAML."""
    return json.dumps(text, ensure_ascii=False)


def _data_glob(location: str, fmt: str) -> str:
    return f"{location.rstrip('/')}/*.{fmt}"


def front_matter(manifest: dict[str, Any]) -> str:
    """YAML front matter as Hugging Face dataset cards use it: a config per table with
    its data files, and each table's features."""
    fmt = manifest.get("format", "csv")
    window = manifest["window"]
    lines = [
        "---",
        f"pretty_name: {_q('Agno session features ' + str(window.get('start')) + ' .. ' + str(window.get('end')))}",
        "tags:",
        "- agents",
        "- agno",
        "- tabular",
        "configs:",
    ]
    for i, (name, table) in enumerate(manifest["tables"].items()):
        lines += [f"- config_name: {name}"]
        if i == 0:
            lines.append("  default: true")
        lines += ["  data_files:", "  - split: train", f"    path: {_q(_data_glob(table['location'], fmt))}"]
    lines.append("dataset_info:")
    for name, table in manifest["tables"].items():
        lines += [f"- config_name: {name}", "  features:"]
        for c in TABLES[name].columns:
            lines += [f"  - name: {c.name}", f"    dtype: {_q(HF_TYPES[c.type])}"]
        if table_rows(table) is not None:
            lines += ["  splits:", "  - name: train", f"    num_examples: {table_rows(table)}"]
    lines.append("---")
    return "\n".join(lines)


def _loading(manifest: dict[str, Any]) -> str:
    fmt = manifest.get("format", "csv")
    sessions = _data_glob(manifest["tables"]["sessions"]["location"], fmt)
    read = "read_csv" if fmt == "csv" else "read_parquet"
    duck = "read_csv_auto" if fmt == "csv" else "read_parquet"
    pandas_read = (
        f'pd.concat([pd.read_csv(f) for f in sorted(glob.glob("{sessions}"))], ignore_index=True)'
        if fmt == "csv"
        else f'pd.read_parquet("{manifest["tables"]["sessions"]["location"]}")'
    )
    joins = ""
    if "runs" in manifest["tables"]:
        runs = _data_glob(manifest["tables"]["runs"]["location"], fmt)
        joins = (
            "\n-- runs of each session, with the session's agent\n"
            f"SELECT s.agent_name, r.* FROM {duck}('{runs}') r JOIN {duck}('{sessions}') s USING (session_id);"
        )
    return f"""Paths are relative to this file (the folder holding `manifest.json`).

```python
# pandas
import glob
import pandas as pd
sessions = {pandas_read}

# polars
import polars as pl
sessions = pl.{read}("{sessions}")
```

```sql
-- duckdb
SELECT session_type, count(*) AS sessions, avg(total_tokens_sum) AS tokens
FROM {duck}('{sessions}') GROUP BY session_type;{joins}
```

`manifest.json` lists every data file with its rows and sha256; `profile.json` the
statistics of every column; `report.html` shows them (it opens offline)."""


def card(manifest: dict[str, Any]) -> str:
    """The dataset card: front matter, then what the dataset is and how to load it."""
    window, source, counts = manifest["window"], manifest["source"], manifest["counts"]
    table_lines = "\n".join(
        f"| `{name}` | {_count(table_rows(t))} | `{t['location']}` | {', '.join(TABLES[name].key)} |"
        for name, t in manifest["tables"].items()
    )
    count_lines = "\n".join(f"| {key} | {value:,} |" for key, value in counts.items())
    column_sections = "\n\n".join(
        f"### `{name}`\n\n| column | type | unit | definition |\n|---|---|---|---|\n"
        + "\n".join(f"| {c.name} | {c.type} | {c.unit} | {c.doc.replace('|', '/')} |" for c in TABLES[name].columns)
        for name in manifest["tables"]
    )
    return f"""{front_matter(manifest)}

# Agno session features, {window.get("start")} .. {window.get("end")}

Features of AI agent sessions stored by the [Agno](https://github.com/agno-agi/agno)
framework in MongoDB: one row per session (feature set {manifest.get("feature_set_version")}),
with companion tables of its runs and tool calls when they were asked for. Every row is
computed from the session's runs created before the window's end (point in time), so
re-running the window gives the same rows.

- **Window**: `[{window.get("start")}, {window.get("end")})` (UTC, end exclusive)
- **Source**: {source.get("kind")} `{source.get("uri")}`, database `{source.get("database")}`,
  collection `{source.get("collection")}` (runs: `{source.get("runs_collection")}`)
- **Runner**: {manifest.get("runner")}; **format**: {manifest.get("format")}; run `{manifest.get("run_id")}`

## Tables

| table | rows | location | key |
|---|---|---|---|
{table_lines}

## Counts

| count | value |
|---|---|
{count_lines}

Quarantined documents (with their reason) are in the files `manifest.json` lists under
`quarantine`; they emit no row in any table.

## Loading

{_loading(manifest)}

## Columns

{column_sections}
"""
