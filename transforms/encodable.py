"""Documents the runner's coders can carry (FEATURES.md §5 "Text"): valid Unicode
everywhere, nesting within a bound. Checked before the shuffle, so a bad document is
quarantined, never a coder failure that stops the run."""

from __future__ import annotations

import json
import re
from typing import Any

try:
    import orjson
except ImportError:  # optional (setup.py installs it): json gives the same answers, slower
    orjson = None

# Levels of dicts and lists, the document itself the first: the most orjson writes
# (tests/test_rules_v11.py pins it), more than any Agno document has (a message's
# tool arguments add a few), far below the recursion limits of pickle, json and
# Beam's coders.
MAX_DEPTH = 254
_UNICODE = "text that is not valid Unicode (a lone surrogate)"
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_ONE_BRACKET = bytes.maketrans(b"[]", b"{}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _height(text: bytes) -> int:
    """Nesting levels of a JSON text, up to MAX_DEPTH + 1: its brackets outside strings,
    one kind, lose their innermost pairs once per level (C speed, no recursion)."""
    brackets = _JSON_STRING.sub(b"", text).translate(_ONE_BRACKET, _NOT_BRACKETS)
    for level in range(MAX_DEPTH + 1):
        if not brackets:
            return level
        brackets = brackets.replace(b"{}", b"")
    return MAX_DEPTH + 1


def problem(doc: Any) -> str | None:
    """Why `doc` cannot be read as text the coders carry, or None when it can."""
    if orjson is not None:
        try:  # keys all strings (nearly every document): faster without OPT_NON_STR_KEYS
            orjson.dumps(doc, default=str)
            return None
        except TypeError:
            pass  # maybe a key that is no string: the answer is below
        try:  # every key and string at C speed; values JSON lacks (ObjectId, datetime) by str
            orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS)
            return None
        except TypeError as exc:
            if "surrogates" in str(exc):
                return _UNICODE
            if "Recursion limit" in str(exc):
                return _TOO_DEEP
            # anything else orjson does not write (an int beyond 64 bits): json decides
    return _json_problem(doc)


def _json_problem(doc: Any) -> str | None:
    try:
        text = json.dumps(doc, ensure_ascii=False, default=str, skipkeys=True, check_circular=False)
    except RecursionError:
        return _TOO_DEEP
    except Exception as exc:  # noqa: BLE001 - e.g. a value whose str() raises: not plain data
        return f"a value that is not plain data ({type(exc).__name__})"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return _UNICODE
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH and _height(data) > MAX_DEPTH:
        return _TOO_DEEP
    return None


def text_problem(text: str) -> str | None:
    """Why `text` is not valid Unicode, or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _UNICODE
    return None


def safe_text(text: str) -> str:
    """`text` with lone surrogates written as `\\udXXX` escapes: encodable, and the same
    text whatever reads it (the key of a bad document and of its runs agree)."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
