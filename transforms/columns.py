"""The one definition of the output columns (FEATURES.md §4, §7): name, type, meaning, unit.

The session table's columns, and the companion `runs` and `tool_calls` tables'
(transforms/tables.py registers all three). The CSV header, the Parquet schema,
schema.json, the dataset card and the Glue catalog are all made from these."""

from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    name: str
    type: str  # string, int, float, bool, timestamp
    doc: str
    unit: str = ""  # tokens, seconds, USD, …; "" when the column has none


# The unit a column has, from its name: the session table's 59 columns keep their
# one-line definitions above; units follow the naming rules of FEATURES.md.
def _unit(name: str, kind: str) -> str:
    if kind == "timestamp":
        return "UTC"
    if name.endswith("_per_s"):
        return "tokens per second"
    if name.endswith("_s"):
        return "seconds"
    if "tokens" in name and not name.endswith("_ratio"):
        return "tokens"
    if name.startswith("cost"):
        return "as stored by Agno"  # Agno does not record a currency
    if name.endswith(("_ratio", "_rate")):
        return "ratio"
    if name == "start_hour_utc":
        return "hour"
    return ""


COLUMNS: tuple[Column, ...] = (
    Column("session_id", "string", "the session's id"),
    Column("session_type", "string", "agent, team or workflow"),
    Column("source_format", "string", "storage format read: agno3, agno2, agno1, phidata"),
    Column("agent_id", "string", "agent, team or workflow id"),
    Column("agent_name", "string", "agent, team or workflow name"),
    Column("model_provider", "string", "provider of the primary model"),
    Column(
        "model_id",
        "string",
        "primary model: the (provider, id) pair on most top-level runs; tie: the earliest such run; "
        "none: the session's model",
    ),
    Column("distinct_models", "int", "distinct (provider, id) pairs over all runs"),
    Column("total_runs", "int", "top-level runs (no parent_run_id)"),
    Column("member_runs", "int", "runs with a parent"),
    Column("input_tokens_sum", "int", "over all runs"),
    Column("output_tokens_sum", "int", "over all runs"),
    Column("total_tokens_sum", "int", "over all runs"),
    Column("cache_read_tokens_sum", "int", "over all runs"),
    Column("reasoning_tokens_sum", "int", "over all runs"),
    Column("input_tokens_avg", "float", "per top-level run tree"),
    Column("output_tokens_avg", "float", "per top-level run tree"),
    Column("output_tokens_max", "int", "per top-level run tree"),
    Column("total_tokens_avg", "float", "per top-level run tree"),
    Column("total_tokens_max", "int", "per top-level run tree"),
    Column("output_input_ratio", "float", "output_tokens_sum / input_tokens_sum"),
    Column("cache_read_ratio", "float", "cache_read_tokens_sum / input_tokens_sum"),
    Column("reasoning_output_ratio", "float", "reasoning_tokens_sum / output_tokens_sum"),
    Column("cost_sum", "float", "sum of run costs; null when no run has a cost"),
    Column("duration_sum_s", "float", "top-level runs' durations (nulls skipped)"),
    Column("duration_avg_s", "float", "top-level runs with a duration"),
    Column("duration_max_s", "float", "top-level runs with a duration"),
    Column("duration_p50_s", "float", "median, linear interpolation"),
    Column("duration_p95_s", "float", "95th percentile, linear interpolation"),
    Column("ttft_avg_s", "float", "top-level runs with a time to first token"),
    Column("ttft_max_s", "float", "top-level runs with a time to first token"),
    Column("output_tokens_per_s", "float", "output_tokens_sum / duration_sum_s"),
    Column("tool_calls_sum", "int", "over all runs"),
    Column("tool_calls_avg", "float", "per top-level run tree"),
    Column("tool_calls_max", "int", "per top-level run tree"),
    Column("distinct_tools", "int", "distinct tool names"),
    Column("tool_errors_sum", "int", "tool calls with tool_call_error true"),
    Column("tool_error_rate", "float", "tool_errors_sum / tool_calls_sum"),
    Column("tool_duration_sum_s", "float", "tool call durations (nulls skipped)"),
    Column("tool_duration_avg_s", "float", "tool calls with a duration"),
    Column("tool_duration_max_s", "float", "tool calls with a duration"),
    Column("runs_with_tools_ratio", "float", "top-level trees with at least one tool call / total_runs"),
    Column("top_tool", "string", "most frequent tool name; tie: smallest name"),
    Column("error_runs", "int", "top-level runs with status ERROR"),
    Column("cancelled_runs", "int", "top-level runs with status CANCELLED"),
    Column("incomplete_runs", "int", "top-level runs with status PENDING, RUNNING or PAUSED"),
    Column("error_rate", "float", "error_runs / total_runs"),
    Column("first_error_index", "int", "0-based order of the first ERROR top-level run"),
    Column("max_consecutive_errors", "int", "longest streak of ERROR top-level runs in order"),
    Column("has_failure", "bool", "error_runs > 0 or tool_errors_sum > 0"),
    Column("session_start", "timestamp", "session created_at (undated sessions: their first run's)"),
    Column("first_run_at", "timestamp", "earliest top-level run created_at"),
    Column("last_run_end", "timestamp", "max over top-level runs of created_at + duration_s (null duration: 0)"),
    Column("active_span_s", "float", "last_run_end - first_run_at"),
    Column("inter_run_gap_avg_s", "float", "mean gap between consecutive top-level run starts"),
    Column("inter_run_gap_max_s", "float", "largest gap between consecutive top-level run starts"),
    Column("start_hour_utc", "int", "hour of session_start, 0-23"),
    Column("start_weekday", "int", "0 = Monday ... 6 = Sunday"),
    Column("is_weekend", "bool", "start_weekday >= 5"),
)

COLUMNS = tuple(c._replace(unit=_unit(c.name, c.type)) for c in COLUMNS)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

# FEATURES.md §7: one row per normalized run, key (session_id, run_seq).
RUN_COLUMNS: tuple[Column, ...] = (
    Column("session_id", "string", "the session's id"),
    Column("run_seq", "int", "0-based place of the run among all the session's runs in run order"),
    Column("run_id", "string", "the run's id"),
    Column("parent_run_id", "string", "the team run a member run belongs to; null for top-level runs"),
    Column(
        "root_run_id",
        "string",
        "the top-level run whose tree holds the run (itself when top-level); null when its parent chain "
        "reaches no top-level run",
    ),
    Column("depth", "int", "0 for top-level runs, 1 for their members, ...; null with root_run_id"),
    Column("top_run_index", "int", "0-based order of its root among the top-level runs; null with root_run_id"),
    Column("status", "string", "COMPLETED, ERROR, CANCELLED, PAUSED, PENDING, RUNNING, REGENERATED or UNKNOWN"),
    Column("model_provider", "string", "the run's own model provider, the session's as fallback"),
    Column("model_id", "string", "the run's own model id, the session's as fallback"),
    Column("created_at", "timestamp", "the run's created_at", "UTC"),
    Column("duration_s", "float", "the run's duration; null when unknown", "seconds"),
    Column("ttft_s", "float", "time to first token; null when unknown", "seconds"),
    Column("input_tokens", "int", "input tokens", "tokens"),
    Column("output_tokens", "int", "output tokens", "tokens"),
    Column("total_tokens", "int", "total tokens", "tokens"),
    Column("cache_read_tokens", "int", "tokens read from the prompt cache", "tokens"),
    Column("reasoning_tokens", "int", "reasoning tokens", "tokens"),
    Column("cost", "float", "the run's cost; null when absent", "as stored by Agno"),
    Column("tool_calls", "int", "tool calls of this run alone (not its members)"),
    Column("tool_errors", "int", "its tool calls with tool_call_error true"),
    Column("tool_duration_s", "float", "sum over its calls with a duration; null when none has one", "seconds"),
)

# FEATURES.md §7: one row per tool call, key (session_id, run_seq, call_index).
TOOL_CALL_COLUMNS: tuple[Column, ...] = (
    Column("session_id", "string", "the session's id"),
    Column("run_seq", "int", "the run it belongs to (as in runs)"),
    Column("call_index", "int", "0-based, in the order of the run's tool list"),
    Column("tool_name", "string", "the tool's name"),
    Column("error", "bool", "tool_call_error is true"),
    Column("duration_s", "float", "the call's duration; null when unknown", "seconds"),
)
