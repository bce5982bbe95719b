"""Which CAVE datasets exist: their configuration, the registry, the environment variable.

Datasets ``"latest"`` (datastack ``kronauer_ant``) and ``"sandbox"`` (``kronauer_ant_sandbox``)
live at ``https://proofreading.zetta.ai``; more servers can be added with
:func:`register_cave_dataset`, the environment variable ``NAPARI_CRANT_CAVE_SERVERS`` (JSON: a
list of objects, or an object mapping names to objects, with the fields of
:class:`CaveDatasetConfig`) or napari's Preferences page (same format, see
:func:`parse_cave_servers`). A token given to :func:`register_cave_dataset` is kept in memory
only, as a :class:`~napari_crant.sources.cave.tokens.Secret`.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, fields
from typing import Any

from napari_crant import datasets
from napari_crant.sources.cave.errors import CaveError
from napari_crant.sources.cave.tokens import Secret, as_secret, redact

ENV_SERVERS = "NAPARI_CRANT_CAVE_SERVERS"
CRANT_SERVER = "https://proofreading.zetta.ai"


#: CRANTb's whole-brain tissue mesh (a static precomputed mesh layer).
CRANT_BRAIN_MESH = "precomputed://gs://dkronauer-ant-001-alignment-final/tissue_mesh/mesh"


@dataclass(frozen=True, repr=False)
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
        latest valid version and re-read after
        :data:`~napari_crant.sources.cave.annotations.ANNOTATION_CACHE_S` seconds. Its
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
    brain_mesh_source
        A precomputed mesh layer holding the brain's surface (segment 1), e.g. CRANTb's
        ``precomputed://gs://dkronauer-ant-001-alignment-final/tissue_mesh/mesh``; ``None``: none.
    neuropil_mesh_source
        A precomputed mesh layer with one segment per neuropil, named in its
        ``segment_properties`` (labels); ``None``: none.
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
    brain_mesh_source: str | None = None
    neuropil_mesh_source: str | None = None

    def __repr__(self) -> str:
        # an address or path could carry credentials (``https://user:token@host``, ``?token=``)
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return redact(f"CaveDatasetConfig({args})")


_BUILTIN: dict[str, CaveDatasetConfig] = {
    "latest": CaveDatasetConfig("latest", CRANT_SERVER, "kronauer_ant", row_cap=200_000,
                                brain_mesh_source=CRANT_BRAIN_MESH),
    "sandbox": CaveDatasetConfig("sandbox", CRANT_SERVER, "kronauer_ant_sandbox", row_cap=200_000,
                                 brain_mesh_source=CRANT_BRAIN_MESH),
}
_registered: dict[str, CaveDatasetConfig] = {}
_registered_tokens: dict[str, Secret] = {}  # explicit tokens of registered datasets (memory only)
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
    token = as_secret(options.pop("auth_token", None))
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
    # the newest registration of a name wins, and a source opened under it is reopened
    datasets.unregister_dataset(name)
    return cfg


def unregister_cave_dataset(name: str) -> None:
    """Forget CAVE dataset ``name`` registered with :func:`register_cave_dataset` (and its token)."""
    with _reg_lock:
        _registered.pop(name, None)
        _registered_tokens.pop(name, None)
    datasets.unregister_dataset(name)


def registered_token(name: str) -> Secret | None:
    """The token registered with dataset ``name``, if any (still wrapped)."""
    with _reg_lock:
        return _registered_tokens.get(name)


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
    known = set(CaveDatasetConfig.__dataclass_fields__)
    for item in items:
        if not isinstance(item, dict):
            label = item[0] if isinstance(item, tuple) else item
            raise CaveError(f"{where}: CAVE server {label!r} must be an object")
        missing = {"name", "server_address", "datastack"} - set(item)
        if missing:
            raise CaveError(
                f"{where}: CAVE server {item.get('name', '?')!r} lacks {', '.join(sorted(missing))} "
                "(each entry needs name, server_address and datastack)")
        unknown = set(item) - known
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
    with _reg_lock:
        known = sorted({*_BUILTIN, *env, *_registered})
    raise CaveError(f"unknown CAVE dataset {name!r} (known: {', '.join(known)})")


def cave_dataset_names() -> list[str]:
    """Names of all configured CAVE datasets."""
    with _reg_lock:
        reg = set(_registered)
    return sorted({*_BUILTIN, *_env_configs(), *reg})
