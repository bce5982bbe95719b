"""What the routers of one server share: the snapshot, its backends and the names they answer for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from napari_crant.server.backend import SnapshotBackend
from napari_crant.server.http import NotFound
from napari_crant.sources.snapshot import SnapshotSource


@dataclass(frozen=True)
class ServerContext:
    """The state every router of one application reads.

    Attributes
    ----------
    source
        The served snapshot.
    backend
        Its answers per service.
    datastack
        The datastack name the server answers for (others get 404).
    base_url
        The server's own URL, a callable returning it, or None (use each request's URL).
    """

    source: SnapshotSource
    backend: SnapshotBackend
    datastack: str
    base_url: Callable[[], str] | str | None = None

    @property
    def pcg_table(self) -> str:
        """The chunkedgraph table name."""
        return self.backend.chunkedgraph.pcg_table

    @property
    def voxel_resolution(self) -> list[float]:
        """nm per voxel of the snapshot."""
        return [float(x) for x in self.source.voxel_resolution]

    def check_datastack(self, name: str) -> None:
        """Raise :class:`NotFound` unless ``name`` is the served datastack."""
        if name != self.datastack:
            raise NotFound(f"datastack {name!r} not found (this server serves {self.datastack!r})")

    def check_pcg_table(self, name: str) -> None:
        """Raise :class:`NotFound` unless ``name`` is the served chunkedgraph table."""
        if name != self.pcg_table:
            raise NotFound(f"chunkedgraph table {name!r} not found (this server serves {self.pcg_table!r})")

    def own_url(self, request: Request) -> str:
        """The URL clients reach this server at."""
        if callable(self.base_url):
            return self.base_url()
        if self.base_url:
            return self.base_url
        return str(request.base_url).rstrip("/")
