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
    env = {e["Name"]: "bucket-name" if e["Name"] == "S3_BUCKET" else "prefix" for e in container["Environment"]}
    env["MONGO_URI"] = "mongodb://u:p@db.internal:27017/agno"
    cfg, rest = parse([*command, "--end_date", "2024-12-02"], env, last_end=lambda output: None)
    assert rest == [] and cfg.output == "s3://bucket-name/prefix" and cfg.since_last and cfg.hive
    assert cfg.format == "parquet" and cfg.database == "agno"


def test_dockerfile_copies_what_exists():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
