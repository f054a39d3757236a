"""Credentials are redacted from anything we print or write."""

from __future__ import annotations

import pytest

from transforms.secrets import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mongodb://alice:s3cr%40t@h1:27017,h2/agno?authSource=admin",
         "mongodb://alice:***@h1:27017,h2/agno?authSource=admin"),
        ("mongodb+srv://bob:pw@cluster0.example.net/", "mongodb+srv://bob:***@cluster0.example.net/"),
        ("mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc",
         "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=***"),
        ("mongodb://h:27017/agno", "mongodb://h:27017/agno"),
        ("simulated://?sessions=5", "simulated://?sessions=5"),
    ],
)  # fmt: skip
def test_redact(text, expected):
    assert redact(text) == expected
