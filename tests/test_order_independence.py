"""A session's row does not depend on the order its documents arrive in after the
join: the DirectRunner delivers them in read order, Spark and Flink in whatever
order their shuffle gives (test_runners.py runs those)."""

from __future__ import annotations

import itertools
import random

from apache_beam.pvalue import TaggedOutput

from transforms.features import CombineSessionRuns
from transforms.formats import pre_read_run
from transforms.normalize import JoinAndNormalize
from transforms.simulated import SimParams, generate
from transforms.window import parse_window

WINDOW = parse_window("2024-12-01", "2024-12-31")
T0 = 1733821200  # 2024-12-10T09:00:00Z


def row_of(session_docs: list[dict], run_docs: list[dict]) -> dict:
    groups = {"sessions": session_docs, "runs": [pre_read_run(d) for d in run_docs], "refs": [], "known": []}
    sid = session_docs[0]["session_id"]
    out = JoinAndNormalize(WINDOW).process((sid, groups))
    (session,) = [s for s in out if not isinstance(s, TaggedOutput)]
    (row,) = CombineSessionRuns().process(session)
    return row


def run3(rid: str, status: str, model: str, at: int = T0, **extra) -> dict:
    """An agno3 run document without run_index: its position comes from the read order."""
    return {"_id": f"65f0000000000000000000{rid}", "run_id": rid, "session_id": "s1", "parent_run_id": None,
            "status": status, "created_at": at, **extra,
            "run_data": {"run_id": rid, "model": model, "model_provider": "OpenAI",
                         "metrics": {"input_tokens": 10, "duration": 1.0}}}  # fmt: skip


def test_runs_that_tie_on_created_at_without_run_index_give_one_row_in_any_order():
    session = {"_id": "s", "session_id": "s1", "session_type": "agent", "agent_id": "a1", "created_at": T0}
    runs = [run3("01", "ERROR", "gpt-4o"), run3("02", "COMPLETED", "gpt-4o-mini"), run3("03", "ERROR", "o3")]
    rows = [row_of([session], list(order)) for order in itertools.permutations(runs)]
    assert all(r == rows[0] for r in rows)
    # the tie is broken by _id: the collection's insertion order
    assert (rows[0]["first_error_index"], rows[0]["model_id"]) == (0, "gpt-4o")


def test_duplicates_and_simulated_sessions_give_one_row_in_any_order():
    params = SimParams(sessions=40, seed=3, formats=("agno3", "agno2", "agno1", "phidata"), runs=5.0)
    rng = random.Random(1)
    for i in range(params.sessions):
        session, run_docs = generate(i, params, WINDOW)
        older = {**session, "_id": "older", "updated_at": session["updated_at"] - 5, "runs": []}
        expected = row_of([session, older], run_docs)
        for _ in range(5):
            docs, runs = [session, older], run_docs + run_docs[:2]  # runs read twice
            rng.shuffle(docs)
            rng.shuffle(runs)
            assert row_of(docs, runs) == expected
