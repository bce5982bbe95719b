"""Choosing the dataset: names, the default, the demo cache, and opened sources.

A dataset is named by one of

- ``"demo"``: the demo snapshot, built on first use into the user cache directory;
- a path to a snapshot directory;
- a name served by a family of datasets, e.g. ``"latest"`` / ``"sandbox"`` (CRANTb on CAVE);
- a name registered with :func:`register_dataset`.

This module knows names and factories, never concrete sources: source packages register
themselves when :mod:`napari_crant.sources` is imported (which ``import napari_crant`` does),
with :func:`register_directory_opener` (how a snapshot directory is opened) and
:func:`register_dataset_family` (names a source package serves, e.g. the CAVE datasets).

The default is, in order: :func:`set_default_dataset`, the ``NAPARI_CRANT_DATASET``
environment variable, ``"demo"``.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from napari_crant.sources.base import DataSource

ENV_DATASET = "NAPARI_CRANT_DATASET"
ENV_CACHE_DIR = "NAPARI_CRANT_CACHE_DIR"
DEMO_NEURONS = 1000
DEMO_SEED = 0

#: Opens a snapshot directory as a source: ``(path, name or None) -> DataSource``.
DirectoryOpener = Callable[["str | os.PathLike", "str | None"], "DataSource"]


@dataclass(frozen=True)
class DatasetFamily:
    """Dataset names a source package serves, and how to open one of them.

    Parameters
    ----------
    kind
        What the datasets are, for messages (``"CAVE"``).
    names
        Returns the names currently served (may read configuration each time).
    open
        Opens the dataset of one of those names.
    """

    kind: str
    names: Callable[[], Iterable[str]]
    open: Callable[[str], DataSource]


_default: str | None = None
_registry: dict[str, Callable[[], DataSource] | str | os.PathLike] = {}
_families: dict[str, DatasetFamily] = {}
_directory_opener: list[DirectoryOpener] = []
_open: dict[str, DataSource] = {}
_lock = threading.RLock()


class DatasetError(ValueError):
    """An unknown dataset name or an unusable dataset."""


def set_default_dataset(dataset: str | os.PathLike | None) -> None:
    """Set the dataset used when a function is called with ``dataset=None``.

    Parameters
    ----------
    dataset
        A dataset name or snapshot path; ``None`` goes back to the environment variable
        ``NAPARI_CRANT_DATASET`` or ``"demo"``.
    """
    global _default
    if dataset is not None:
        _check_name(dataset)
    _default = None if dataset is None else str(dataset)


def get_default_dataset() -> str:
    """The dataset used when none is given (see module docs for the order)."""
    return _default or os.environ.get(ENV_DATASET) or "demo"


def register_dataset(name: str, source: Callable[[], DataSource] | str | os.PathLike) -> None:
    """Make ``name`` refer to a snapshot directory or to a factory returning a source.

    Parameters
    ----------
    name
        Dataset name.
    source
        A snapshot directory, or a callable returning a
        :class:`~napari_crant.sources.base.DataSource`.
    """
    with _lock:
        _registry[name] = source
        _open.pop(name, None)


def unregister_dataset(name: str) -> None:
    """Forget ``name`` given to :func:`register_dataset` and any source opened under ``name``."""
    with _lock:
        _registry.pop(name, None)
        _open.pop(name, None)


def register_dataset_family(family: DatasetFamily) -> None:
    """Serve the names of ``family`` (replacing a family of the same ``kind``).

    Parameters
    ----------
    family
        The names and how to open them (see :class:`DatasetFamily`).
    """
    with _lock:
        _families[family.kind] = family


def register_directory_opener(opener: DirectoryOpener) -> None:
    """Set how a snapshot directory (a path, ``"demo"``, a name registered with a path) is opened.

    Parameters
    ----------
    opener
        ``opener(path, name)`` returns the source; ``name`` is ``None`` for a bare path.
    """
    with _lock:
        _directory_opener[:] = [opener]


def cache_dir() -> Path:
    """Where napari-crant keeps built datasets (``NAPARI_CRANT_CACHE_DIR`` overrides)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-crant", appauthor=False))


def demo_path(n_neurons: int = DEMO_NEURONS, seed: int = DEMO_SEED) -> Path:
    """The cache location of the demo snapshot with these parameters."""
    from napari_crant.demo.generator import DEMO_REVISION
    from napari_crant.snapshot.format import FORMAT_VERSION

    return cache_dir() / f"demo-f{FORMAT_VERSION}-r{DEMO_REVISION}-n{n_neurons}-s{seed}"


def ensure_demo(n_neurons: int = DEMO_NEURONS, seed: int = DEMO_SEED,
                announce: Callable[[str], None] | None = None) -> Path:
    """Return the demo snapshot's directory, building it first if it is not there.

    Safe to call from several processes at once: builders take a file lock, and the
    snapshot appears in place only when complete.

    Parameters
    ----------
    n_neurons, seed
        The demo's size and random seed.
    announce
        Called with a one-line message just before building (never when the demo is there).
    """
    path = demo_path(n_neurons, seed)
    if (path / "manifest.json").is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (path / "manifest.json").is_file():
                from napari_crant.demo import make_demo

                if announce is not None:
                    announce(f"building the demo dataset ({n_neurons} neurons, once) into {path}")
                make_demo(path, n_neurons=n_neurons, seed=seed, overwrite=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


def _family_of(name: str) -> DatasetFamily | None:
    with _lock:
        families = list(_families.values())
    for family in families:
        if name in family.names():
            return family
    return None


def _check_name(dataset: str | os.PathLike) -> None:
    name = str(dataset)
    if not name.strip():
        raise DatasetError(f"dataset {name!r} is empty: give a dataset name or a snapshot directory")
    if name == "demo" or name in _registry or _family_of(name) is not None:
        return
    if Path(name).expanduser().is_dir():
        return
    with _lock:
        families = list(_families.values())
    served = "".join(f"a {f.kind} dataset ({', '.join(sorted(f.names()))}), " for f in families)
    raise DatasetError(
        f"unknown dataset {name!r}: use 'demo', {served}"
        f"a registered name ({', '.join(sorted(_registry)) or 'none registered'}) or a snapshot directory"
    )


def get_source(dataset: str | os.PathLike | DataSource | None = None) -> DataSource:
    """The opened :class:`~napari_crant.sources.base.DataSource` for ``dataset``.

    Sources are opened once and reused.
    """
    from napari_crant.sources.base import DataSource

    if isinstance(dataset, DataSource):
        return dataset
    name = str(dataset) if dataset is not None else get_default_dataset()
    with _lock:
        src = _open.get(name)
        if src is not None:
            return src
        _check_name(name)
        src = _open_source(name)
        _open[name] = src
        return src


def _open_source(name: str) -> DataSource:
    if name in _registry:
        target = _registry[name]
        if callable(target):
            return target()
        return _open_directory(target, name)
    if name == "demo":
        return _open_directory(ensure_demo(), "demo")
    family = _family_of(name)
    if family is not None:
        return family.open(name)
    return _open_directory(name, None)


def _open_directory(path: str | os.PathLike, name: str | None) -> DataSource:
    with _lock:
        opener = _directory_opener[0] if _directory_opener else None
    if opener is None:
        raise DatasetError(
            f"no source can open snapshot directory {str(path)!r}: napari_crant.sources was not imported")
    return opener(path, name)


def close_datasets() -> None:
    """Forget every opened source (they are reopened on next use)."""
    with _lock:
        _open.clear()
