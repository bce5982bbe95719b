"""What went wrong with a request to CAVE, told apart from the exception requests/urllib3 raised.

requests wraps the socket-level cause in layers (``ConnectionError(MaxRetryError(
NewConnectionError(...)))``, ``ChunkedEncodingError(ProtocolError(IncompleteRead))``), and a
refused connection, a connection dropped in the middle of an answer and a timeout all end up as
``requests.ConnectionError``. :func:`classify` walks the layers (``args``, ``reason``,
``__cause__``, ``__context__``) and names the kind of failure, which decides whether the request
is retried and what the user is told.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Any

#: The server refused the connection: nothing listens at the address (retried: it may be restarting).
REFUSED = "refused"
#: The server could not be reached at all: unknown name, no route, no answer to the connection attempt.
UNREACHABLE = "unreachable"
#: A connection was made but closed or reset before the whole answer arrived (retried).
DROPPED = "dropped"
#: The server was reached but sent no answer within the timeout.
TIMEOUT = "timeout"
#: The server's TLS certificate was not trusted (or TLS failed): trying again does not help.
CERTIFICATE = "certificate"
#: An HTTP status (the answer itself says what went wrong; 5xx is retried).
HTTP = "http"
#: Anything else (an unreadable answer, a caveclient error).
OTHER = "other"

_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


@dataclass(frozen=True)
class Failure:
    """The kind of a failed request (one of the constants above) and a short reason."""

    kind: str
    reason: str
    status: int | None = None

    @property
    def transient(self) -> bool:
        """Whether trying again may help: refused or dropped connections, HTTP 5xx."""
        if self.kind == HTTP:
            return self.status is not None and self.status >= 500
        return self.kind in (REFUSED, DROPPED)


def _layers(exc: BaseException, limit: int = 30) -> list[BaseException]:
    """``exc`` and every exception nested in it, outermost first."""
    out: list[BaseException] = []
    stack: list[Any] = [exc]
    while stack and len(out) < limit:
        e = stack.pop(0)
        if not isinstance(e, BaseException) or any(e is seen for seen in out):
            continue
        out.append(e)
        stack += [a for a in e.args if isinstance(a, BaseException)]
        stack += [getattr(e, "reason", None), e.__cause__, e.__context__]
    return out


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of the answer an exception carries, if any."""
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def classify(exc: BaseException) -> Failure:
    """Tell what kind of failure ``exc`` (raised by requests, urllib3 or caveclient) stands for."""
    import requests
    from urllib3.exceptions import (
        ConnectTimeoutError,
        IncompleteRead,
        NameResolutionError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )

    status = status_of(exc)
    if status is not None:
        return Failure(HTTP, f"HTTP {status}", status)
    layers = _layers(exc)

    def has(*types: type) -> bool:
        return any(isinstance(e, types) for e in layers)

    if has(ssl.SSLCertVerificationError):
        verify = next(e for e in layers if isinstance(e, ssl.SSLCertVerificationError))
        return Failure(CERTIFICATE, f"its TLS certificate was not trusted ({verify.verify_message})")
    if has(ssl.SSLError, requests.exceptions.SSLError):
        return Failure(CERTIFICATE, "the TLS handshake failed")
    if has(NameResolutionError, socket.gaierror):
        return Failure(UNREACHABLE, "the server's name does not resolve")
    if any(isinstance(e, OSError) and e.errno in _UNREACHABLE_ERRNOS for e in layers):
        return Failure(UNREACHABLE, "no route to the server")
    if has(ConnectionRefusedError) or (
            has(NewConnectionError) and not has(TimeoutError, socket.timeout)):
        return Failure(REFUSED, "connection refused")
    # urllib3 makes NewConnectionError a ConnectTimeoutError: refused is told apart above
    if has(ConnectTimeoutError, requests.ConnectTimeout):
        return Failure(UNREACHABLE, "no answer to the connection attempt")
    if has(ReadTimeoutError, requests.ReadTimeout, TimeoutError, socket.timeout):
        return Failure(TIMEOUT, "no answer in time")
    if has(ConnectionResetError):
        return Failure(DROPPED, "connection reset by the server")
    if has(IncompleteRead, http.client.IncompleteRead, requests.exceptions.ChunkedEncodingError):
        return Failure(DROPPED, "the answer stopped before its end")
    if has(http.client.RemoteDisconnected, ConnectionAbortedError, BrokenPipeError, ProtocolError):
        return Failure(DROPPED, "the server closed the connection without a complete answer")
    if has(requests.ConnectionError):
        return Failure(UNREACHABLE, "the connection failed")
    return Failure(OTHER, type(exc).__name__)
