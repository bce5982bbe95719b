"""Choosing the dataset: names, the default, the demo cache, and opened sources.

A dataset is named by one of

- ``"demo"``: the demo snapshot, built on first use into the user cache directory;
- a path to a snapshot directory;
- ``"latest"`` / ``"sandbox"``: CRANTb on CAVE (``kronauer_ant`` / ``kronauer_ant_sandbox``);
- a name registered with :func:`register_dataset`.

The default is, in order: :func:`set_default_dataset`, the ``NAPARI_CRANT_DATASET``
environment variable, ``"demo"``.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path

from napari_crant.sources.base import DataSource

ENV_DATASET = "NAPARI_CRANT_DATASET"
ENV_CACHE_DIR = "NAPARI_CRANT_CACHE_DIR"
DEMO_NEURONS = 1000
DEMO_SEED = 0
CAVE_DATASETS = ("latest", "sandbox")

_default: str | None = None
_registry: dict[str, Callable[[], DataSource] | str | os.PathLike] = {}
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
    """Make ``name`` refer to a snapshot directory or to a factory returning a source."""
    with _lock:
        _registry[name] = source
        _open.pop(name, None)


def cache_dir() -> Path:
    """Where napari-crant keeps built datasets (``NAPARI_CRANT_CACHE_DIR`` overrides)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-crant", appauthor=False))


def demo_path(n_neurons: int = DEMO_NEURONS, seed: int = DEMO_SEED) -> Path:
    """The cache location of the demo snapshot with these parameters."""
    from napari_crant.snapshot.format import FORMAT_VERSION

    return cache_dir() / f"demo-f{FORMAT_VERSION}-n{n_neurons}-s{seed}"


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


def _cave_names() -> list[str]:
    """CRANTb and user-registered CAVE datasets (from code or ``NAPARI_CRANT_CAVE_SERVERS``)."""
    try:
        from napari_crant.sources.cave import cave_dataset_names
    except ImportError:  # pragma: no cover - the CAVE source is part of the package
        return list(CAVE_DATASETS)
    return list(cave_dataset_names())


def _check_name(dataset: str | os.PathLike) -> None:
    name = str(dataset)
    if name == "demo" or name in _registry or name in _cave_names():
        return
    if Path(name).expanduser().is_dir():
        return
    raise DatasetError(
        f"unknown dataset {name!r}: use 'demo', a CAVE dataset ({', '.join(_cave_names())}), "
        f"a registered name ({', '.join(sorted(_registry)) or 'none registered'}) or a snapshot directory"
    )


def get_source(dataset: str | os.PathLike | DataSource | None = None) -> DataSource:
    """The opened :class:`~napari_crant.sources.base.DataSource` for ``dataset``.

    Sources are opened once and reused.
    """
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
    from napari_crant.sources.snapshot import SnapshotSource

    if name in _registry:
        target = _registry[name]
        if callable(target):
            return target()
        return SnapshotSource(target, name=name)
    if name == "demo":
        return SnapshotSource(ensure_demo(), name="demo")
    if name in _cave_names():
        return _open_cave(name)
    return SnapshotSource(name)


def _open_cave(name: str) -> DataSource:
    try:
        from napari_crant.sources.cave import open_cave_dataset
    except ImportError:
        raise DatasetError(
            f"dataset {name!r} (CRANTb on CAVE) is not available in this version of "
            "napari-crant yet: use 'demo' or a snapshot directory"
        ) from None
    return open_cave_dataset(name)


def close_datasets() -> None:
    """Forget every opened source (they are reopened on next use)."""
    with _lock:
        _open.clear()
