"""Keeping a CAVE token in memory without showing it, and scrubbing tokens out of text.

A :class:`Secret` holds a token; its ``repr`` and ``str`` are ``'***'``, so neither the dataset
registry, a source's ``vars()`` nor a traceback's locals show it. :func:`redact` removes a
known token and anything that looks like one (``Bearer ...``, ``token=...``) from a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: What replaces a token in text.
MASK = "***"

_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",;}]+"),
    re.compile(r"(?i)((?:middle_auth_|auth_)?token[\"']?\s*[=:]\s*[\"']?)[^\s&'\",;}]+"),
    re.compile(r"(?i)(://[^/\s:@]+:)[^/\s@]+(@)"),
)


class Secret:
    """A token that never shows itself (``repr``/``str``/format give ``'***'``).

    Parameters
    ----------
    value
        The token.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not isinstance(value, str) or not value:
            raise TypeError("a token must be a non-empty str")
        self._value = value

    def reveal(self) -> str:
        """The token itself, for the one place that sends it (caveclient)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple:
        raise TypeError("a Secret is not pickled (it would write the token)")


def as_secret(token: str | Secret | None) -> Secret | None:
    """``token`` wrapped in a :class:`Secret` (``None`` and ``""`` give ``None``)."""
    if token is None or token == "":
        return None
    return token if isinstance(token, Secret) else Secret(token)


def redact(text: str, secrets: Iterable[str | Secret | None] = ()) -> str:
    """``text`` without the given tokens nor anything shaped like a credential.

    Parameters
    ----------
    text
        A message (e.g. the text of an exception raised by requests or caveclient).
    secrets
        Tokens known to be in use; each is replaced wherever it appears.

    Returns
    -------
    str
    """
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK + (m.group(2) if m.lastindex == 2 else ""), text)
    return text
