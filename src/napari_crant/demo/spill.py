"""Stage results parked on disk while later stages run, so they do not add to the peak.

The demo's stages hand each other dataclasses of numpy arrays (and the odd DataFrame of
numeric columns). Some fields are needed again only much later: :class:`Parked` writes them
to a scratch directory (one ``.npy`` per array, plain reads back, no memory map), sets them
to ``None`` on their owner, and puts them back, bit for bit, on :meth:`Parked.restore`; a
field that already is a memory map of a file (stage 3's nodes on disk) is not copied: the
same map is put back.
Fields read in order, a slice at a time, need not come back whole: :meth:`Parked.on_disk`
gives an :class:`OnDisk` array that reads only the rows asked for. A table made a slice at
a time (stage 6's ``l2``) goes to disk as it is made, never whole in memory:
:class:`FrameOnDisk`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd


class OnDisk:
    """A 1-D array in a ``.npy`` file, read a slice (or one value) at a time with plain reads.

    Reading ``a[lo:hi]`` gives the same values as the array had; nothing stays mapped.

    Parameters
    ----------
    path
        The ``.npy`` file (a 1-D array, C order), or with ``dtype`` a raw file of values of
        that type (as :meth:`numpy.ndarray.tofile` appends them).
    dtype
        For a raw file: the type of its values.
    """

    def __init__(self, path: Path, dtype: np.dtype | type | None = None):
        self.path = Path(path)
        if dtype is not None:
            self.dtype = np.dtype(dtype)
            self._offset = 0
            self._len = self.path.stat().st_size // self.dtype.itemsize
            return
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, self.dtype = read_header(f)
            self._offset = f.tell()
        if len(shape) != 1 or fortran_order:
            raise ValueError(f"{self.path}: only a 1-D array can be read in slices")
        self._len = int(shape[0])

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: slice | int) -> np.ndarray | np.generic:
        if isinstance(key, slice):
            lo, hi, step = key.indices(self._len)
            if step != 1:
                raise ValueError("only slices with step 1 are read from disk")
            return np.fromfile(self.path, dtype=self.dtype, count=max(hi - lo, 0),
                               offset=self._offset + lo * self.dtype.itemsize)
        i = int(key)
        if not -self._len <= i < self._len:
            raise IndexError(f"index {i} out of range for {self._len} values")
        i %= self._len
        return np.fromfile(self.path, dtype=self.dtype, count=1,
                           offset=self._offset + i * self.dtype.itemsize)[0]


class FrameOnDisk:
    """A DataFrame of numeric columns written a slice at a time to ``.npy`` files, before it
    is ever whole in memory, and read back whole (bit for bit) by :meth:`read`.

    Parameters
    ----------
    directory
        A new directory for the files (removed by :meth:`read` and :meth:`remove`).
    columns
        Column name -> dtype, in the frame's order.
    n_rows
        Rows of every column.
    """

    def __init__(self, directory: Path, columns: dict[str, np.dtype | type], n_rows: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=False)
        self.n_rows = int(n_rows)
        self.columns = {name: np.dtype(t) for name, t in columns.items()}
        self._written = dict.fromkeys(self.columns, 0)
        self._files = {}
        for i, (name, dtype) in enumerate(self.columns.items()):
            f = open(self.directory / f"{i}.npy", "wb")  # noqa: SIM115 (open until close)
            np.lib.format.write_array_header_1_0(f, {
                "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                "shape": (self.n_rows,)})
            self._files[name] = f

    def write(self, column: str, values: np.ndarray) -> None:
        """Append rows to ``column`` (its next ``len(values)`` rows)."""
        values = np.ascontiguousarray(values, dtype=self.columns[column])
        if self._written[column] + len(values) > self.n_rows:
            raise ValueError(f"column {column!r}: more than {self.n_rows} rows written")
        self._files[column].write(values.tobytes())
        self._written[column] += len(values)

    def close(self) -> None:
        """Finish the files; every column must have all its rows."""
        for f in self._files.values():
            f.close()
        short = [c for c, n in self._written.items() if n != self.n_rows]
        if short:
            raise ValueError(f"columns {short} do not have their {self.n_rows} rows")

    def read(self) -> pd.DataFrame:
        """The frame (default index), read back whole; the files are removed."""
        frame = {}
        for i, name in enumerate(self.columns):
            with open(self.directory / f"{i}.npy", "rb") as f:
                frame[name] = np.load(f, allow_pickle=False)
        self.remove()
        return pd.DataFrame(frame, copy=False)

    def remove(self) -> None:
        """Remove the files."""
        for f in self._files.values():
            f.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class Parked:
    """Fields of ``owner`` kept in ``directory`` until :meth:`restore`.

    Parameters
    ----------
    owner
        An object whose fields are numpy arrays or DataFrames of numeric columns (default
        index).
    names
        The fields to park; each is set to ``None`` on ``owner``.
    directory
        A new directory for the files (removed by :meth:`restore`).

    Examples
    --------
    >>> import tempfile, types
    >>> box = types.SimpleNamespace(a=np.arange(3), t=pd.DataFrame({"x": [1.5, 2.5]}))
    >>> parked = Parked(box, ["a", "t"], Path(tempfile.mkdtemp()) / "p")
    >>> box.a is None and box.t is None
    True
    >>> parked.restore(); box.a.tolist(), box.t["x"].tolist()
    ([0, 1, 2], [1.5, 2.5])
    """

    def __init__(self, owner: object, names: Sequence[str], directory: Path):
        self.owner = owner
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=False)
        self._frames: dict[str, list[str]] = {}
        self._mapped: dict[str, np.memmap] = {}  # already on disk: kept as they are
        self.names = list(names)
        for name in self.names:
            value = getattr(owner, name)
            if isinstance(value, np.memmap):
                self._mapped[name] = value
            elif isinstance(value, pd.DataFrame):
                if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0:
                    raise ValueError(f"field {name!r}: only a default index can be parked")
                self._frames[name] = list(value.columns)
                for i, column in enumerate(value.columns):
                    self._save(f"{name}.{i}", value[column].to_numpy())
            else:
                self._save(name, np.asarray(value))
            setattr(owner, name, None)
            del value

    def _save(self, key: str, array: np.ndarray) -> None:
        with open(self.directory / f"{key}.npy", "wb") as f:
            np.save(f, array, allow_pickle=False)

    def _load(self, key: str) -> np.ndarray:
        with open(self.directory / f"{key}.npy", "rb") as f:
            return np.load(f, allow_pickle=False)

    def on_disk(self, name: str) -> OnDisk | np.memmap:
        """The parked 1-D array field ``name``, read from its file a slice at a time (valid
        until :meth:`restore` or :meth:`remove`)."""
        if name in self._frames or name not in self.names:
            raise KeyError(f"{name!r} is not a parked array field")
        if name in self._mapped:
            return self._mapped[name]
        return OnDisk(self.directory / f"{name}.npy")

    def remove(self) -> None:
        """Remove the files without restoring the fields (they stay ``None``)."""
        self._mapped.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def restore(self) -> None:
        """Put every parked field back on its owner and remove the files."""
        for name in self.names:
            if name in self._mapped:
                value = self._mapped.pop(name)
            elif name in self._frames:
                value = pd.DataFrame({column: self._load(f"{name}.{i}")
                                      for i, column in enumerate(self._frames[name])})
            else:
                value = self._load(name)
            setattr(self.owner, name, value)
        shutil.rmtree(self.directory, ignore_errors=True)

