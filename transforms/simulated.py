"""A deterministic generator of realistic Agno-format sessions: the embedded default
source (`simulated://?sessions=N&seed=S`), also written to dumps or MongoDB by
`python -m pipeline.simulate`.

Session `i` depends only on (seed, i), so any split of the work yields the same
documents. Shapes follow what agno writes (see tests/data/agno and docs/agno-test-data.md).
"""

from __future__ import annotations

import difflib
import math
import random
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import apache_beam as beam

from transforms.slicing import WHOLE, Slice
from transforms.window import Window

MODELS = (
    ("OpenAI", "gpt-4o-mini"),
    ("OpenAI", "gpt-4o"),
    ("Anthropic", "claude-sonnet-4-5"),
    ("Google", "gemini-2.0-flash"),
)
TOOLS = ("get_weather", "search_web", "lookup_stock", "read_file", "send_email", "run_sql")
FORMATS = ("agno3", "agno2", "agno1", "phidata")
CHUNK = 2_000  # sessions generated per element


@dataclass(frozen=True)
class SimParams:
    sessions: int = 1_000
    seed: int = 42
    formats: tuple[str, ...] = ("agno3",)
    runs: float = 4.0  # mean runs per session
    tools: float = 0.75  # mean tool calls per top-level run
    error_rate: float = 0.05  # runs that end in ERROR
    tool_error_rate: float = 0.05
    bad_rate: float = 0.0  # documents that must be quarantined
    start: str | None = None  # generation window; default: the pipeline's
    end: str | None = None


MOST_SESSIONS = 10**9  # session ids have 9 digits


def _whole(text: str, low: int | None, high: int | None) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError
    return value


def _share(text: str, high: float | None) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0 or (high is not None and value > high):
        raise ValueError
    return value


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    if not formats or set(formats) - set(FORMATS):
        raise ValueError
    return formats


# parameter → (reader of its text, what it must be)
PARAMS: dict[str, tuple[Callable[[str], Any], str]] = {
    "sessions": (lambda t: _whole(t, 0, MOST_SESSIONS), f"a whole number from 0 to {MOST_SESSIONS:,}"),
    "seed": (lambda t: _whole(t, None, None), "a whole number"),
    "formats": (_formats, f"a comma list among {', '.join(FORMATS)}"),
    "runs": (lambda t: _share(t, None), "a number ≥ 0"),
    "tools": (lambda t: _share(t, None), "a number ≥ 0"),
    "error_rate": (lambda t: _share(t, 1), "a number from 0 to 1"),
    "tool_error_rate": (lambda t: _share(t, 1), "a number from 0 to 1"),
    "bad_rate": (lambda t: _share(t, 1), "a number from 0 to 1"),
    "start": (str, "a date"),
    "end": (str, "a date"),
}


def sim_params(texts: Mapping[str, str], label: Callable[[str], str] = str) -> SimParams:
    """SimParams from text values (a URI's query, or flags); a one-sentence ValueError for a
    bad or unknown one, named as `label(parameter)` names it."""
    updates: dict[str, Any] = {}
    for key, text in texts.items():
        if key not in PARAMS:
            close = difflib.get_close_matches(key, PARAMS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(PARAMS)})"
            raise ValueError(f"unknown simulated source parameter {key!r}{hint}")
        read, expected = PARAMS[key]
        try:
            updates[key] = read(text)
        except ValueError:
            raise ValueError(f"{label(key)} must be {expected}, not {text!r}") from None
    params = replace(SimParams(), **updates)
    if (params.start is None) != (params.end is None):
        raise ValueError(f"{label('start')} and {label('end')} go together")
    if params.start is not None:
        from transforms.window import WindowError, parse_window

        try:
            parse_window(params.start, params.end, (label("start"), label("end")))
        except WindowError as exc:
            raise ValueError(str(exc)) from None
    return params


def parse_sim_uri(uri: str) -> SimParams:
    """`simulated://?sessions=N&seed=S&formats=agno3,agno2&error_rate=0.1&...`; a ValueError
    (one sentence) for anything it cannot use."""
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc or parts.path or parts.fragment:
        raise ValueError(f"the parameters of {uri!r} follow a '?': simulated://?sessions=N&seed=S&…")
    texts: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if key in texts:
            raise ValueError(f"{key} is given twice")
        texts[key] = value
    return sim_params(texts)


def _oid(rng: random.Random):
    from bson import ObjectId

    return ObjectId(rng.randbytes(12))


def _uuid(rng: random.Random) -> str:
    h = rng.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _run_dict(rng: random.Random, p: SimParams, sid: str, owner: dict, at: int, model: tuple, parent: str | None):
    provider, model_id = model
    calls = []
    for _ in range(min(8, int(rng.expovariate(1 / p.tools)) if p.tools > 0 else 0)):
        calls.append(
            {
                "tool_call_id": f"call_{_uuid(rng)[:8]}",
                "tool_name": rng.choice(TOOLS),
                "tool_args": {},
                "tool_call_error": rng.random() < p.tool_error_rate,
                "metrics": {"duration": round(rng.uniform(0.01, 2.5), 6)},
                "created_at": at,
            }
        )
    failed = rng.random() < p.error_rate
    inp = rng.randint(200, 6000)
    out = rng.randint(10, 800)
    metrics: dict[str, Any] = {"duration": round(rng.uniform(0.3, 20.0), 6)}
    if not failed:
        metrics.update(
            input_tokens=inp,
            output_tokens=out,
            total_tokens=inp + out,
            time_to_first_token=round(rng.uniform(0.1, 2.0), 6),
        )
        if rng.random() < 0.4:
            metrics["cache_read_tokens"] = rng.randint(0, inp)
        if rng.random() < 0.2:
            metrics["reasoning_tokens"] = rng.randint(0, out)
    run = {
        "run_id": _uuid(rng),
        **owner,
        "session_id": sid,
        "parent_run_id": parent,
        "model": model_id,
        "model_provider": provider,
        "created_at": at,
        "status": "ERROR" if failed else "COMPLETED",
        "metrics": metrics,
        "tools": calls,
    }
    return run


def _legacy(run: dict, fmt: str) -> dict:
    """agno1 / phidata shapes: list metrics, `time`, no status/provider in phidata."""
    m = run["metrics"]
    metrics = {
        "input_tokens": [m.get("input_tokens", 0)],
        "output_tokens": [m.get("output_tokens", 0)],
        "total_tokens": [m.get("total_tokens", 0)],
        "cached_tokens": [m.get("cache_read_tokens", 0)],
        "time": [m["duration"]],
    }
    tools = [{**t, "metrics": {"time": t["metrics"]["duration"]}} for t in run["tools"]]
    base = {k: run[k] for k in ("run_id", "session_id", "model", "created_at") if k in run}
    if fmt == "agno1":
        return {**base, "agent_id": run.get("agent_id"), "model_provider": run["model_provider"],
                "status": "RUNNING", "metrics": metrics, "tools": tools}  # fmt: skip
    messages = [{"role": "tool", "tool_name": t["tool_name"], "tool_call_error": t["tool_call_error"],
                 "metrics": t["metrics"], "created_at": run["created_at"]} for t in tools]  # fmt: skip
    return {"message": {"role": "user", "created_at": run["created_at"]},
            "response": {**base, "metrics": metrics, "messages": messages}}  # fmt: skip


def generate(index: int, p: SimParams, window: Window) -> tuple[dict, list[dict]]:
    """Session `index`: its session document and its agno3 run documents."""
    rng = random.Random(f"{p.seed}:{index}")
    fmt = p.formats[index % len(p.formats)]
    sid = session_id(index, p)
    span = max(1, int(window.end - window.start) - 1)
    created = int(window.start) + rng.randrange(span)
    kind = "agent" if fmt in ("agno1", "phidata") else rng.choices(("agent", "team", "workflow"), (80, 15, 5))[0]
    n = (int(rng.expovariate(1 / p.runs)) if p.runs > 0 else 0) + (1 if rng.random() < 0.9 else 0)
    ident = f"{kind}-{rng.randrange(20):02d}"
    model = rng.choice(MODELS)
    owner = {f"{kind}_id": ident}
    runs: list[dict] = []
    at = created
    for _ in range(n):
        top = _run_dict(rng, p, sid, owner, at, model if rng.random() < 0.85 else rng.choice(MODELS), None)
        if kind == "workflow":
            step = _run_dict(rng, p, sid, {"agent_id": "writer"}, at, model, top["run_id"])
            top = {**top, "workflow_id": ident, "tools": [], "step_executor_runs": [step],
                   "metrics": {"steps": {"write": {"metrics": step["metrics"]}},
                               "duration": top["metrics"]["duration"]}}  # fmt: skip
        runs.append(top)
        if kind == "team":
            for _ in range(rng.randint(1, 2)):
                member = rng.choice(MODELS)
                runs.append(_run_dict(rng, p, sid, {"agent_id": "member"}, at, member, top["run_id"]))
        at += int(rng.uniform(5, 900))
    data = {"name": f"{kind.title()} {ident}", f"{kind}_id": ident}
    if kind != "workflow":
        data["model"] = {"id": model[1], "provider": model[0], "name": "Chat"}
    session: dict[str, Any] = {
        "_id": _oid(rng),
        "session_id": sid,
        "user_id": f"user-{rng.randrange(1000)}",
        "created_at": created,
        "updated_at": at,
    }
    run_docs: list[dict] = []
    if fmt in ("agno1", "phidata"):
        session.update(agent_id=ident, agent_data=data, memory={"runs": [_legacy(r, fmt) for r in runs]})
        if fmt == "phidata":
            session["user_data"] = None
    else:
        session.update(session_type=kind, **owner, **{f"{kind}_data": data}, session_data={})
        if fmt == "agno2":
            session["runs"] = runs
        else:
            for k, r in enumerate(runs):
                run_docs.append(
                    {
                        "_id": _oid(rng),
                        "run_id": r["run_id"],
                        "session_id": sid,
                        "run_type": kind,
                        "parent_run_id": r["parent_run_id"],
                        "status": r["status"],
                        "run_index": k,
                        "created_at": r["created_at"],
                        "updated_at": r["created_at"],
                        "run_data": r,
                    }  # fmt: skip
                )
    if p.bad_rate and rng.random() < p.bad_rate:
        session["runs" if fmt in ("agno2", "agno3") else "memory"] = "{not json"
        run_docs = []
    return session, run_docs


def session_id(index: int, p: SimParams) -> str:
    return f"sim-{p.seed}-{index:09d}"


def generate_range(chunk: tuple[int, int], p: SimParams, window: Window, part: Slice = WHOLE) -> Iterator[Any]:
    """Sessions [a, b) with their run documents; with a slice of the window, only the
    slice's sessions (the id is known before anything is generated: skipping costs a hash)."""
    for i in range(*chunk):
        if not part.whole and not part.holds(session_id(i, p)):
            continue
        session, run_docs = generate(i, p, window)
        yield session
        for doc in run_docs:
            yield beam.pvalue.TaggedOutput("runs", doc)


def sim_window(p: SimParams, window: Window) -> Window:
    from transforms.window import parse_window

    return parse_window(p.start, p.end) if p.start and p.end else window


class ReadSimulated(beam.PTransform):
    def __init__(self, params: SimParams, window: Window, part: Slice = WHOLE):
        super().__init__()
        self.params, self.window, self.part = params, window, part

    def expand(self, pbegin):
        from transforms.read_dump import ShapeDocuments

        chunks = [(a, min(a + CHUNK, self.params.sessions)) for a in range(0, self.params.sessions, CHUNK)]
        docs = (
            pbegin
            | "Chunks" >> beam.Create(chunks)
            | "Spread" >> beam.Reshuffle()
            | "Generate"
            >> beam.FlatMap(generate_range, self.params, sim_window(self.params, self.window), self.part).with_outputs(
                "runs", main="sessions"
            )
        )
        self._read = (docs.sessions, docs.runs) | "Shape" >> ShapeDocuments(self.window)
        return self._read

    def orphans(self, candidates):
        from transforms.read_dump import orphan_counts

        return orphan_counts(self._read, candidates)
