"""A FastAPI application speaking the CAVE HTTP API over a snapshot.

It answers what an unmodified ``caveclient.CAVEclient`` asks (info service,
materialization v2/v3, chunkedgraph v1, L2 cache v1, skeleton-service version endpoints),
closely enough for the calls napari-crant makes and for the common read-only calls of users.
See ``docs/cave-server.md`` for the routes, limits and differences from production CAVE.

:func:`create_app` only composes: one router per service (:mod:`napari_crant.server.routes`),
the shared token check, body cap and error answers (:mod:`napari_crant.server.http`). Run it with
:mod:`napari_crant.server.runner` or ``napari-crant serve``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from napari_crant.server.backend import SnapshotBackend
from napari_crant.server.context import ServerContext
from napari_crant.server.http import (
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
    TokenAuthMiddleware,
    install_error_handlers,
)
from napari_crant.server.routes import (
    chunkedgraph,
    info,
    l2cache,
    materialize,
    meshes,
    precomputed,
    skeleton,
)
from napari_crant.sources.snapshot import SnapshotSource


def create_app(
    source: SnapshotSource,
    datastack: str = "kronauer_ant",
    token: str | None = None,
    row_cap: int | None = None,
    base_url: Callable[[], str] | str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """Build the CAVE-compatible application over ``source``.

    Parameters
    ----------
    source
        The snapshot to serve.
    datastack
        Datastack name the server answers for (other names get 404).
    token
        If given, every request must carry ``Authorization: Bearer <token>`` (or the
        ``middle_auth_token`` cookie); others get 401.
    row_cap
        Largest number of rows a single materialization query returns; larger results are
        truncated silently, as on production CAVE.
    base_url
        The server's own URL (or a callable returning it), written into the datastack info as
        ``local_server``; defaults to the URL of each incoming request.
    max_body_bytes
        Largest request body accepted; larger ones get 413 before they are read whole.

    Returns
    -------
    FastAPI
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1, not {max_body_bytes}")
    backend = SnapshotBackend(source)
    ctx = ServerContext(source=source, backend=backend, datastack=datastack, base_url=base_url)
    app = FastAPI(title="napari-crant local CAVE", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend
    app.state.row_cap = row_cap
    app.state.max_body_bytes = max_body_bytes
    install_error_handlers(app)
    # meshes before precomputed's catch-all /tissue/{ds}/{layer}/{key}/{chunk} route; precomputed
    # (tissue, and the chunkedgraph info naming it) before chunkedgraph: its info wins
    for service in (info, materialize, meshes, precomputed, chunkedgraph, l2cache, skeleton):
        app.include_router(service.make_router(ctx))
    # Added last = outermost: the token is checked before any body is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if token is not None:
        app.add_middleware(TokenAuthMiddleware, token=token,
                           public_prefixes=tuple({meshes.PUBLIC_PREFIX, precomputed.PUBLIC_PREFIX}))
    return app
