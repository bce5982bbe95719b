"""Materialization service routes (API v2 and v3): versions, table metadata, table queries.

Query bodies are read as caveclient writes them: ``filter_*_dict`` (per table for live queries),
``select_columns``, ``limit``, ``offset``, ``desired_resolution``; every value is checked (see
:mod:`napari_crant.server.params` and :mod:`napari_crant.server.backend.filters`). Results are
Arrow IPC streams, truncated at the application's ``row_cap`` (``app.state.row_cap``) as
production CAVE truncates its answers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from napari_crant.server.context import ServerContext
from napari_crant.server.http import BadRequest, arrow_response, truncation_warning
from napari_crant.server.params import (
    body_count,
    body_resolution,
    iso_timestamp,
    json_body,
    query_bool,
    string_list,
)

#: Version reported by the materialization service (satisfies caveclient 8.2's checks).
MATERIALIZE_VERSION = "5.13.0"
#: How far past the server's clock a live query's timestamp may be (clock skew between machines).
FUTURE_TOLERANCE = pd.Timedelta(seconds=5)


def query_filters(body: dict[str, Any], table: str) -> dict[str, Any]:
    """The ``filter_*`` entries of a query body, unwrapped from the per-table level if present."""
    filters: dict[str, Any] = {}
    for key, value in body.items():
        if not key.startswith("filter_") or not value:
            continue
        if not isinstance(value, dict):
            raise BadRequest(f"{key} must be an object, not {type(value).__name__}")
        filters[key] = value.get(table, value)
    return filters


def make_router(ctx: ServerContext) -> APIRouter:
    """Routes under ``/materialize``."""
    router = APIRouter(prefix="/materialize")
    mat = ctx.backend.materialize

    @router.get("/api/versions")
    def mat_api_versions() -> list[int]:
        return [2, 3]

    @router.get("/version")
    def mat_version() -> str:
        return MATERIALIZE_VERSION

    async def run_query(request: Request, table: str, at: pd.Timestamp, body: dict[str, Any],
                        select: Any, live: bool) -> Response:
        mat.check_table(table)
        filters = query_filters(body, table)
        select = string_list(select, "select_columns")
        limit = body_count(body, "limit")
        offset = body_count(body, "offset") or 0
        resolution = body_resolution(body)
        cap = request.app.state.row_cap
        if cap is not None:
            limit = cap if limit is None else min(limit, cap)
        df, res = await run_in_threadpool(mat.query_table, table, at, filters, select, limit, offset,
                                          resolution)
        return arrow_response(df, res, request.headers.get("accept-encoding", ""),
                              truncation_warning(len(df), limit, live))

    for api in ("v2", "v3"):
        prefix = f"/api/{api}/datastack/{{ds}}"

        @router.get(prefix + "/versions")
        def versions(ds: str, request: Request) -> list[int]:
            ctx.check_datastack(ds)
            return mat.versions(expired=query_bool(request, "expired"))

        @router.get(prefix + "/version/{version}")
        def version_metadata(ds: str, version: int) -> dict[str, Any]:
            ctx.check_datastack(ds)
            return mat.version_metadata(version, ds)

        @router.get(prefix + "/metadata")
        def versions_metadata(ds: str, request: Request) -> list[dict[str, Any]]:
            ctx.check_datastack(ds)
            return [mat.version_metadata(v, ds) for v in mat.versions(query_bool(request, "expired"))]

        @router.get(prefix + "/version/{version}/tables")
        def tables(ds: str, version: int) -> list[str]:
            ctx.check_datastack(ds)
            mat.version_timestamp(version)
            return mat.tables

        @router.get(prefix + "/version/{version}/table/{table}/metadata")
        def table_metadata(ds: str, version: int, table: str) -> dict[str, Any]:
            ctx.check_datastack(ds)
            return mat.table_metadata(table, ds, version)

        @router.get(prefix + "/version/{version}/tables/metadata")
        def all_tables_metadata(ds: str, version: int) -> list[dict[str, Any]]:
            ctx.check_datastack(ds)
            return [mat.table_metadata(t, ds, version) for t in mat.tables]

        @router.get(prefix + "/version/{version}/table/{table}/count")
        def table_count(ds: str, version: int, table: str) -> int:
            ctx.check_datastack(ds)
            mat.table_metadata(table, ds, version)
            return mat.table_count(table)

        @router.post(prefix + "/version/{version}/table/{table}/query")
        async def query(ds: str, version: int, table: str, request: Request) -> Response:
            ctx.check_datastack(ds)
            body = json_body(await request.body())
            at = mat.version_timestamp(version)
            return await run_query(request, table, at, body, body.get("select_columns"), live=False)

    @router.post("/api/v3/datastack/{ds}/query")
    async def live_live_query(ds: str, request: Request) -> Response:
        ctx.check_datastack(ds)
        body = json_body(await request.body())
        table = body.get("table")
        if not isinstance(table, str) or not table:
            raise BadRequest(f"table: a live query needs a table name, not {table!r}")
        if body.get("join_tables"):
            raise BadRequest("join_tables: joins are not supported by this server")
        at = iso_timestamp(body.get("timestamp"), "timestamp")
        now = pd.Timestamp.now(tz="UTC")
        if at > now + FUTURE_TOLERANCE:
            # production's materialization refuses a live query about a moment not yet reached
            raise BadRequest(f"timestamp: {at.isoformat()} is in the future (server time {now.isoformat()})")
        select = body.get("select_columns")
        if isinstance(select, dict):
            select = select.get(table)
        return await run_query(request, table, at, body, select, live=True)

    return router
