"""Data sources behind the query core, and their registration with :mod:`napari_crant.datasets`.

Importing this package (``import napari_crant`` does) registers the built-in sources:

- snapshot directories (a path, ``"demo"``, a name registered with a path) open as
  :class:`~napari_crant.sources.snapshot.SnapshotSource`;
- the CAVE datasets (built in, registered, or from ``NAPARI_CRANT_CAVE_SERVERS``) open as
  :class:`~napari_crant.sources.cave.CaveSource`.

The factories import their source module on first use, so importing this package stays light
(napari's start-up imports it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from napari_crant import datasets

if TYPE_CHECKING:  # pragma: no cover
    from napari_crant.sources.base import DataSource


def _open_snapshot(path: str | os.PathLike, name: str | None) -> DataSource:
    from napari_crant.sources.snapshot import SnapshotSource

    return SnapshotSource(path) if name is None else SnapshotSource(path, name=name)


def _cave_names() -> list[str]:
    from napari_crant.sources.cave.config import cave_dataset_names

    return cave_dataset_names()


def _open_cave(name: str) -> DataSource:
    from napari_crant.sources.cave import open_cave_dataset

    return open_cave_dataset(name)


datasets.register_directory_opener(_open_snapshot)
datasets.register_dataset_family(datasets.DatasetFamily("CAVE", _cave_names, _open_cave))
