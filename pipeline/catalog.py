"""After a window is published on S3: SageMaker ManifestFiles beside its manifest
(pipeline/sagemaker.py), and with --glue_table its partition in the AWS Glue Data
Catalog, for Athena.

Each table of the manifest (`sessions`, and `runs` / `tool_calls` with --tables) has a
catalog table of its own (`TABLE`, `TABLE_runs`, `TABLE_tool_calls`), created if absent
from the one column definition and partitioned by (`window_start`, `window_end`). A
window's partition points at the folder holding exactly that dataset's data files
(`tables.<name>.location` of the manifest), set in one catalog call (create, or update
when it exists), so Athena sees the old dataset or the new one, never both. A table
made for another schema or format is refused, never mixed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipeline import publish, sagemaker
from pipeline.options import Config, UsageError
from transforms.columns import Column
from transforms.tables import TABLES
from transforms.window import Window

log = logging.getLogger("session_features")
PARTITION_KEYS = ("window_start", "window_end")
SCHEMA_PARAM = "session_features.schema"  # a fingerprint of columns, partition keys and format
VERSION_PARAM = "session_features.feature_set_version"
_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_COMMENT_MAX = 255  # Glue's limit for a column comment

# FEATURES.md §6 types as Hive/Athena types (Parquet: int64, float64, bool, timestamp(us, UTC)).
HIVE_TYPES = {"string": "string", "int": "bigint", "float": "double", "bool": "boolean", "timestamp": "timestamp"}

# CSV: OpenCSVSerde is the SerDe that reads RFC 4180 quoting (a doubled quote inside a
# quoted field); it cannot read an empty field as a typed null nor our ISO-8601
# timestamps, so every CSV column is a string (see docs/deploy-aws.md for the typed view).
_STORAGE = {
    "csv": {
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
            "Parameters": {"separatorChar": ",", "quoteChar": '"', "escapeChar": '"'},
        },
    },
    "parquet": {
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    },
}


class CatalogError(Exception):
    """A catalog step that failed after the dataset was published; the message is one line."""


def columns_of(table: str) -> Sequence[Column]:
    """The one column definition of a manifest table (transforms/columns.py, transforms/tables.py)."""
    if table in TABLES:
        return TABLES[table].columns
    raise CatalogError(f"no column definition for the table {table!r}")


def split_name(glue_table: str) -> tuple[str, str]:
    """`DATABASE.TABLE` → (database, table); a UsageError for anything Athena cannot name."""
    database, dot, table = glue_table.partition(".")
    if not (dot and _NAME.match(database) and _NAME.match(table)):
        raise UsageError(
            f"--glue_table must be DATABASE.TABLE in lowercase letters, digits and underscores, not {glue_table!r}"
        )
    return database, table


def catalog_name(base: str, table: str) -> str:
    """The catalog table of a manifest table: `base` for sessions, `base_<table>` for the others."""
    return base if table == "sessions" else f"{base}_{table}"


def glue_columns(columns: Sequence[Column], fmt: str) -> list[dict[str, str]]:
    return [
        {
            "Name": c.name,
            "Type": HIVE_TYPES[c.type] if fmt == "parquet" else "string",
            "Comment": f"{c.type}: {c.doc}"[:_COMMENT_MAX],
        }
        for c in columns
    ]


def _fingerprint(columns: list[dict[str, str]], keys: list[dict[str, str]], library: str) -> str:
    shape = [[c["Name"], c["Type"]] for c in columns], [[k["Name"], k["Type"]] for k in keys], library
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def table_input(name: str, table: str, fmt: str, version: str, location: str) -> dict[str, Any]:
    """The catalog table (Glue's TableInput) of one manifest table in one format."""
    columns = glue_columns(columns_of(table), fmt)
    keys = [{"Name": k, "Type": "string", "Comment": "the window's folder name part"} for k in PARTITION_KEYS]
    storage = _STORAGE[fmt]
    parameters = {
        "classification": fmt,
        "EXTERNAL": "TRUE",
        VERSION_PARAM: version,
        SCHEMA_PARAM: _fingerprint(columns, keys, storage["SerdeInfo"]["SerializationLibrary"]),
    }
    if fmt == "csv":
        parameters["skip.header.line.count"] = "1"
    return {
        "Name": name,
        "Description": f"session-features {version} ({table}); partitions are registered by the job",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": keys,
        "StorageDescriptor": {"Columns": columns, "Location": location, **storage},
    }


def _mismatch(current: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """What differs between a catalog table and the one this run writes (None: nothing)."""
    have = current.get("StorageDescriptor", {})
    want = wanted["StorageDescriptor"]
    library = have.get("SerdeInfo", {}).get("SerializationLibrary")
    if library != want["SerdeInfo"]["SerializationLibrary"]:
        return f"SerDe {library} instead of {want['SerdeInfo']['SerializationLibrary']}"
    keys = [k["Name"] for k in current.get("PartitionKeys", [])]
    if keys != list(PARTITION_KEYS):
        return f"partition keys {keys} instead of {list(PARTITION_KEYS)}"
    old = [(c["Name"], c["Type"].lower()) for c in have.get("Columns", [])]
    new = [(c["Name"], c["Type"]) for c in want["Columns"]]
    if old == new:
        return None
    names = dict(old)
    missing = [n for n, _ in new if n not in names]
    extra = [n for n, _ in old if n not in dict(new)]
    retyped = [f"{n} {names[n]}→{t}" for n, t in new if n in names and names[n] != t]
    parts = [("new columns " + ", ".join(missing)) if missing else "", ("dropped " + ", ".join(extra)) if extra else ""]
    parts.append(("types " + ", ".join(retyped)) if retyped else "")
    return "; ".join(p for p in parts if p)[:300] or "the column order differs"


def _refusal(database: str, current: dict[str, Any], wanted: dict[str, Any], why: str) -> str:
    was = current.get("Parameters", {}).get(VERSION_PARAM, "another definition")
    now = wanted["Parameters"][VERSION_PARAM]
    return (
        f"the Glue table {database}.{wanted['Name']} holds feature set {was}, this run writes {now} "
        f"{wanted['Parameters']['classification']} ({why}): give a new --glue_table"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"  # Hive DDL string literal


def ddl(database: str, wanted: dict[str, Any]) -> str:
    """Athena's CREATE EXTERNAL TABLE for a TableInput: the table the job creates, as DDL."""
    storage = wanted["StorageDescriptor"]
    serde = storage["SerdeInfo"]
    columns = ",\n".join(f"  {c['Name']} {c['Type']} COMMENT {_quote(c['Comment'])}" for c in storage["Columns"])
    keys = ", ".join(f"{k['Name']} {k['Type']}" for k in wanted["PartitionKeys"])
    lines = [
        f"CREATE EXTERNAL TABLE {database}.{wanted['Name']} (",
        columns,
        ")",
        f"COMMENT {_quote(wanted['Description'])}",
        f"PARTITIONED BY ({keys})",
        f"ROW FORMAT SERDE {_quote(serde['SerializationLibrary'])}",
    ]
    if serde.get("Parameters"):
        props = ", ".join(f"{_quote(k)} = {_quote(v)}" for k, v in serde["Parameters"].items())
        lines.append(f"WITH SERDEPROPERTIES ({props})")
    lines += [
        f"STORED AS INPUTFORMAT {_quote(storage['InputFormat'])}",
        f"OUTPUTFORMAT {_quote(storage['OutputFormat'])}",
        f"LOCATION {_quote(storage['Location'])}",
    ]
    props = ",\n".join(f"  {_quote(k)} = {_quote(v)}" for k, v in wanted["Parameters"].items() if k != "EXTERNAL")
    return "\n".join([*lines, f"TBLPROPERTIES (\n{props}\n);"])


def typed_view(database: str, table: str, view: str, columns: Sequence[Column]) -> str:
    """An Athena view giving a CSV table's string columns their types (empty field = null)."""
    casts = {"int": "bigint", "float": "double", "bool": "boolean"}

    def typed(c: Column) -> str:
        value = f"NULLIF({c.name}, '')"
        if c.type == "timestamp":
            return f"from_iso8601_timestamp({value})"
        return f"CAST({value} AS {casts[c.type]})" if c.type in casts else value

    selects = ",\n".join(f"  {typed(c)} AS {c.name}" for c in columns)
    keys = ", ".join(PARTITION_KEYS)
    return f"CREATE OR REPLACE VIEW {database}.{view} AS\nSELECT\n{selects},\n  {keys}\nFROM {database}.{table};"


def glue_client():
    """Glue through boto3's own configuration: region, credentials, and
    `AWS_ENDPOINT_URL_GLUE` (or `--glue_endpoint_url`) for another endpoint."""
    import boto3

    return boto3.client("glue")


def _get_table(glue, database: str, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException as exc:
        if "database" in str(exc).lower():
            raise CatalogError(f"the Glue database {database} does not exist") from None
        return None


def table_location(root: str) -> str:
    """The output location a dataset root lies under (its window folders removed), with a `/`."""
    parts = root.rstrip("/").split("/")
    while parts and parts[-1].split("=")[0] in PARTITION_KEYS:
        parts.pop()
    return "/".join(parts) + "/"


def check(cfg: Config, version: str) -> None:
    """Before any work: the flag, the output and the catalog tables suit this run (a UsageError if not)."""
    glue_table, output, fmt = cfg.glue_table, cfg.output, cfg.format
    if not glue_table:
        return
    tables = getattr(cfg, "tables", None) or ("sessions",)  # --tables, once it exists
    database, base = split_name(glue_table)
    if not output.startswith("s3://"):
        raise UsageError(f"--glue_table registers S3 data for Athena: --output must be s3://…, not {output}")
    try:
        glue = glue_client()
        for table in tables:
            wanted = table_input(catalog_name(base, table), table, fmt, version, table_location(output))
            current = _get_table(glue, database, wanted["Name"])
            why = current and _mismatch(current, wanted)
            if why:
                raise UsageError(_refusal(database, current, wanted, why))
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - credentials, region, network, permissions: one line
        raise UsageError(f"cannot use the Glue catalog for {glue_table}: {first_line(exc)}") from None


def partition_values(manifest: dict[str, Any]) -> list[str]:
    """The window's partition values, as its folders name it (publish.partition_value)."""
    given = manifest.get("partition") or {}
    if all(given.get(k) for k in PARTITION_KEYS):
        return [given[k] for k in PARTITION_KEYS]
    window = manifest["window"]
    start, end = window["start_epoch"], window["end_epoch"]
    return [publish.partition_value(Window(start, end)), publish.partition_value(Window(end, end))]


def data_location(root: str, manifest: dict[str, Any], table: str) -> str:
    """The absolute URI of the folder holding exactly the table's data files, with a `/`."""
    return publish.join(root, manifest["tables"][table]["location"]).rstrip("/") + "/"


def register(root: str, manifest: dict[str, Any], glue_table: str) -> list[dict[str, Any]]:
    """Create the catalog tables if absent, and point the window's partition of each at its
    data (one call each: create, or update when it exists). Returns the partitions set.
    Raises CatalogError."""
    database, base = split_name(glue_table)
    values = partition_values(manifest)
    glue = glue_client()
    done = []
    for table in manifest["tables"]:
        wanted = table_input(
            catalog_name(base, table), table, manifest["format"], manifest["feature_set_version"], table_location(root)
        )
        current = _get_table(glue, database, wanted["Name"])
        if current is None:
            try:
                glue.create_table(DatabaseName=database, TableInput=wanted)
            except glue.exceptions.AlreadyExistsException:  # another run made it meanwhile
                current = _get_table(glue, database, wanted["Name"])
        why = current and _mismatch(current, wanted)
        if why:
            raise CatalogError(_refusal(database, current, wanted, why))
        storage = {**wanted["StorageDescriptor"], "Location": data_location(root, manifest, table)}
        partition = {"Values": values, "StorageDescriptor": storage}
        try:
            glue.create_partition(DatabaseName=database, TableName=wanted["Name"], PartitionInput=partition)
        except glue.exceptions.AlreadyExistsException:
            glue.update_partition(
                DatabaseName=database, TableName=wanted["Name"], PartitionValueList=values, PartitionInput=partition
            )
        done.append({"table": f"{database}.{wanted['Name']}", "values": values, "location": storage["Location"]})
        done += _register_missing(glue, database, wanted, table, manifest, root)
    return done


def _partition_values_in(glue, database: str, name: str) -> set[tuple[str, ...]]:
    values, token = set(), None
    while True:
        page = glue.get_partitions(DatabaseName=database, TableName=name, **({"NextToken": token} if token else {}))
        values |= {tuple(p["Values"]) for p in page["Partitions"]}
        token = page.get("NextToken")
        if not token:
            return values


_SAME = ("feature_set_version", "format")  # a published window the table can hold


def _register_missing(
    glue, database: str, wanted: dict[str, Any], table: str, manifest: dict[str, Any], root: str
) -> list[dict[str, Any]]:
    """Create the partition of every other published window under the output that has none
    (a run whose catalog call failed, or windows published before --glue_table), when its
    manifest holds this feature set in this format. Create only: an existing partition,
    right or being moved by a run of its own window, is never changed."""
    registered = _partition_values_in(glue, database, wanted["Name"])
    starts = {v[0] for v in registered}
    output = table_location(root)
    done = []
    for path in sorted(m.path for m in FileSystems.match([output + "**/" + publish.MANIFEST])[0].metadata_list):
        other_root = path[: -len(publish.MANIFEST) - 1]
        if other_root.rstrip("/") == root.rstrip("/") or f"{PARTITION_KEYS[0]}=" not in other_root:
            continue
        if other_root.split(f"{PARTITION_KEYS[0]}=")[1].split("/")[0] in starts:
            continue  # its window is registered (read no manifest)
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            other = json.loads(handle.read())
        values = partition_values(other)
        same = [other.get(k) for k in _SAME] == [manifest[k] for k in _SAME]
        if tuple(values) in registered or not same or table not in other.get("tables", {}):
            continue
        location = data_location(other_root, other, table)
        partition = {"Values": values, "StorageDescriptor": {**wanted["StorageDescriptor"], "Location": location}}
        try:
            glue.create_partition(DatabaseName=database, TableName=wanted["Name"], PartitionInput=partition)
        except glue.exceptions.AlreadyExistsException:
            continue
        done.append({"table": f"{database}.{wanted['Name']}", "values": values, "location": location})
    return done


def after_publish(root: str, manifest: dict[str, Any]) -> str | None:
    """The steps after the manifest: SageMaker manifests, then (with --glue_table) the
    catalog. None, or the one line that says what is published and what is not."""
    published = publish.join(root, publish.MANIFEST)
    try:
        sagemaker.write_manifests(root, manifest)
    except Exception as exc:  # noqa: BLE001 - storage errors: one line
        return (
            f"the dataset is published ({published}) but its SageMaker manifest was not written: "
            f"{first_line(exc)}; the next run of this window writes it"
        )
    if not manifest.get("glue_table"):
        return None
    try:
        for done in register(root, manifest, manifest["glue_table"]):
            log.info("catalog: %s partition %s → %s", done["table"], "/".join(done["values"]), done["location"])
    except Exception as exc:  # noqa: BLE001 - permissions, network, a refused schema: one line
        return (
            f"the dataset is published ({published}) but the Glue catalog was not updated: "
            f"{first_line(exc)}; the next run of this window updates it"
        )
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
