"""Credentials never leave the process: URIs and messages are redacted before use."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]*)@")
_PARAMS = re.compile(
    r"(?i)(?P<key>password|pwd|secret|token|aws_session_token|aws_secret_access_key|authmechanismproperties)"
    r"(?P<sep>=|:)(?P<value>[^&\s,]+)"
)


def redact(text: str) -> str:
    """`mongodb://user:pass@host/?authMechanismProperties=AWS_SESSION_TOKEN:x` → user:***@ … =***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PARAMS.sub(lambda m: f"{m['key']}{m['sep']}***", text)
