"""The tools the scripted agents call, shared by scripts/agno_write_sessions.py and
scripts/agno_legacy_write_sessions.py (every Agno version builds the tool's schema
from this signature and docstring)."""

from __future__ import annotations

import json
from typing import Any


def tool_call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    """A model's request to call tool `name`, in the OpenAI shape Agno takes."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: Name of the city.
    """
    return f"Sunny, 22C in {city}"


def lookup_stock(ticker: str) -> str:
    """Look up the latest stock price for a ticker.

    Args:
        ticker: Stock ticker symbol.
    """
    raise RuntimeError(f"upstream quote service timed out for {ticker}")
