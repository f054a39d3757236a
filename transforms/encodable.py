"""Documents the runner's coders can carry (FEATURES.md §5 "Text"): valid Unicode
everywhere, nesting within a bound. Checked before the shuffle, so a bad document is
quarantined, never a coder failure that stops the run."""

from __future__ import annotations

import json
from typing import Any

# Deeper than any Agno document (a message's tool arguments are a few levels), far
# below the recursion limits of pickle, json and Beam's coders.
MAX_DEPTH = 100


def _depth_over(doc: Any, limit: int) -> bool:
    """Whether dicts and lists nest more than `limit` levels (iterative: no recursion limit)."""
    stack = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def problem(doc: Any) -> str | None:
    """Why `doc` cannot be read as text the coders carry, or None when it can."""
    if not isinstance(doc, (dict, list)):
        return None if not isinstance(doc, str) else _text_problem(doc)
    # Nesting first: the C encoder below recurses.
    if _depth_over(doc, MAX_DEPTH):
        return f"nested deeper than {MAX_DEPTH} levels"
    try:
        # C speed over every key and string; non-JSON values (ObjectId, datetime) by str
        json.dumps(doc, ensure_ascii=False, default=str, skipkeys=True, check_circular=False).encode("utf-8")
    except UnicodeEncodeError:
        return "text that is not valid Unicode (a lone surrogate)"
    except Exception as exc:  # noqa: BLE001 - e.g. a value whose str() raises: not plain data
        return f"a value that is not plain data ({type(exc).__name__})"
    return None


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text that is not valid Unicode (a lone surrogate)"
    return None


def safe_text(text: str) -> str:
    """`text` with lone surrogates written as `\\udXXX` escapes: encodable, and the same
    text whatever reads it (the key of a bad document and of its runs agree)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_value(value: Any) -> Any:
    """A copy of a document that the coders carry: strings (keys too) made safe, levels
    beyond MAX_DEPTH replaced by a note. For quarantining a document `problem` rejects."""

    def walk(v: Any, depth: int) -> Any:
        if isinstance(v, str):
            return safe_text(v)
        if isinstance(v, (dict, list)) and depth >= MAX_DEPTH:
            return f"<nested deeper than {MAX_DEPTH} levels>"
        if isinstance(v, dict):
            return {(safe_text(k) if isinstance(k, str) else k): walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        return v

    return walk(value, 0)
