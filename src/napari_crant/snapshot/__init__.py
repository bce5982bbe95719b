"""The on-disk snapshot format: in-memory tables, the writer and the format constants."""

from napari_crant.snapshot.format import FORMAT_NAME, FORMAT_VERSION
from napari_crant.snapshot.tables import SnapshotTables
from napari_crant.snapshot.writer import write_snapshot

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SnapshotTables", "write_snapshot"]
