"""L2 cache service routes (API v1): attributes of L2 chunks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from napari_crant.server.backend.l2 import L2_ATTRIBUTES
from napari_crant.server.context import ServerContext
from napari_crant.server.http import json_response
from napari_crant.server.params import body_ids, json_body, query_text


def make_router(ctx: ServerContext) -> APIRouter:
    """Routes under ``/l2cache``."""
    router = APIRouter(prefix="/l2cache/api/v1")
    pcg = ctx.pcg_table
    l2 = ctx.backend.l2

    @router.get("/table_mapping")
    def table_mapping() -> dict[str, Any]:
        return {pcg: {"l2cache_id": f"{pcg}_l2", "cv_path": f"graphene://local/{pcg}"}}

    @router.get("/attribute_metadata")
    def attribute_metadata() -> dict[str, str]:
        return dict(L2_ATTRIBUTES)

    @router.post("/table/{table_id}/attributes")
    async def l2_attributes(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        names_text = query_text(request, "attribute_names")
        names = names_text.split(",") if names_text else None
        ids = body_ids(json_body(await request.body()), "l2_ids")
        return json_response(await run_in_threadpool(l2.l2_attributes, ids, names))

    return router
