"""The sorted keys the synapse files look rows up in, held in memory or as memory-mapped files.

:class:`~napari_crant.snapshot.base_tables.BaseTablesWriter` keeps, for the synapse files,
every supervoxel and its L2 chunk (sorted) and every chunk's root at the layout moment: 16
bytes a supervoxel and a chunk. With a directory, :class:`KeyFiles` makes them there as
files and hands them back as read-only memory maps (file pages the kernel can drop, not
heap); without one, as arrays in memory. Either way the values are the same.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np


class AppendedArray:
    """Values appended in parts and joined into one array by :meth:`joined`.

    Parameters
    ----------
    path
        None: the parts are kept in memory and concatenated. A path: each part is appended
        to this raw file as it comes, and :meth:`joined` maps the file read-only.
    dtype
        The values' type (parts are cast to it).
    """

    def __init__(self, path: Path | None, dtype: np.dtype | type = np.uint64):
        self.path = path
        self.dtype = np.dtype(dtype)
        self._parts: list[np.ndarray] = []
        self._n = 0
        self._file = None if path is None else open(path, "wb")  # noqa: SIM115 (until joined)

    def append(self, values: np.ndarray) -> None:
        """Append ``values`` (cast to the type)."""
        if self._file is None:
            self._parts.append(np.asarray(values, dtype=self.dtype))
        else:
            np.ascontiguousarray(values, dtype=self.dtype).tofile(self._file)
        self._n += len(values)

    def joined(self) -> np.ndarray:
        """Every value appended, in order (the parts are dropped)."""
        if self._file is None:
            out = np.concatenate(self._parts) if self._parts else np.zeros(0, self.dtype)
            self._parts.clear()
            return out
        self._file.close()
        if self._n == 0:
            return np.zeros(0, self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self._n,))


class KeyFiles:
    """Where key arrays are made: in memory (``directory`` None) or as files in ``directory``.

    Parameters
    ----------
    directory
        A directory for the files (made if missing; the caller removes it once the keys
        are no longer used), or None.
    """

    def __init__(self, directory: Path | None):
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def array(self, name: str, n: int | tuple[int, ...], dtype: np.dtype | type = np.uint64
              ) -> np.ndarray:
        """A zero-filled array of ``n`` values to fill (then hand it to :meth:`filled`)."""
        if self.directory is None or np.prod(n) == 0:  # (an empty file cannot be mapped)
            return np.zeros(n, dtype)
        return np.lib.format.open_memmap(self.directory / f"{name}.npy", mode="w+",
                                         dtype=dtype, shape=(n,) if isinstance(n, int) else n)

    def filled(self, name: str, array: np.ndarray) -> np.ndarray:
        """``array`` (from :meth:`array`) once filled: itself, or its file mapped read-only."""
        if not isinstance(array, np.memmap):
            return array
        array.flush()
        return np.load(self.directory / f"{name}.npy", mmap_mode="r")

    def parts(self, name: str, dtype: np.dtype | type = np.uint64) -> AppendedArray:
        """An :class:`AppendedArray` (in memory, or appending to a file ``name`` here)."""
        return AppendedArray(None if self.directory is None else self.directory / name, dtype)


def release_pages(*arrays: object) -> None:
    """Take the pages of memory-mapped arrays out of this process's resident set.

    For every array (or view) over a file mapping, ``madvise(MADV_DONTNEED)`` on the whole
    mapping: the pages stay in the page cache (a shared mapping's data, dirty or not, is the
    file's) and are mapped again on the next access; the values do not change. Arrays in
    memory (and ``None``), copy-on-write maps (``mode="c"``, whose changes would be lost)
    are left alone, and so is everything where ``madvise`` or ``MADV_DONTNEED`` is missing
    (Windows).
    """
    if not hasattr(mmap, "MADV_DONTNEED") or not hasattr(mmap.mmap, "madvise"):
        return
    seen: set[int] = set()
    for array in arrays:
        base, shared = array, False
        while base is not None and not isinstance(base, mmap.mmap):
            # only a shared mapping keeps its data in the file: a copy-on-write one ("c")
            # would lose its changes, and a mapping numpy did not make is left alone
            if isinstance(base, np.memmap):
                shared = base.mode in ("r", "r+", "w+")
            base = getattr(base, "base", None)
        if shared and base is not None and id(base) not in seen and not base.closed:
            seen.add(id(base))
            base.madvise(mmap.MADV_DONTNEED)
