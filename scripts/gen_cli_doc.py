"""Write docs/cli.md from the option parsers (pipeline/options.py, pipeline/simulate.py).

Run: .venv/bin/python scripts/gen_cli_doc.py   (a test checks it is current)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import simulate  # noqa: E402
from pipeline.options import SUBCOMMANDS, _parser, beam_parser, our_flags  # noqa: E402

TARGET = ROOT / "docs" / "cli.md"
# Beam's options this project's docs use; any other one a Beam PipelineOptions class defines works too
BEAM_OPTIONS = (
    "--runner",
    "--direct_num_workers",
    "--direct_running_mode",
    "--s3_endpoint_url",
    "--s3_region_name",
    "--spark_master_url",
    "--flink_master",
    "--job_endpoint",
    "--environment_type",
    "--output_executable_path",
    "--setup_file",
)


# flags, `<name>` placeholders, URIs, environment variables, date forms and paths read as code
_CODE = re.compile(
    r"--[a-z_-]+|\S*<[^>\s]+>\S*|[a-z0-9+]+://[^\s),]*|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|YYYY-MM-DD|\S+=…/\S*"
)
_ENV = re.compile(r"\b[A-Z][A-Z0-9_]+\b")


def _pipes(text: str) -> str:
    return text.replace("|", "\\|")


def _cell(text: str, code: re.Pattern = _CODE) -> str:
    """Table-cell text: code spans marked, `|` escaped."""
    return _pipes(code.sub(lambda m: f"`{m[0]}`", text))


def _default(action: argparse.Action) -> str:
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if getattr(action, "doc_default", None):
        return _cell(action.doc_default)
    return "required" if action.required else ""


def _flag_table(parser: argparse.ArgumentParser, with_env: bool) -> list[str]:
    head = ["flag", *(["environment"] if with_env else []), "default", "meaning"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for action in our_flags(parser):
        flags = ", ".join(f"`{o}`" for o in action.option_strings)
        # a flag added with add_argument rather than add() has only its help
        env = [_cell(getattr(action, "env", ""), _ENV)]
        cells = [flags, *(env if with_env else []), _default(action), _cell(getattr(action, "doc", action.help or ""))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _first_sentence(text: str) -> str:
    return " ".join(text.split()).split(". ")[0].rstrip(".") + "."


def _beam_table() -> list[str]:
    helps = {o: a.help or "" for a in our_flags(beam_parser()) for o in a.option_strings}
    lines = ["| option | meaning (Beam's help) |", "|---|---|"]
    lines += [f"| `{o}` | {_pipes(_first_sentence(helps[o]))} |" for o in BEAM_OPTIONS]
    return lines


def render() -> str:
    main, sim = _parser(), simulate.parser()
    lines = [
        "# Command-line reference",
        "",
        "Generated from the option parsers (`pipeline/options.py`, `pipeline/simulate.py`) by",
        "`scripts/gen_cli_doc.py`; a test checks it is current.",
        "",
        f"## `{main.prog}` (`python -m pipeline`)",
        "",
        _cell(main.description or ""),
        "",
        "Every flag can also come from the environment (a flag wins); dashed spellings (`--start-date`)",
        "work too, `--flag value` and `--flag=value` alike. Flags are not abbreviated.",
        "",
        *_flag_table(main, with_env=True),
        "",
        "### Beam's options",
        "",
        "Any option a registered Apache Beam `PipelineOptions` class defines passes to Beam untouched,",
        "spelled as Beam spells it (with underscores). Those these docs use:",
        "",
        *_beam_table(),
        "",
        "Any other argument is a mistake: the run does not start, and the one line on stderr names the",
        "closest flag, ours or Beam's (`unknown flag --nmu_shards; did you mean --num_shards?`).",
        "",
        "### Subcommands",
        "",
        *[f"- `{usage}`: {what}" for usage, what in SUBCOMMANDS.values()],
        "",
        "### Exit codes",
        "",
        "- `0`: published (or, with `--since_last`, nothing new to read; or a jar built).",
        "- `1`: the run failed; nothing was published.",
        "- `2`: a mistake in the flags, the environment or the source/output location (one line on stderr).",
        "",
        f"## `{sim.prog}`",
        "",
        _cell(sim.description or ""),
        "",
        "The documents are those `--source simulated://?…` generates with the same parameters (the",
        "URI takes `sessions`, `seed`, `formats`, `runs`, `tools`, `error_rate`, `tool_error_rate`,",
        "`bad_rate`, and `start` with `end`). Exit code 2 for a mistake, with one line.",
        "",
        *_flag_table(sim, with_env=False),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
