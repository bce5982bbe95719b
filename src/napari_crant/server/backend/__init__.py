"""The answers a CAVE-compatible server gives, computed from a snapshot (no HTTP here).

:class:`SnapshotBackend` holds one backend per CAVE service, as caveclient holds one sub-client
per service: :attr:`~SnapshotBackend.materialize`
(:class:`~napari_crant.server.backend.materialize.MaterializeBackend`),
:attr:`~SnapshotBackend.chunkedgraph`
(:class:`~napari_crant.server.backend.chunkedgraph.ChunkedGraphBackend`) and
:attr:`~SnapshotBackend.l2` (:class:`~napari_crant.server.backend.l2.L2Backend`: L2 cache and
skeletons). The routes in :mod:`napari_crant.server.routes` do the wire format.
"""

from __future__ import annotations

from napari_crant.server.backend.chunkedgraph import ChunkedGraphBackend
from napari_crant.server.backend.common import BackendError, UnknownTableError, cave_time_string
from napari_crant.server.backend.l2 import L2Backend
from napari_crant.server.backend.materialize import ANNOTATION_TABLE, MaterializeBackend
from napari_crant.sources.snapshot import SnapshotSource


class SnapshotBackend:
    """CAVE answers over one snapshot, one backend per service.

    Parameters
    ----------
    source
        The snapshot.
    synapse_table
        Name under which the synapse table is served (see :class:`MaterializeBackend`).
    """

    def __init__(self, source: SnapshotSource, synapse_table: str | None = None):
        self.source = source
        self.materialize = MaterializeBackend(source, synapse_table)
        self.chunkedgraph = ChunkedGraphBackend(source)
        self.l2 = L2Backend(source, self.chunkedgraph.known_roots)

    @property
    def tables(self) -> list[str]:
        """Names of the served materialization tables."""
        return self.materialize.tables

    @property
    def annotation_table(self) -> str:
        """Name under which the snapshot's annotations are served."""
        return self.materialize.annotation_table


__all__ = ["ANNOTATION_TABLE", "BackendError", "ChunkedGraphBackend", "L2Backend", "MaterializeBackend",
           "SnapshotBackend", "UnknownTableError", "cave_time_string"]
