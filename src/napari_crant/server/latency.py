"""Counting requests and adding network latency to the local CAVE server.

Production CAVE servers are hundreds of milliseconds away; the local server answers in a few.
:class:`LatencyMiddleware` makes every HTTP request wait ``latency_s`` before it is handled
(``napari-crant serve --latency MS``), without blocking other requests, so benchmarks show
what a request really costs. It also counts the requests in a :class:`RequestLog`
(``app.state.requests``), which tests read to check that an answer came from a cache, and which
requests carried an ``Authorization`` header (whether, never what: the token is not kept).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from napari_crant.server.http import ASGIApp, Receive, Scope, Send

#: Largest latency accepted, in milliseconds (a minute).
MAX_LATENCY_MS = 60_000.0


class RequestLog:
    """How many HTTP requests a server received, in total and per path, and how many of them
    carried an ``Authorization`` header (thread-safe; no header value is kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: Counter[str] = Counter()
        self._with_token: Counter[str] = Counter()

    def add(self, path: str, with_token: bool = False) -> None:
        """Count one request to ``path`` (``with_token``: it carried an ``Authorization`` header)."""
        with self._lock:
            self._paths[path] += 1
            if with_token:
                self._with_token[path] += 1

    @property
    def count(self) -> int:
        """Requests received since the start (or the last :meth:`reset`)."""
        with self._lock:
            return sum(self._paths.values())

    def paths(self) -> dict[str, int]:
        """Requests per path."""
        with self._lock:
            return dict(self._paths)

    def paths_with_token(self) -> dict[str, int]:
        """Requests per path that carried an ``Authorization`` header."""
        with self._lock:
            return dict(self._with_token)

    def paths_without_token(self) -> dict[str, int]:
        """Requests per path that carried no ``Authorization`` header."""
        with self._lock:
            return {p: n - self._with_token[p] for p, n in self._paths.items() if n > self._with_token[p]}

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._paths.clear()
            self._with_token.clear()

    def __repr__(self) -> str:
        return f"RequestLog(count={self.count})"


class LatencyMiddleware:
    """Count each HTTP request in ``log`` and delay it by ``latency_s`` seconds (0: no delay)."""

    def __init__(self, app: ASGIApp, log: RequestLog, latency_s: float = 0.0):
        if not 0 <= latency_s <= MAX_LATENCY_MS / 1000:
            raise ValueError(f"latency must be between 0 and {MAX_LATENCY_MS / 1000:g} s, not {latency_s!r}")
        self.app = app
        self.log = log
        self.latency_s = float(latency_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers") or ()
            self.log.add(str(scope.get("path", "")), any(k.lower() == b"authorization" for k, _ in headers))
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
        await self.app(scope, receive, send)
