"""Errors as /health, logs and commands may show them: short, and without credentials."""

import re

_CREDENTIALS = re.compile(r"(\w+://)[^@/\s]+@")


def describe_error(error) -> str:
    """An error (or its text) without the user:password of any URI in it, at most 500 chars."""
    return _CREDENTIALS.sub(r"\1***@", str(error))[:500]
