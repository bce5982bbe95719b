"""What every route of the local CAVE server shares: errors, token check, body cap, responses.

Errors are answered as JSON ``{"error": kind, "message": text}``: 400 for a bad request (the
message names the bad field), 401 without the right token, 404 for an unknown datastack or
table, 413 for a body over the cap. Request validation by FastAPI (a path parameter that is not
a number...) is answered the same way, with 400.
"""

from __future__ import annotations

import hmac
import io
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pandas as pd
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from napari_crant.server.backend import BackendError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Default cap on a request body (bytes): 4M IDs as ``roots_binary``. A JSON body of the worst kind
#: (millions of one-digit IDs) takes about 25 times its size in memory while parsed: ~800 MB.
DEFAULT_MAX_BODY_BYTES = 32 * 2**20


class HttpError(Exception):
    """An error answered with ``status`` and ``{"error": kind, "message": str(self)}``."""

    status = 400
    kind = "bad_request"


class BadRequest(HttpError):
    """A request the server refuses (400); the message names the bad field."""


class NotFound(HttpError):
    """An unknown datastack or chunkedgraph table (404)."""

    status = 404
    kind = "not_found"


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """The JSON error answer every route gives."""
    return JSONResponse({"error": kind, "message": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer :class:`HttpError`, :class:`BackendError` and FastAPI's validation errors as JSON."""

    @app.exception_handler(HttpError)
    async def _http_error(request: Request, exc: HttpError) -> JSONResponse:
        return error_response(exc.status, exc.kind, str(exc))

    @app.exception_handler(BackendError)
    async def _backend_error(request: Request, exc: BackendError) -> JSONResponse:
        return error_response(400, "bad_request", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _starlette_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"no route {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, kind, message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = " ".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(400, "bad_request", "; ".join(parts) or "invalid request")


async def _send_error(send: Send, status: int, kind: str, message: str) -> None:
    response = error_response(status, kind, message)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class TokenAuthMiddleware:
    """Refuse (401) every HTTP request without ``Authorization: Bearer <token>`` or the
    ``middle_auth_token`` cookie; the token is compared in constant time and never logged."""

    def __init__(self, app: ASGIApp, token: str, public_prefixes: tuple[str, ...] = ()):
        self.app = app
        self._token = token.encode()
        self._public = tuple(public_prefixes)  # paths needing no token (plain bucket reads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        public = bool(self._public) and str(scope.get("path", "")).startswith(self._public)
        if scope["type"] == "http" and not public and not self._authorized(Request(scope)):
            await _send_error(send, 401, "unauthorized", "missing or invalid token")
            return
        await self.app(scope, receive, send)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(
            "middle_auth_token", "")
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._token)

    def __repr__(self) -> str:
        return "TokenAuthMiddleware(token=<hidden>)"


class BodyLimitMiddleware:
    """Answer 413 to a request whose body exceeds ``max_bytes``, before the route sees it.

    A declared ``Content-Length`` over the cap is refused at once; a body sent in chunks is
    counted while it arrives and refused as soon as it passes the cap, so no request makes the
    server hold more than ``max_bytes`` of body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _send_error(send, 413, "payload_too_large",
                          f"request body exceeds the server's limit of {self.max_bytes} bytes")


def json_response(content: Any) -> Response:
    """``content`` (plain lists, dicts, numbers, strings) as JSON, without FastAPI's per-element
    encoder: an answer listing millions of IDs is serialized in seconds, not minutes."""
    text = json.dumps(content, separators=(",", ":"))
    return Response(content=text.encode(), media_type="application/json")


def arrow_response(df: pd.DataFrame, resolution: list[float], accept_encoding: str) -> Response:
    """A table as CAVE's Arrow IPC stream (zstd if the client accepts it), with its resolution."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    options = pa.ipc.IpcWriteOptions(compression="zstd" if "zstd" in accept_encoding else None)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    headers = {"dataframe_resolution": ", ".join(str(float(r)) for r in resolution)}
    return Response(content=sink.getvalue(), media_type="data.arrow", headers=headers)
