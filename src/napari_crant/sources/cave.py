"""The CAVE source: CRANTb (or any CAVE datastack) over the network through caveclient.

:class:`CaveSource` answers the :class:`~napari_crant.sources.base.DataSource` questions with an
unmodified ``caveclient.CAVEclient``:

- materialization version ``v``: ``query_table(..., materialization_version=v)``;
  a timestamp (``'live'``): ``live_live_query(table, timestamp)``;
- root status: chunkedgraph ``is_valid_nodes``, ``is_latest_roots`` and ``get_root_timestamps``;
- roots of supervoxels / L2 chunks: ``get_roots(ids, timestamp=...)``;
- L2 chunks of a root: ``get_leaves(root, stop_layer=2)``; L2 graph: ``level2_chunk_graph``;
- L2 attributes: ``l2cache.get_l2data(..., attributes=["rep_coord_nm", "max_dt_nm", "size_nm3"])``.

Large synapse queries are sent in batches of IDs and are never silently truncated: CAVE caps
the rows of one query (about 200,000 on production) and signals it only by returning exactly
that many rows, so the source tracks what it knows about the server's cap and splits the ID
batch, or pages with ``offset``, until every row is in (see :meth:`CaveSource._query_all`).

Annotations can come from a local file or snapshot, or from a CAVE table
(``annotation_source="cave:<table_name>"``, see :class:`CaveDatasetConfig`).

Tokens are handled only by caveclient (``~/.cloudvolume/secrets``) or passed explicitly as
``auth_token``; they are never logged, printed or put into exception messages.

Datasets ``"latest"`` (datastack ``kronauer_ant``) and ``"sandbox"`` (``kronauer_ant_sandbox``)
live at ``https://proofreading.zetta.ai``; more servers can be added with
:func:`register_cave_dataset` or the environment variable ``NAPARI_CRANT_CAVE_SERVERS`` (JSON: a
list of objects, or an object mapping names to objects, with the fields of
:class:`CaveDatasetConfig`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_crant.materialization import Materialization
from napari_crant.sources.base import SYNAPSE_COLUMNS, DataSource

ENV_SERVERS = "NAPARI_CRANT_CAVE_SERVERS"
CRANT_SERVER = "https://proofreading.zetta.ai"
_POSITIONS = tuple(f"{p}_pt_position_{a}" for p in ("pre", "post", "ctr") for a in "xyz")


class _DropBetaWarning(logging.Filter):
    """Drop caveclient's "Deprecation: ... beta testing" warning logged on every live_live_query."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "facilitate beta testing" not in str(record.msg)


_beta_filter = _DropBetaWarning()


# -- errors --------------------------------------------------------------------------------------
class CaveError(RuntimeError):
    """A CAVE request failed; the message says which service and why (never the token)."""


class CaveAuthError(CaveError):
    """The CAVE server rejected the request for lack of a valid token."""


class CaveConnectionError(CaveError):
    """The CAVE server could not be reached or did not answer in time."""


class CaveServerError(CaveError):
    """The CAVE server answered with an error (HTTP 5xx) or with something unreadable."""


# -- configuration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaveDatasetConfig:
    """Where and how to reach one CAVE dataset.

    Parameters
    ----------
    name
        Dataset name used with ``dataset=`` in napari-crant.
    server_address
        Base URL of the CAVE deployment (e.g. ``https://proofreading.zetta.ai``).
    datastack
        CAVE datastack name.
    synapse_table
        Materialization table holding the synapses.
    annotation_source
        Where :meth:`CaveSource.annotations` reads from: ``None`` (no annotations), a Parquet or
        CSV file, a snapshot directory (its ``annotations.parquet``), or ``"cave:<table_name>"``:
        a materialization table of this datastack, read whole (paged, never truncated) at the
        latest valid version and re-read after :data:`ANNOTATION_CACHE_S` seconds. Its
        ``pt_root_id`` becomes ``root_id`` (the root at that version, so it can differ from a
        root ID recorded elsewhere), ``pt_supervoxel_id`` becomes ``supervoxel_id``,
        ``pt_position`` becomes ``x, y, z`` in nm, and the other columns (the CRANTb fields)
        are kept; list-valued fields (``status``, ``alternative_names``) stored as comma-joined
        (or JSON) strings become lists.
    nucleus_table
        Optional materialization table of nuclei (``pt_supervoxel_id``, ``pt_position``).
    row_cap
        Rows the server returns at most per query, if known (used as the query limit). ``None``:
        unknown; the source then verifies any result that could have been capped.
    timeout
        Seconds to wait for any single HTTP response.
    retries
        Extra attempts after an HTTP 5xx or a refused connection (with exponential backoff),
        on top of caveclient's own retries of 502/503/504.
    id_batch
        Root IDs per materialization query.
    """

    name: str
    server_address: str
    datastack: str
    synapse_table: str = "synapses_v2"
    annotation_source: str | None = None
    nucleus_table: str | None = None
    row_cap: int | None = None
    timeout: float = 120.0
    retries: int = 2
    id_batch: int = 1000


_BUILTIN: dict[str, CaveDatasetConfig] = {
    "latest": CaveDatasetConfig("latest", CRANT_SERVER, "kronauer_ant", row_cap=200_000),
    "sandbox": CaveDatasetConfig("sandbox", CRANT_SERVER, "kronauer_ant_sandbox", row_cap=200_000),
}
_registered: dict[str, CaveDatasetConfig] = {}
_registered_tokens: dict[str, str] = {}  # explicit tokens of registered datasets (memory only)
_reg_lock = threading.Lock()


def register_cave_dataset(
    name: str,
    server_address: str,
    datastack: str,
    synapse_table: str = "synapses_v2",
    annotation_source: str | os.PathLike | None = None,
    **options: Any,
) -> CaveDatasetConfig:
    """Make ``name`` a CAVE dataset usable as ``dataset=name`` everywhere.

    Parameters
    ----------
    name
        Dataset name.
    server_address, datastack, synapse_table, annotation_source
        See :class:`CaveDatasetConfig`.
    **options
        Further :class:`CaveDatasetConfig` fields (``row_cap``, ``timeout``, ``retries``,
        ``id_batch``, ``nucleus_table``) and ``auth_token`` (kept in memory only).

    Returns
    -------
    CaveDatasetConfig
    """
    from napari_crant.datasets import register_dataset

    token = options.pop("auth_token", None)
    cfg = CaveDatasetConfig(
        name=name, server_address=server_address.rstrip("/"), datastack=datastack,
        synapse_table=synapse_table,
        annotation_source=None if annotation_source is None else str(annotation_source), **options,
    )
    with _reg_lock:
        _registered[name] = cfg
        if token:
            _registered_tokens[name] = token
        else:
            _registered_tokens.pop(name, None)
    register_dataset(name, partial(CaveSource, cfg, auth_token=token))
    return cfg


def parse_cave_servers(raw: str, where: str) -> list[dict[str, Any]]:
    """Parse and check a JSON list of CAVE servers (the ``NAPARI_CRANT_CAVE_SERVERS`` format).

    ``raw`` is ``{"name": {"server_address": ..., "datastack": ..., ...}}`` or a list of
    entries that each carry their ``name``; fields are those of :class:`CaveDatasetConfig`.

    Parameters
    ----------
    raw
        The JSON text.
    where
        Where it came from, for error messages.

    Returns
    -------
    list of dict
        One dict of :class:`CaveDatasetConfig` fields per server (with ``name``).

    Raises
    ------
    CaveError
        Naming ``where``, the server and what is wrong.
    """
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CaveError(f"{where} is not valid JSON: {e}") from None
    if isinstance(data, dict):
        items = [dict(v, name=k) if isinstance(v, dict) else (k, v) for k, v in data.items()]
    elif isinstance(data, list):
        items = list(data)
    else:
        raise CaveError(f'{where} must be an object {{"name": {{...}}}} or a list of entries')
    fields = set(CaveDatasetConfig.__dataclass_fields__)
    for item in items:
        if not isinstance(item, dict):
            label = item[0] if isinstance(item, tuple) else item
            raise CaveError(f"{where}: CAVE server {label!r} must be an object")
        missing = {"name", "server_address", "datastack"} - set(item)
        if missing:
            raise CaveError(
                f"{where}: CAVE server {item.get('name', '?')!r} lacks {', '.join(sorted(missing))} "
                "(each entry needs name, server_address and datastack)")
        unknown = set(item) - fields
        if unknown:
            raise CaveError(f"{where}: CAVE server {item['name']!r} has unknown field(s) {sorted(unknown)}")
    return items


def _env_configs() -> dict[str, CaveDatasetConfig]:
    raw = os.environ.get(ENV_SERVERS, "").strip()
    if not raw:
        return {}
    return {item["name"]: CaveDatasetConfig(**item) for item in parse_cave_servers(raw, ENV_SERVERS)}


def cave_dataset_config(name: str) -> CaveDatasetConfig:
    """The configuration of CAVE dataset ``name`` (registered, from the environment, or built in)."""
    with _reg_lock:
        if name in _registered:
            return _registered[name]
    env = _env_configs()
    if name in env:
        return env[name]
    if name in _BUILTIN:
        return _BUILTIN[name]
    known = sorted({*_BUILTIN, *env, *_registered})
    raise CaveError(f"unknown CAVE dataset {name!r} (known: {', '.join(known)})")


def cave_dataset_names() -> list[str]:
    """Names of all configured CAVE datasets."""
    with _reg_lock:
        reg = set(_registered)
    return sorted({*_BUILTIN, *_env_configs(), *reg})


def open_cave_dataset(name: str, auth_token: str | None = None, **overrides: Any) -> CaveSource:
    """Open CAVE dataset ``name`` (``"latest"``, ``"sandbox"`` or a registered one).

    Parameters
    ----------
    name
        Dataset name.
    auth_token
        Token to use instead of the one caveclient finds in ``~/.cloudvolume/secrets``.
    **overrides
        :class:`CaveDatasetConfig` fields to change (e.g. ``timeout``).

    Returns
    -------
    CaveSource
    """
    cfg = cave_dataset_config(name)
    if auth_token is None:
        with _reg_lock:
            auth_token = _registered_tokens.get(name)
    if overrides:
        cfg = replace(cfg, **overrides)
    return CaveSource(cfg, auth_token=auth_token)


# -- calling caveclient safely ---------------------------------------------------------------------
def _status_of(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def _is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is (or wraps, as urllib3's retry exhaustion does) a timeout."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

    seen = 0
    stack: list[Any] = [exc]
    while stack and seen < 20:
        e = stack.pop()
        seen += 1
        if isinstance(e, NewConnectionError):  # a refused connection (urllib3 subclasses it oddly)
            continue
        if isinstance(e, requests.Timeout | ReadTimeoutError | ConnectTimeoutError | TimeoutError):
            return True
        if isinstance(e, BaseException):
            stack += [a for a in e.args if isinstance(a, BaseException)]
            reason = getattr(e, "reason", None)
            if isinstance(reason, BaseException):
                stack.append(reason)
    return False


def _token_help(server: str) -> str:
    return (
        f"To get a token for {server}: in Python run\n"
        "    from caveclient import CAVEclient\n"
        f"    client = CAVEclient(server_address={server!r})\n"
        "    client.auth.get_new_token()   # opens a browser page showing a new token\n"
        "    client.auth.save_token(token='PASTE-TOKEN-HERE', overwrite=True)\n"
        "or pass auth_token=... when opening the dataset."
    )


#: Seconds an annotation table read from CAVE (``annotation_source="cave:..."``) is reused.
ANNOTATION_CACHE_S = 300.0
#: Prefix of ``annotation_source`` naming a CAVE materialization table.
CAVE_TABLE_PREFIX = "cave:"

#: Seconds after which what was learnt about a server's row cap is forgotten and re-learnt.
CAP_MEMORY_S = 900.0


@dataclass
class _CapState:
    """What is known about the server's row cap (rows returned per query at most).

    Knowledge assumes the cap does not change; it is forgotten after :data:`CAP_MEMORY_S`.
    """

    exact: int | None = None
    at_least: int = 0
    since: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire(self) -> None:
        """Forget stale knowledge (call with ``lock`` held)."""
        if time.monotonic() - self.since > CAP_MEMORY_S:
            self.exact, self.at_least, self.since = None, 0, time.monotonic()


class CaveSource(DataSource):
    """A :class:`~napari_crant.sources.base.DataSource` over a CAVE deployment.

    Parameters
    ----------
    config
        Which server, datastack and tables (see :class:`CaveDatasetConfig`).
    auth_token
        Explicit token; by default caveclient reads the saved one.
    client
        An existing ``CAVEclient`` to use instead of building one.
    """

    def __init__(self, config: CaveDatasetConfig, auth_token: str | None = None, client: Any = None):
        self.config = config
        self.name = config.name
        self._token = auth_token
        self._client = client
        self._lock = threading.RLock()
        self._cap = _CapState(exact=None)
        self._versions_cache: tuple[float, pd.DataFrame] | None = None
        self._resolution: np.ndarray | None = None
        self._annotations_df: pd.DataFrame | None = None
        self._annotations_at = 0.0
        if _beta_filter not in logging.getLogger().filters:
            logging.getLogger().addFilter(_beta_filter)

    def __repr__(self) -> str:
        return f"CaveSource({self.name!r}, {self.config.server_address}, {self.config.datastack})"

    # -- plumbing ---------------------------------------------------------------------------------
    def _secret(self) -> str | None:
        """The token in use (explicit, or the one caveclient found); never shown to anyone."""
        if self._token:
            return self._token
        try:
            if self._client is not None:
                return self._client.auth.token
            from caveclient.auth import AuthClient

            return AuthClient(server_address=self.config.server_address).token
        except Exception:
            return None

    def _redact(self, text: str) -> str:
        secret = self._secret()
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
        return text[:1500]

    def _run(self, what: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` (which talks to CAVE) with a deadline, retries and clear errors."""
        cfg = self.config
        attempt = 0
        while True:
            try:
                return self._with_deadline(what, fn)
            except CaveError:
                raise
            except Exception as exc:
                err = self._translate(what, exc)
                transient = (isinstance(err, CaveServerError) and (_status_of(exc) or 0) >= 500) or (
                    isinstance(err, CaveConnectionError) and not getattr(err, "timed_out", False))
                if transient and attempt < cfg.retries:
                    time.sleep(0.5 * 2**attempt)
                    attempt += 1
                    continue
                raise err from None

    def _with_deadline(self, what: str, fn: Callable[[], Any]) -> Any:
        # Per-socket timeouts are set on caveclient's sessions; this is the backstop for the
        # few requests caveclient makes outside them (API-version probes at client set-up).
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as e:
                box["error"] = e

        t = threading.Thread(target=target, name=f"cave-{what}", daemon=True)
        t.start()
        t.join(self.config.timeout * 4 + 5)
        if t.is_alive():
            err = CaveConnectionError(
                f"{self.name}: no answer from {self.config.server_address} for {what} "
                f"within {self.config.timeout * 4 + 5:.0f} s"
            )
            err.timed_out = True  # type: ignore[attr-defined]
            raise err
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _translate(self, what: str, exc: BaseException) -> CaveError:
        import requests

        server = self.config.server_address
        status = _status_of(exc)
        where = f"{self.name} ({server}, datastack {self.config.datastack})"
        auth_exc = type(exc).__name__ == "AuthException"
        if status in (401, 403) or auth_exc:
            reason = "no token was found" if not self._secret() else "the token was rejected"
            if status == 403:
                reason += " (or the terms of service of this server have not been accepted yet)"
            return CaveAuthError(
                f"{where}: {what} refused (HTTP {status or 'redirect to login'}): {reason}.\n"
                + _token_help(server)
            )
        if _is_timeout(exc):
            err = CaveConnectionError(
                f"{where}: {what} timed out after {self.config.timeout:g} s (server slow or unreachable)")
            err.timed_out = True  # type: ignore[attr-defined]
            return err
        if isinstance(exc, requests.ConnectionError):
            return CaveConnectionError(
                f"{where}: cannot connect for {what} ({type(exc).__name__}); check the address and "
                "your network")
        if status is not None and status >= 500:
            return CaveServerError(
                f"{where}: server error HTTP {status} during {what} (after retries): "
                + self._redact(str(exc)))
        if status is not None:
            return CaveError(f"{where}: HTTP {status} during {what}: " + self._redact(str(exc)))
        return CaveServerError(
            f"{where}: unreadable or unexpected answer during {what} ({type(exc).__name__}: "
            + self._redact(str(exc)) + ")")

    @property
    def client(self) -> Any:
        """The ``CAVEclient`` (built on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._run("connecting", self._build_client)
            return self._client

    def _build_client(self) -> Any:
        from caveclient import CAVEclient

        kwargs: dict[str, Any] = {"server_address": self.config.server_address, "write_server_cache": False}
        if self._token:
            kwargs["auth_token"] = self._token
        client = CAVEclient(self.config.datastack, **kwargs)
        self._patch_timeout(client.info.session)
        return client

    def _patch_timeout(self, session: Any) -> None:
        if getattr(session, "_napari_crant_timeout", False):
            return
        request = session.request
        timeout = self.config.timeout

        def with_timeout(method: str, url: str, **kw: Any) -> Any:
            kw.setdefault("timeout", timeout)
            return request(method, url, **kw)

        session.request = with_timeout
        session._napari_crant_timeout = True

    def _service(self, name: str) -> Any:
        """A caveclient sub-client (``materialize``, ``chunkedgraph``, ``l2cache``) with timeouts."""
        client = self.client
        svc = self._run(f"connecting to {name}", lambda: getattr(client, name))
        self._patch_timeout(svc.session)
        return svc

    @property
    def _mat(self) -> Any:
        return self._service("materialize")

    @property
    def _cg(self) -> Any:
        return self._service("chunkedgraph")

    # -- DataSource basics ------------------------------------------------------------------------
    @property
    def cache_key(self) -> str:
        key = f"cave:{self.config.server_address}:{self.config.datastack}:{self.config.synapse_table}"
        # answers that use annotations (update_ids, layers) depend on where they come from
        ann = self.config.annotation_source
        return f"{key}:annotations={ann}" if ann else key

    @property
    def voxel_resolution(self) -> np.ndarray:
        if self._resolution is None:
            mat = self._mat
            md = self._run("table metadata", lambda: mat.get_table_metadata(
                self.config.synapse_table, log_warning=False))
            res = md.get("voxel_resolution")
            if not res or any(r is None for r in res):
                raise CaveServerError(
                    f"{self.name}: table {self.config.synapse_table!r} has no voxel resolution")
            self._resolution = np.asarray(res, dtype=np.float64)
        return self._resolution.copy()

    def versions(self) -> pd.DataFrame:
        with self._lock:
            if self._versions_cache is not None and time.monotonic() - self._versions_cache[0] < 300:
                return self._versions_cache[1].copy()
        mat = self._mat
        fn = getattr(type(mat).get_versions_metadata, "__wrapped__", None)  # bypass caveclient's 12 h cache
        meta = self._run("listing versions", (lambda: fn(mat, expired=True)) if fn else (
            lambda: mat.get_versions_metadata(expired=True)))
        if not isinstance(meta, list):
            raise CaveServerError(f"{self.name}: malformed version list from the server")
        now = pd.Timestamp.now(tz="UTC")
        rows = []
        for m in meta:
            expires = m.get("expires_on")
            expired = expires is not None and pd.Timestamp(expires) < now
            rows.append({"version": int(m["version"]), "timestamp": pd.Timestamp(m["time_stamp"]),
                         "valid": bool(m.get("valid", True)) and not expired})
        df = pd.DataFrame(rows, columns=["version", "timestamp", "valid"])
        df["version"] = df["version"].astype(np.int64)
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[us, UTC]")
        df["valid"] = df["valid"].astype(bool)
        df = df.sort_values("version").reset_index(drop=True)
        with self._lock:
            self._versions_cache = (time.monotonic(), df)
        return df.copy()

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "source": "cave", "server": self.config.server_address,
                "datastack": self.config.datastack, "synapse_table": self.config.synapse_table}

    # -- chunkedgraph -----------------------------------------------------------------------------
    @staticmethod
    def _py(ts: pd.Timestamp) -> Any:
        return pd.Timestamp(ts).tz_convert("UTC").to_pydatetime()

    def _known_and_created(self, ids: np.ndarray) -> tuple[np.ndarray, pd.Series]:
        """Which of ``ids`` are roots, and when each was created (NaT if not a root)."""
        ids = np.asarray(ids, dtype=np.uint64)
        created = pd.Series(pd.NaT, index=range(len(ids)), dtype="datetime64[us, UTC]")
        uniq = np.unique(ids[ids != 0])
        if not len(uniq):
            return np.zeros(len(ids), dtype=bool), created
        cg = self._cg
        valid = np.asarray(self._run("checking root IDs", lambda: cg.is_valid_nodes(uniq)), dtype=bool)
        k = uniq[valid]
        known = np.isin(ids, k)
        if len(k):
            ts = self._run("root timestamps", lambda: cg.get_root_timestamps(k, latest=False))
            if len(ts) != len(k):
                raise CaveServerError(f"{self.name}: asked for {len(k)} root timestamps, got {len(ts)}")
            by_id = pd.Series(pd.to_datetime(list(ts), utc=True).astype("datetime64[us, UTC]"), index=k)
            created[known] = by_id.reindex(ids[known]).to_numpy()
        return known, created

    def root_created(self, ids: np.ndarray) -> pd.Series:
        return self._known_and_created(ids)[1]

    def root_status(self, ids: np.ndarray, at: Materialization) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.uint64)
        known, created = self._known_and_created(ids)
        alive = np.zeros(len(ids), dtype=bool)
        k = np.unique(ids[known])
        if len(k):
            cg = self._cg
            latest = np.asarray(self._run("checking root IDs", lambda: cg.is_latest_roots(
                k, timestamp=self._py(at.timestamp))), dtype=bool)
            alive = np.isin(ids, k[latest]) & known
            alive &= (created <= at.timestamp).fillna(False).to_numpy(dtype=bool)
        return known, alive

    def _get_roots(self, node_ids: np.ndarray, at: Materialization | None, stop_layer: int | None = None
                   ) -> np.ndarray:
        node_ids = np.asarray(node_ids, dtype=np.uint64)
        out = np.zeros(len(node_ids), dtype=np.uint64)
        nz = node_ids != 0
        if not nz.any():
            return out
        uniq, inv = np.unique(node_ids[nz], return_inverse=True)
        cg = self._cg
        ts = self._py(at.timestamp) if at is not None else None
        parts = []
        step = 10_000
        for i in range(0, len(uniq), step):
            chunk = uniq[i:i + step]
            got = self._run("looking up roots", lambda c=chunk: cg.get_roots(c, timestamp=ts,
                                                                            stop_layer=stop_layer))
            got = np.asarray(got, dtype=np.uint64)
            if len(got) != len(chunk):
                raise CaveServerError(
                    f"{self.name}: asked for the roots of {len(chunk)} IDs, got {len(got)} answers")
            parts.append(got)
        out[nz] = np.concatenate(parts)[inv]
        return out

    def roots_of_supervoxels(self, sv_ids: np.ndarray, at: Materialization) -> np.ndarray:
        return self._get_roots(sv_ids, at)

    def l2_of_supervoxels(self, sv_ids: np.ndarray) -> np.ndarray:
        return self._get_roots(sv_ids, None, stop_layer=2)

    def roots_of_l2(self, l2_ids: np.ndarray, at: Materialization) -> np.ndarray:
        return self._get_roots(l2_ids, at)

    def l2_ids(self, root_id: int) -> np.ndarray:
        cg = self._cg
        leaves = self._run("listing L2 chunks", lambda: cg.get_leaves(int(root_id), stop_layer=2))
        return np.sort(np.asarray(leaves).astype(np.uint64))

    def l2_graph(self, root_id: int) -> np.ndarray:
        cg = self._cg
        edges = self._run("fetching the L2 graph", lambda: cg.level2_chunk_graph(int(root_id)))
        arr = np.asarray(edges, dtype=np.uint64)
        return arr.reshape(-1, 2) if arr.size else np.zeros((0, 2), dtype=np.uint64)

    def l2_attributes(self, l2_ids: np.ndarray) -> pd.DataFrame:
        l2_ids = np.asarray(l2_ids, dtype=np.uint64)
        l2c = self._service("l2cache")
        found: dict[int, dict[str, Any]] = {}
        uniq = np.unique(l2_ids)
        for i in range(0, len(uniq), 5000):
            chunk = [int(x) for x in uniq[i:i + 5000]]
            data = self._run("fetching L2 attributes", lambda c=chunk: l2c.get_l2data(
                c, attributes=["rep_coord_nm", "max_dt_nm", "size_nm3"]))
            if not isinstance(data, dict):
                raise CaveServerError(f"{self.name}: malformed L2 cache answer")
            for k, v in data.items():
                if v and "rep_coord_nm" in v:
                    found[int(k)] = v
        keep = np.array([int(x) in found for x in l2_ids], dtype=bool)
        ids = l2_ids[keep]
        recs = [found[int(x)] for x in ids]
        xyz = np.array([r["rep_coord_nm"] for r in recs], dtype=np.float64).reshape(-1, 3)
        return pd.DataFrame({
            "l2_id": ids,
            "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
            "max_dt_nm": np.array([r.get("max_dt_nm", np.nan) for r in recs], dtype=np.float64),
            "size_nm3": np.array([r.get("size_nm3", np.nan) for r in recs], dtype=np.float64),
        })

    def lineage_graph(self, root_ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The full edit history around ``root_ids`` from the chunkedgraph.

        Returns
        -------
        (nodes, links)
            ``nodes``: ``root_id, created, operation_id`` (0 for roots not made by an edit);
            ``links``: ``parent_root_id, child_root_id``.
        """
        cg = self._cg
        ids = [int(x) for x in np.unique(np.asarray(root_ids, dtype=np.uint64))]
        graph = self._run("fetching lineage", lambda: cg.get_lineage_graph(ids))
        if not isinstance(graph, dict) or "nodes" not in graph or "links" not in graph:
            raise CaveServerError(f"{self.name}: malformed lineage graph")
        nodes = pd.DataFrame({
            "root_id": np.array([int(n["id"]) for n in graph["nodes"]], dtype=np.uint64),
            "created": pd.to_datetime([float(n["timestamp"]) for n in graph["nodes"]], unit="s", utc=True),
            "operation_id": np.array([int(n.get("operation_id") or 0) for n in graph["nodes"]], np.int64),
        })
        nodes["created"] = nodes["created"].dt.round("us").astype("datetime64[us, UTC]")
        links = pd.DataFrame({
            "parent_root_id": np.array([int(ln["source"]) for ln in graph["links"]], dtype=np.uint64),
            "child_root_id": np.array([int(ln["target"]) for ln in graph["links"]], dtype=np.uint64),
        })
        return nodes, links

    # -- materialization --------------------------------------------------------------------------
    def _query_page(self, table: str, filters: dict[str, list[int]], at: Materialization,
                    limit: int, offset: int) -> pd.DataFrame:
        mat = self._mat
        if at.version is not None:
            def call() -> pd.DataFrame:
                return mat.query_table(
                    table, filter_in_dict=filters, materialization_version=at.version,
                    split_positions=True, limit=limit, offset=offset or None, metadata=False,
                    merge_reference=False, desired_resolution=None, log_warning=False)
        else:
            ts = self._py(at.timestamp)

            def call() -> pd.DataFrame:
                return mat.live_live_query(
                    table, ts, filter_in_dict={table: filters}, split_positions=True, limit=limit,
                    offset=offset or None, metadata=False, desired_resolution=None, log_warning=False)
        df = self._run(f"querying {table}", call)
        if not isinstance(df, pd.DataFrame):
            raise CaveServerError(f"{self.name}: query of {table!r} did not return a table")
        return df

    def reset_row_cap(self) -> None:
        """Forget what was learnt about the server's row cap (e.g. after the server changed it)."""
        with self._cap.lock:
            self._cap.exact, self._cap.at_least, self._cap.since = None, 0, time.monotonic()

    def _limit(self) -> int:
        with self._cap.lock:
            self._cap.expire()
            if self._cap.exact is not None:
                return self._cap.exact
        return int(self.config.row_cap or 200_000)

    def _complete(self, n: int, limit: int) -> bool | None:
        """Whether a response of ``n`` rows (asked with ``limit``) is surely complete (None: unsure)."""
        if n == 0:
            return True
        if n >= limit:
            return False
        with self._cap.lock:
            if self._cap.exact is not None or n < self._cap.at_least:
                return True
        return None

    def _query_all(self, table: str, col: str, ids: np.ndarray, extra: dict[str, list[int]],
                   at: Materialization) -> list[pd.DataFrame]:
        """Every row with ``col`` in ``ids`` (and the ``extra`` filters), however the server caps.

        A response with as many rows as the limit may be truncated: the ID batch is split in
        two and both halves are queried again; a single ID is paged with ``offset``. A response
        with fewer rows but not fewer than any complete response seen so far could still be
        capped by a smaller server limit: one extra row is asked for at its end to decide, and
        the cap learnt from that is used from then on.
        """
        out: list[pd.DataFrame] = []
        stack = [ids[i:i + self.config.id_batch] for i in range(0, len(ids), self.config.id_batch)][::-1]
        while stack:
            batch = stack.pop()
            filters = {col: [int(x) for x in batch], **extra}
            limit = self._limit()
            df = self._query_page(table, filters, at, limit, 0)
            n = len(df)
            done = self._complete(n, limit)
            if done is None:
                probe = self._query_page(table, filters, at, 1, n)
                if len(probe):
                    with self._cap.lock:
                        self._cap.exact = n
                    done = False
                else:
                    with self._cap.lock:
                        self._cap.at_least = max(self._cap.at_least, n)
                    done = True
            if done:
                out.append(df)
                continue
            if len(batch) > 1:
                half = len(batch) // 2
                stack += [batch[half:], batch[:half]]
                continue
            pages, offset = [df], n
            while True:
                limit = self._limit()
                page = self._query_page(table, filters, at, limit, offset)
                pages.append(page)
                offset += len(page)
                if not len(page) or len(page) < limit:
                    break
            full = pd.concat(pages, ignore_index=True)
            if "id" in full and full["id"].duplicated().any():
                raise CaveServerError(
                    f"{self.name}: paging through {table!r} returned overlapping pages (unstable order); "
                    "lower id_batch or ask the server administrators")
            out.append(full)
        return out

    def synapses(self, pre_ids: np.ndarray | None, post_ids: np.ndarray | None,
                 at: Materialization, positions: bool = True) -> pd.DataFrame:
        df = self._synapses(pre_ids, post_ids, at)
        if not positions:
            df = df.drop(columns=[c for c in SYNAPSE_COLUMNS if "_position_" in c])
        return df

    def _synapses(self, pre_ids: np.ndarray | None, post_ids: np.ndarray | None,
                  at: Materialization) -> pd.DataFrame:
        if pre_ids is None and post_ids is None:
            raise ValueError("give pre_ids, post_ids or both")
        pre = None if pre_ids is None else np.unique(np.asarray(pre_ids, dtype=np.uint64))
        post = None if post_ids is None else np.unique(np.asarray(post_ids, dtype=np.uint64))
        if pre is not None and (post is None or len(pre) <= len(post)):
            col, ids, other, other_col = "pre_pt_root_id", pre, post, "post_pt_root_id"
        else:
            col, ids, other, other_col = "post_pt_root_id", post, pre, "pre_pt_root_id"
        extra = {}
        if other is not None and len(other) <= self.config.id_batch:
            extra[other_col] = [int(x) for x in other]
        parts = self._query_all(self.config.synapse_table, col, ids, extra, at) if len(ids) else []
        df = self._synapse_frame(parts)
        keep = np.ones(len(df), dtype=bool)
        if pre is not None:
            keep &= np.isin(df["pre_pt_root_id"].to_numpy(), pre)
        if post is not None:
            keep &= np.isin(df["post_pt_root_id"].to_numpy(), post)
        df = df[keep].drop_duplicates("id")
        return df.sort_values("id", kind="stable").reset_index(drop=True)

    def _synapse_frame(self, parts: list[pd.DataFrame]) -> pd.DataFrame:
        parts = [p for p in parts if len(p)]
        res = self.voxel_resolution
        if not parts:
            data: dict[str, Any] = {c: np.array([], np.uint64) for c in SYNAPSE_COLUMNS[:5]}
            data["size"] = np.array([], np.int64)
            data.update({c: np.array([], np.float64) for c in _POSITIONS})
            return pd.DataFrame(data, columns=list(SYNAPSE_COLUMNS))
        raw = pd.concat(parts, ignore_index=True)
        missing = [c for c in SYNAPSE_COLUMNS if c not in raw.columns]
        if missing:
            raise CaveServerError(f"{self.name}: synapse table answer lacks column(s) {missing}")
        out: dict[str, Any] = {}
        for c in SYNAPSE_COLUMNS[:5]:
            out[c] = _to_uint64(raw[c], c)
        out["size"] = raw["size"].to_numpy().astype(np.int64)
        for c in _POSITIONS:
            out[c] = raw[c].to_numpy().astype(np.float64) * res["xyz".index(c[-1])]
        return pd.DataFrame(out, columns=list(SYNAPSE_COLUMNS))

    # -- annotations and nuclei ---------------------------------------------------------------------
    def annotations(self) -> pd.DataFrame:
        """The annotation table (see ``annotation_source`` in :class:`CaveDatasetConfig`).

        From a CAVE table (``"cave:<table>"``): read at the latest valid version and cached for
        :data:`ANNOTATION_CACHE_S` seconds; ``root_id`` is the root at that version.
        """
        source = self.config.annotation_source
        table = _cave_table_name(source)
        with self._lock:
            fresh = table is None or time.monotonic() - self._annotations_at < ANNOTATION_CACHE_S
            if self._annotations_df is not None and fresh:
                return self._annotations_df.copy()
        df = self._annotation_table(table) if table is not None else _read_annotations(source)
        with self._lock:
            self._annotations_df, self._annotations_at = df, time.monotonic()
            return df.copy()

    def clear_annotation_cache(self) -> None:
        """Forget the cached annotation table (the next :meth:`annotations` re-reads it)."""
        with self._lock:
            self._annotations_df, self._annotations_at = None, 0.0

    def _annotation_table(self, table: str) -> pd.DataFrame:
        """Read annotation table ``table`` whole at the latest valid version and map its columns."""
        where = f"{self.name} ({self.config.server_address}, datastack {self.config.datastack})"
        versions = self.versions()
        valid = versions[versions["valid"]]
        if valid.empty:
            raise CaveError(f"{where}: no valid materialization version to read annotation table {table!r}")
        version = int(valid["version"].max())
        mat = self._mat
        tables = self._run("listing tables", lambda: mat.get_tables(version=version))
        if isinstance(tables, list) and table not in tables:
            shown = ", ".join(str(t) for t in tables[:20]) + (" ..." if len(tables) > 20 else "")
            raise CaveError(
                f"{where}: annotation table {table!r} not found at version {version} (tables: {shown})")
        what = f"querying annotation table {table!r}"

        def page(offset: int, limit: int) -> pd.DataFrame:
            df = self._run(what, lambda: mat.query_table(
                table, materialization_version=version, split_positions=True, metadata=False,
                merge_reference=False, limit=limit, offset=offset or None, desired_resolution=[1, 1, 1],
                log_warning=False))
            if not isinstance(df, pd.DataFrame):
                raise CaveServerError(f"{where}: query of annotation table {table!r} did not return a table")
            return df

        pages, offset = [], 0
        while True:  # page by offset until an answer is surely the table's end (never truncated)
            limit = self._limit()
            df = page(offset, limit)
            if len(df):
                if not pages:  # refuse a table of the wrong shape before reading all of it
                    _check_annotation_columns(df, table, where)
                pages.append(df)
            offset += len(df)
            done = self._complete(len(df), limit)
            if done is None:
                # as many rows as any complete answer so far: may be capped; one more row decides
                more = len(page(offset, 1)) > 0
                with self._cap.lock:
                    if more:
                        self._cap.exact = len(df)
                    else:
                        self._cap.at_least = max(self._cap.at_least, len(df))
                done = not more
            if done:
                break
        return _annotation_frame(pages, table, where)

    def nuclei(self) -> pd.DataFrame:
        table = self.config.nucleus_table
        if not table:
            return super().nuclei()
        mat = self._mat
        pages, offset = [], 0
        while True:  # page until an empty page: complete whatever the server's row cap
            limit = self._limit()
            page = self._run(f"querying {table}", lambda o=offset, lim=limit: mat.query_table(
                table, split_positions=True, metadata=False, merge_reference=False, limit=lim,
                offset=o or None, desired_resolution=[1, 1, 1], log_warning=False))
            if not len(page):
                break
            pages.append(page)
            offset += len(page)
        if not pages:
            return super().nuclei()
        df = pd.concat(pages, ignore_index=True).sort_values("id", kind="stable").reset_index(drop=True)
        if df["id"].duplicated().any():
            raise CaveServerError(f"{self.name}: paging through {table!r} returned overlapping pages")
        out = pd.DataFrame({
            "nucleus_id": _to_uint64(df["id"], "id"),
            "supervoxel_id": _to_uint64(df["pt_supervoxel_id"], "pt_supervoxel_id"),
            **{a: df[f"pt_position_{a}"].to_numpy(np.float64) for a in "xyz"},
        })
        if "volume" in df:
            out["volume_um3"] = df["volume"].to_numpy(np.float64)
        return out

    def config_dict(self) -> dict[str, Any]:
        """The configuration as a plain dict (no token)."""
        return asdict(self.config)


def _to_uint64(s: pd.Series, name: str) -> np.ndarray:
    if s.isna().any():
        s = s.fillna(0)
    v = s.to_numpy()
    if v.dtype.kind == "f":
        raise CaveServerError(f"column {name!r} arrived as floating point: IDs would be corrupted")
    if v.dtype.kind == "O":
        v = np.array([int(x) for x in v], dtype=np.uint64)
    return v.astype(np.uint64)


def encode_list_field(value: Any) -> str | None:
    """A list-valued annotation as one string: ``None`` stays ``None``, ``[]`` is ``""``.

    Elements are comma-joined; if any element contains a comma the list is JSON-encoded instead.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        value = [value]
    items = [str(v) for v in value]
    if any("," in v for v in items) or (items and items[0].startswith("[")):
        return json.dumps(items)
    return ",".join(items)


def decode_list_field(value: Any) -> list[str] | None:
    """Inverse of :func:`encode_list_field` (lists pass through)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    text = str(value)
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            return [str(v) for v in data]
    return text.split(",") if text else []


#: CAVE bookkeeping columns dropped from an annotation table (``pt_*`` are mapped, not dropped).
_CAVE_BOOKKEEPING = ("id", "created", "superceded_id", "valid", "deleted", "target_id")


def _cave_table_name(source: str | None) -> str | None:
    """The table of a ``"cave:<table>"`` annotation source, else ``None``."""
    if source is None or not str(source).startswith(CAVE_TABLE_PREFIX):
        return None
    table = str(source)[len(CAVE_TABLE_PREFIX):].strip()
    if not table:
        raise CaveError(f"annotation source {source!r} names no table (use 'cave:<table_name>')")
    return table


def _check_annotation_columns(df: pd.DataFrame, table: str, where: str) -> None:
    missing = [c for c in ("pt_root_id", "pt_supervoxel_id") if c not in df.columns]
    if missing:
        raise CaveError(
            f"{where}: annotation table {table!r} lacks column(s) {missing} "
            f"(has: {', '.join(map(str, df.columns))}); it needs a bound spatial point 'pt' "
            "(pt_root_id, pt_supervoxel_id)")


def _annotation_frame(pages: list[pd.DataFrame], table: str, where: str) -> pd.DataFrame:
    """CAVE rows of an annotation table as napari-crant's annotation DataFrame."""
    from napari_crant.snapshot.format import LIST_ANNOTATION_FIELDS

    raw = pd.concat(pages, ignore_index=True) if pages else pd.DataFrame()
    if not len(raw):
        return pd.DataFrame({"root_id": np.array([], np.uint64), "supervoxel_id": np.array([], np.uint64)})
    _check_annotation_columns(raw, table, where)
    if "id" in raw.columns:
        if raw["id"].duplicated().any():
            raise CaveServerError(
                f"{where}: paging through annotation table {table!r} returned overlapping pages")
        raw = raw.sort_values("id", kind="stable").reset_index(drop=True)
    if "valid" in raw.columns:
        raw = raw[raw["valid"].fillna(True).astype(bool)].reset_index(drop=True)
    try:
        out: dict[str, Any] = {"root_id": _to_uint64(raw["pt_root_id"], "pt_root_id"),
                               "supervoxel_id": _to_uint64(raw["pt_supervoxel_id"], "pt_supervoxel_id")}
    except (CaveServerError, ValueError, TypeError) as e:
        raise CaveError(f"{where}: annotation table {table!r}: bad ID column ({e})") from None
    skip = {*_CAVE_BOOKKEEPING, "root_id", "supervoxel_id", "x", "y", "z"}
    for col in raw.columns:
        if col in skip or str(col).startswith("pt_"):
            continue
        values = raw[col]
        if col in LIST_ANNOTATION_FIELDS:
            out[col] = pd.Series([decode_list_field(v) for v in values], dtype=object).to_numpy()
        elif col == "nucleus_id" and values.notna().all() and values.dtype.kind in "iu":
            out[col] = values.to_numpy().astype(np.uint64)
        else:
            out[col] = values.to_numpy()
    if all(f"pt_position_{a}" in raw.columns for a in "xyz"):
        for a in "xyz":
            # positions arrive in nm (desired_resolution 1 nm); round off float noise of the scaling
            out[a] = np.round(raw[f"pt_position_{a}"].to_numpy(np.float64), 6)
    return pd.DataFrame(out)


def _read_annotations(source: str | None) -> pd.DataFrame:
    from napari_crant.snapshot import format as fmt

    if source is None:
        return pd.DataFrame({"root_id": np.array([], np.uint64), "supervoxel_id": np.array([], np.uint64)})
    p = Path(source).expanduser()
    if p.is_dir():
        p = p / fmt.ANNOTATIONS
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix in (".csv", ".tsv"):
        df = pd.read_csv(p, sep="\t" if p.suffix == ".tsv" else ",", dtype={"root_id": "uint64"})
        return df
    raise CaveError(f"annotation source {source!r} is not a Parquet/CSV file or a snapshot directory")
