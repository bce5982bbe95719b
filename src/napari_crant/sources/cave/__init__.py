"""CAVE datasets (CRANTb on ``proofreading.zetta.ai``, or any CAVE deployment) through caveclient.

One module per concern, the way caveclient keeps one sub-client per service:

- :mod:`.config`: :class:`CaveDatasetConfig`, the built-in datasets, :func:`register_cave_dataset`,
  ``NAPARI_CRANT_CAVE_SERVERS`` and the Preferences format (:func:`parse_cave_servers`);
- :mod:`.errors`: :class:`CaveError` and its subclasses;
- :mod:`.tokens`: :class:`Secret` (a token that never shows itself) and :func:`redact`;
- :mod:`.client`: :class:`CaveConnection`, building the caveclient and the request policy
  (deadlines, retries, errors without tokens);
- :mod:`.tables`: reading materialization tables whole despite the server's row cap;
- :mod:`.source`: :class:`CaveSource`, the :class:`~napari_crant.sources.base.DataSource`
  primitives, and :func:`open_cave_dataset`;
- :mod:`.cached`, :mod:`.cache`, :mod:`.cache_codec`: the persistent on-disk cache of answers
  that never change (which primitives, the storage, the encoding);
- :mod:`.annotations`: annotation tables and list-valued fields;
- :mod:`.cli`: ``napari-crant cave-status`` and ``napari-crant cache info|clear``.
"""

from napari_crant.sources.cave.annotations import (
    ANNOTATION_CACHE_S,
    CAVE_TABLE_PREFIX,
    decode_list_field,
    encode_list_field,
)
from napari_crant.sources.cave.client import CaveConnection
from napari_crant.sources.cave.config import (
    CRANT_SERVER,
    ENV_SERVERS,
    CaveDatasetConfig,
    cave_dataset_config,
    cave_dataset_names,
    parse_cave_servers,
    register_cave_dataset,
    unregister_cave_dataset,
)
from napari_crant.sources.cave.errors import (
    CaveAuthError,
    CaveConnectionError,
    CaveError,
    CaveNotFoundError,
    CaveServerError,
    CaveServerNotice,
)
from napari_crant.sources.cave.source import CaveSource, open_cave_dataset
from napari_crant.sources.cave.tables import CAP_MEMORY_S
from napari_crant.sources.cave.tokens import Secret, redact

__all__ = [
    "ANNOTATION_CACHE_S",
    "CAP_MEMORY_S",
    "CAVE_TABLE_PREFIX",
    "CRANT_SERVER",
    "ENV_SERVERS",
    "CaveAuthError",
    "CaveConnection",
    "CaveConnectionError",
    "CaveDatasetConfig",
    "CaveError",
    "CaveNotFoundError",
    "CaveServerError",
    "CaveServerNotice",
    "CaveSource",
    "Secret",
    "cave_dataset_config",
    "cave_dataset_names",
    "decode_list_field",
    "encode_list_field",
    "open_cave_dataset",
    "parse_cave_servers",
    "redact",
    "register_cave_dataset",
    "unregister_cave_dataset",
]
