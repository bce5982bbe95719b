"""A FastAPI application speaking the CAVE HTTP API over a snapshot.

It answers what an unmodified ``caveclient.CAVEclient`` asks (info service,
materialization v2/v3, chunkedgraph v1, L2 cache v1, skeleton-service version endpoints),
closely enough for the calls napari-crant makes and for the common read-only calls of users.

Served materialization tables: the synapses, the nuclei and the snapshot's annotations as
``cell_annotations_v1`` (see :mod:`napari_crant.server.backend`; read it with
``CaveSource(..., annotation_source="cave:cell_annotations_v1")``).

Build one with :func:`create_app`; run it with :mod:`napari_crant.server.runner` or
``napari-crant serve``.
"""

from __future__ import annotations

import gzip
import hmac
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from napari_crant.server.backend import BackendError, SnapshotBackend, epoch_to_timestamp
from napari_crant.sources.snapshot import SnapshotSource

#: Version strings reported by the emulated services (chosen to satisfy caveclient 8.2's checks).
MATERIALIZE_VERSION = "5.13.0"
CHUNKEDGRAPH_VERSION = "2.999.0"
SKELETON_VERSION = "0.22.40"
INFO_VERSION = "4.3.1"


def _u64(values: Any) -> np.ndarray:
    return np.asarray([int(v) for v in values], dtype=np.uint64)


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BackendError(f"request body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise BackendError("request body must be a JSON object")
    return body


def _arrow_response(df: pd.DataFrame, resolution: list[float], accept_encoding: str,
                    warning: str | None = None) -> Response:
    table = pa.Table.from_pandas(df, preserve_index=False)
    options = pa.ipc.IpcWriteOptions(compression="zstd" if "zstd" in accept_encoding else None)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    headers = {"dataframe_resolution": ", ".join(str(float(r)) for r in resolution)}
    if warning:
        headers["Warning"] = warning
    return Response(content=sink.getvalue(), media_type="data.arrow", headers=headers)


def truncation_warning(n_rows: int, limit: int | None, live: bool) -> str | None:
    """The ``Warning`` header production MaterializationEngine sends with an answer cut at ``limit``.

    A version query that returns exactly ``limit`` rows says ``201 - "Limited query to N rows``;
    a live query with at least ``limit`` rows says ``result has n entries, which is equal or
    more than limit of N ...`` (the texts of MaterializationEngine's ``common.py``/``api2.py``).
    """
    if limit is None:
        return None
    if live and n_rows >= limit:
        return (f"result has {n_rows} entries, which is equal or more than limit of {limit} "
                "there may be more results which are not shown")
    if not live and n_rows == limit:
        return f'201 - "Limited query to {limit} rows'
    return None


def create_app(
    source: SnapshotSource,
    datastack: str = "kronauer_ant",
    token: str | None = None,
    row_cap: int | None = None,
    base_url: Callable[[], str] | str | None = None,
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
        truncated, as on production CAVE, which says so only in a ``Warning`` header (see
        :func:`truncation_warning`).
    base_url
        The server's own URL (or a callable returning it), written into the datastack info as
        ``local_server``; defaults to the URL of each incoming request.

    Returns
    -------
    FastAPI
    """
    backend = SnapshotBackend(source)
    app = FastAPI(title="napari-crant local CAVE", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend
    app.state.row_cap = row_cap
    pcg = backend.pcg_table
    table = backend.synapse_table

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if token is not None:
            header = request.headers.get("authorization", "")
            given = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(
                "middle_auth_token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse(
                    {"error": "unauthorized", "message": "missing or invalid token"}, status_code=401
                )
        return await call_next(request)

    @app.exception_handler(BackendError)
    async def _backend_error(request: Request, exc: BackendError):
        return JSONResponse({"error": "bad_request", "message": str(exc)}, status_code=400)

    def _check_ds(ds: str) -> None:
        if ds != datastack:
            raise _NotFound(f"datastack {ds!r} not found")

    @app.exception_handler(_NotFound)
    async def _not_found(request: Request, exc: _NotFound):
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)

    def _base(request: Request) -> str:
        if callable(base_url):
            return base_url()
        if base_url:
            return base_url
        return str(request.base_url).rstrip("/")

    # -- info service -------------------------------------------------------------------------
    @app.get("/info/version")
    def info_version():
        return INFO_VERSION

    @app.get("/info/api/v2/datastack/full/{ds}")
    def datastack_info(ds: str, request: Request):
        _check_ds(ds)
        base = _base(request)
        res = [float(x) for x in source.voxel_resolution]
        return {
            "datastack": ds, "aligned_volume": {"name": ds, "id": 1, "image_source": "",
                                                "description": "napari-crant local server"},
            "local_server": base, "segmentation_source": f"graphene://{base}/segmentation/table/{pcg}",
            "synapse_table": table, "soma_table": backend.nucleus_table, "analysis_database": None,
            "viewer_site": None, "viewer_resolution_x": res[0], "viewer_resolution_y": res[1],
            "viewer_resolution_z": res[2], "skeleton_source": None, "description": source.name,
        }

    @app.get("/info/api/v2/datastacks")
    def datastacks():
        return [datastack]

    # -- materialization ----------------------------------------------------------------------
    @app.get("/materialize/api/versions")
    def mat_api_versions():
        return [2, 3]

    @app.get("/materialize/version")
    def mat_version():
        return MATERIALIZE_VERSION

    for api in ("v2", "v3"):
        prefix = f"/materialize/api/{api}/datastack/{{ds}}"

        @app.get(prefix + "/versions")
        def versions(ds: str, expired: str = "False"):
            _check_ds(ds)
            return backend.versions(expired=expired.lower() == "true")

        @app.get(prefix + "/version/{version}")
        def version_metadata(ds: str, version: int):
            _check_ds(ds)
            return backend.version_metadata(version, ds)

        @app.get(prefix + "/metadata")
        def versions_metadata(ds: str, expired: str = "False"):
            _check_ds(ds)
            return [backend.version_metadata(v, ds) for v in backend.versions(expired.lower() == "true")]

        @app.get(prefix + "/version/{version}/tables")
        def tables(ds: str, version: int):
            _check_ds(ds)
            backend.version_timestamp(version)
            return backend.tables

        @app.get(prefix + "/version/{version}/table/{t}/metadata")
        def table_metadata(ds: str, version: int, t: str):
            _check_ds(ds)
            return backend.table_metadata(t, ds, version)

        @app.get(prefix + "/version/{version}/tables/metadata")
        def all_tables_metadata(ds: str, version: int):
            _check_ds(ds)
            return [backend.table_metadata(t, ds, version) for t in backend.tables]

        @app.get(prefix + "/version/{version}/table/{t}/count")
        def table_count(ds: str, version: int, t: str):
            _check_ds(ds)
            backend.table_metadata(t, ds, version)
            return backend.table_count(t)

        @app.post(prefix + "/version/{version}/table/{t}/query")
        async def query(ds: str, version: int, t: str, request: Request):
            _check_ds(ds)
            body = _json_body(await request.body())
            at = backend.version_timestamp(version)
            return await _run_query(request, t, at, body, body.get("select_columns"), live=False)

    @app.post("/materialize/api/v3/datastack/{ds}/query")
    async def live_live_query(ds: str, request: Request):
        _check_ds(ds)
        body = _json_body(await request.body())
        t = body.get("table")
        if not t:
            raise BackendError("live query needs 'table'")
        if body.get("join_tables"):
            raise BackendError("joins are not supported by this server")
        ts = body.get("timestamp")
        at = pd.Timestamp.now(tz="UTC") if ts in (None, "now") else pd.Timestamp(ts)
        at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
        select = body.get("select_columns")
        if isinstance(select, dict):
            select = select.get(t)
        return await _run_query(request, t, at, body, select, live=True)

    async def _run_query(request: Request, t: str, at: pd.Timestamp, body: dict[str, Any],
                         select: list[str] | None, live: bool) -> Response:
        filters = {}
        for key, value in body.items():
            if key.startswith("filter_") and value:
                if not isinstance(value, dict):
                    raise BackendError(f"{key} must be a dict")
                filters[key] = value.get(t, {}) if t in value else value
        limit = body.get("limit")
        cap = app.state.row_cap
        if cap is not None:
            limit = cap if limit is None else min(int(limit), cap)
        limit = None if limit is None else int(limit)
        df, res = await run_in_threadpool(
            backend.query_table, t, at, filters, select, limit, int(body.get("offset") or 0),
            body.get("desired_resolution"),
        )
        return _arrow_response(df, res, request.headers.get("accept-encoding", ""),
                               truncation_warning(len(df), limit, live))

    # -- chunkedgraph ---------------------------------------------------------------------------
    @app.get("/segmentation/api/versions")
    def cg_api_versions():
        return [0, 1]

    @app.get("/segmentation/api/version")
    def cg_version():
        return CHUNKEDGRAPH_VERSION

    @app.get("/segmentation/table/{table_id}/info")
    def cg_info(table_id: str):
        _check_pcg(table_id)
        res = [float(x) for x in source.voxel_resolution]
        return {"app": {"supported_api_versions": [0, 1]}, "data_dir": "", "type": "segmentation",
                "graph": {"n_layers": backend.n_layers(), "chunk_size": [256, 256, 512],
                          "bounding_box": [2048, 2048, 512], "n_bits_for_layer_id": 8},
                "scales": [{"resolution": res, "key": "_".join(str(int(r)) for r in res),
                            "size": [1, 1, 1], "voxel_offset": [0, 0, 0]}],
                "mesh": "graphene_meshes", "num_channels": 1, "data_type": "uint64"}

    def _check_pcg(table_id: str) -> None:
        if table_id != pcg:
            raise _NotFound(f"chunkedgraph table {table_id!r} not found")

    cg = "/segmentation/api/v1/table/{table_id}"

    @app.post(cg + "/roots_binary")
    async def roots_binary(table_id: str, request: Request, timestamp: float | None = None,
                           stop_layer: int | None = None):
        _check_pcg(table_id)
        ids = np.frombuffer(await request.body(), dtype="<u8")
        roots = await run_in_threadpool(backend.roots, ids, epoch_to_timestamp(timestamp), stop_layer)
        return Response(content=roots.astype("<u8").tobytes(), media_type="application/octet-stream")

    @app.get(cg + "/node/{node_id}/root")
    def node_root(table_id: str, node_id: int, timestamp: float | None = None):
        _check_pcg(table_id)
        return {"root_id": int(backend.roots(_u64([node_id]), epoch_to_timestamp(timestamp))[0])}

    @app.post(cg + "/is_latest_roots")
    async def is_latest_roots(table_id: str, request: Request, timestamp: float | None = None):
        _check_pcg(table_id)
        ids = _u64(_json_body(await request.body()).get("node_ids", []))
        return {"is_latest": [bool(x) for x in backend.is_latest(ids, epoch_to_timestamp(timestamp))]}

    @app.post(cg + "/root_timestamps")
    async def root_timestamps(table_id: str, request: Request, latest: str = "False",
                              timestamp: float | None = None):
        _check_pcg(table_id)
        ids = _u64(_json_body(await request.body()).get("node_ids", []))
        at = epoch_to_timestamp(timestamp)
        return {"timestamp": backend.root_timestamps(ids, latest.lower() == "true", at)}

    @app.post(cg + "/lineage_graph_multiple")
    async def lineage_graph(table_id: str, request: Request):
        _check_pcg(table_id)
        ids = _u64(_json_body(await request.body()).get("root_ids", []))
        q = request.query_params
        past = epoch_to_timestamp(q["timestamp_past"]) if q.get("timestamp_past") else None
        future = epoch_to_timestamp(q.get("timestamp_future"))
        return backend.lineage_graph(ids, past, future)

    @app.get(cg + "/past_id_mapping")
    async def past_id_mapping(table_id: str, request: Request):
        _check_pcg(table_id)
        ids = _u64(_json_body(await request.body()).get("root_ids", []))
        q = request.query_params
        past = epoch_to_timestamp(q.get("timestamp_past") or 0)
        future = epoch_to_timestamp(q.get("timestamp_future"))
        return backend.past_id_mapping(ids, past, future)

    @app.get(cg + "/valid_nodes")
    async def valid_nodes(table_id: str, request: Request):
        _check_pcg(table_id)
        ids = _u64(_json_body(await request.body()).get("node_ids", []))
        q = request.query_params
        start = epoch_to_timestamp(q["start_timestamp"]) if q.get("start_timestamp") else None
        end = epoch_to_timestamp(q.get("end_timestamp"))
        return {"valid_roots": backend.valid_nodes(ids, start, end)}

    @app.get(cg + "/node/{root_id}/leaves")
    def leaves(table_id: str, root_id: int, stop_layer: int = 1, bounds: str | None = None):
        _check_pcg(table_id)
        if bounds:
            raise BackendError("bounds are not supported by this server")
        return {"leaf_ids": backend.leaves(root_id, stop_layer)}

    @app.get(cg + "/node/{root_id}/lvl2_graph")
    def lvl2_graph(table_id: str, root_id: int, bounds: str | None = None):
        _check_pcg(table_id)
        if bounds:
            raise BackendError("bounds are not supported by this server")
        return {"edge_graph": backend.lvl2_graph(root_id)}

    # -- L2 cache ---------------------------------------------------------------------------------
    @app.get("/l2cache/api/v1/table_mapping")
    def table_mapping():
        return {pcg: {"l2cache_id": f"{pcg}_l2", "cv_path": f"graphene://local/{pcg}"}}

    @app.get("/l2cache/api/v1/attribute_metadata")
    def attribute_metadata():
        return {"rep_coord_nm": "list", "max_dt_nm": "float", "size_nm3": "float"}

    @app.post("/l2cache/api/v1/table/{table_id}/attributes")
    async def l2_attributes(table_id: str, request: Request, attribute_names: str | None = None):
        _check_pcg(table_id)
        ids = _json_body(await request.body()).get("l2_ids", [])
        names = attribute_names.split(",") if attribute_names else None
        return await run_in_threadpool(backend.l2_attributes, ids, names)

    # -- skeleton service (napari-crant's L2 skeletons) ------------------------------------------
    @app.get("/skeletoncache/api/version")
    def sk_version():
        return SKELETON_VERSION

    @app.get("/skeletoncache/api/versions")
    def sk_versions():
        return [-1, 0, 1, 2, 3, 4]

    def _skeleton_response(root_id: int, fmt: str) -> Response:
        sk = backend.skeleton(root_id)
        if fmt == "flatdict":
            body = json.dumps(sk).encode()
        elif fmt == "swccompressed":
            parent = {c: p for c, p in sk["edges"]}
            lines = [
                f"{i} {sk['compartment'][i]} {v[0]} {v[1]} {v[2]} {sk['radius'][i]} {parent.get(i, -1)}"
                for i, v in enumerate(sk["vertices"])
            ]
            body = ("\n".join(lines) + "\n").encode()
        else:
            raise BackendError(f"unsupported skeleton format {fmt!r} (flatdict, swccompressed)")
        return Response(content=gzip.compress(body), media_type="application/octet-stream")

    @app.get("/skeletoncache/api/v1/{ds}/async/get_skeleton/{version}/{root_id}/{fmt}")
    def get_skeleton_async(ds: str, version: int, root_id: int, fmt: str):
        _check_ds(ds)
        return _skeleton_response(root_id, fmt)

    @app.get("/skeletoncache/api/v1/{ds}/precomputed/skeleton/{version}/{root_id}/{fmt}")
    def get_skeleton(ds: str, version: int, root_id: int, fmt: str):
        _check_ds(ds)
        return _skeleton_response(root_id, fmt)

    return app


class _NotFound(LookupError):
    """An unknown datastack or chunkedgraph table."""
