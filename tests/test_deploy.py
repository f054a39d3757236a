"""The AWS deployment files: the CloudFormation template lints, and the container
command it schedules is one our CLI accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.options import parse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "cloudformation.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, …) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: f"<{suffix}>")


def test_cloudformation_template_passes_cfn_lint():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scheduled_command_is_valid_for_the_cli():
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    container = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    command = [c if not c.startswith("<") else "2024-12-01" for c in container["Command"]]
    names = {"S3_BUCKET": "bucket-name", "GLUE_TABLE": "ml.sessions"}
    env = {e["Name"]: names.get(e["Name"], "prefix") for e in container["Environment"]}
    env["MONGO_URI"] = "mongodb://u:p@db.internal:27017/agno"
    cfg, rest = parse([*command, "--end_date", "2024-12-02"], env, last_end=lambda output: None)
    assert rest == [] and cfg.output == "s3://bucket-name/prefix" and cfg.since_last and cfg.hive
    assert cfg.format == "parquet" and cfg.database == "agno" and cfg.glue_table == "ml.sessions"


def test_task_role_may_make_exactly_the_glue_calls_the_catalog_step_makes():
    import re

    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    policies = template["Resources"]["TaskRole"]["Properties"]["Policies"]
    statements = [st for policy in policies for st in policy["PolicyDocument"]["Statement"]]
    allowed = {a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    calls = set(re.findall(r"\bglue\.(\w+)\(", (ROOT / "pipeline" / "catalog.py").read_text()))
    pascal = {"glue:" + "".join(part.title() for part in call.split("_")) for call in calls}
    expected = {
        "glue:GetTable",
        "glue:CreateTable",
        "glue:GetPartitions",
        "glue:CreatePartition",
        "glue:UpdatePartition",
    }
    assert pascal == expected
    assert {a for a in allowed if a.startswith("glue:")} == pascal


def test_dockerfile_copies_what_exists():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_the_ddl_in_the_deployment_guide_is_the_generated_one():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_deploy_ddl", ROOT / "scripts" / "gen_deploy_ddl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "deploy-aws.md").read_text()
    assert module.render() in page, "run scripts/gen_deploy_ddl.py"
    assert "  is_weekend boolean COMMENT 'bool: start_weekday >= 5'" in module.render()  # the last column, typed
    assert "  from_iso8601_timestamp(NULLIF(session_start, '')) AS session_start," in module.render()
