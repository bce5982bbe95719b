"""Chunkedgraph service routes (API v1): roots of nodes, root history, leaves, L2 graphs.

IDs come as little-endian uint64 bytes (``roots_binary``), JSON lists or path segments; times
as epoch seconds in query parameters (caveclient's ``package_timestamp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from napari_crant.server.context import ServerContext
from napari_crant.server.http import BadRequest, json_response
from napari_crant.server.params import (
    binary_ids,
    body_ids,
    json_body,
    path_id,
    query_bool,
    query_int,
    query_text,
    query_timestamp,
)
from napari_crant.server.routes.meshes import mesh_data_dir

#: Version reported by the chunkedgraph service (satisfies caveclient 8.2's checks).
CHUNKEDGRAPH_VERSION = "2.999.0"


def make_router(ctx: ServerContext) -> APIRouter:
    """Routes under ``/segmentation``."""
    router = APIRouter(prefix="/segmentation")
    cg = ctx.backend.chunkedgraph

    def stop_layer(request: Request, default: int | None = None) -> int | None:
        layer = query_int(request, "stop_layer", default)
        return None if layer is None else cg.check_layer(layer)

    def no_bounds(request: Request) -> None:
        if query_text(request, "bounds"):
            raise BadRequest("bounds: bounding boxes are not supported by this server")

    @router.get("/api/versions")
    def cg_api_versions() -> list[int]:
        return [0, 1]

    @router.get("/api/version")
    def cg_version() -> str:
        return CHUNKEDGRAPH_VERSION

    @router.get("/table/{table_id}/info")
    def cg_info(table_id: str, request: Request) -> dict[str, Any]:
        ctx.check_pcg_table(table_id)
        res = ctx.voxel_resolution
        data_dir = mesh_data_dir(ctx, ctx.own_url(request))  # its graphene_meshes: routes/meshes.py
        return {"app": {"supported_api_versions": [0, 1]}, "data_dir": data_dir, "type": "segmentation",
                "graph": {"n_layers": cg.n_layers, "chunk_size": [256, 256, 512],
                          "bounding_box": [2048, 2048, 512], "n_bits_for_layer_id": 8},
                "scales": [{"resolution": res, "key": "_".join(str(int(r)) for r in res),
                            "size": [1, 1, 1], "voxel_offset": [0, 0, 0]}],
                "mesh": "graphene_meshes", "num_channels": 1, "data_type": "uint64"}

    api = "/api/v1/table/{table_id}"

    @router.post(api + "/roots_binary")
    async def roots_binary(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        at, layer = query_timestamp(request), stop_layer(request)
        ids = binary_ids(await request.body())
        roots = await run_in_threadpool(cg.roots, ids, at, layer)
        return Response(content=roots.astype("<u8").tobytes(), media_type="application/octet-stream")

    @router.get(api + "/node/{node_id}/root")
    def node_root(table_id: str, node_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        ids = np.array([path_id(node_id, "node_id")], dtype=np.uint64)
        root = cg.roots(ids, query_timestamp(request), stop_layer(request))[0]
        return json_response({"root_id": int(root)})

    @router.post(api + "/is_latest_roots")
    async def is_latest_roots(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        at = query_timestamp(request)
        ids = body_ids(json_body(await request.body()), "node_ids")
        return json_response({"is_latest": cg.is_latest(ids, at).tolist()})

    @router.post(api + "/root_timestamps")
    async def root_timestamps(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        latest, at = query_bool(request, "latest"), query_timestamp(request)
        ids = body_ids(json_body(await request.body()), "node_ids")
        return json_response({"timestamp": cg.root_timestamps(ids, latest, at)})

    @router.post(api + "/lineage_graph_multiple")
    async def lineage_graph(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        past = query_timestamp(request, "timestamp_past", now_if_absent=False)
        future = query_timestamp(request, "timestamp_future")
        ids = body_ids(json_body(await request.body()), "root_ids")
        return json_response(await run_in_threadpool(cg.lineage_graph, ids, past, future))

    @router.get(api + "/past_id_mapping")
    async def past_id_mapping(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        past = query_timestamp(request, "timestamp_past", now_if_absent=False)
        future = query_timestamp(request, "timestamp_future")
        ids = body_ids(json_body(await request.body()), "root_ids")
        since = pd.Timestamp(0, tz="UTC") if past is None else past
        return json_response(await run_in_threadpool(cg.past_id_mapping, ids, since, future))

    @router.get(api + "/valid_nodes")
    async def valid_nodes(table_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        start = query_timestamp(request, "start_timestamp", now_if_absent=False)
        end = query_timestamp(request, "end_timestamp")
        ids = body_ids(json_body(await request.body()), "node_ids")
        return json_response({"valid_roots": cg.valid_nodes(ids, start, end)})

    @router.get(api + "/node/{root_id}/leaves")
    def leaves(table_id: str, root_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        no_bounds(request)
        layer = stop_layer(request, default=1)
        return json_response({"leaf_ids": cg.leaves(path_id(root_id, "root_id"), layer)})

    @router.get(api + "/node/{root_id}/lvl2_graph")
    def lvl2_graph(table_id: str, root_id: str, request: Request) -> Response:
        ctx.check_pcg_table(table_id)
        no_bounds(request)
        return json_response({"edge_graph": cg.lvl2_graph(path_id(root_id, "root_id"))})

    return router
