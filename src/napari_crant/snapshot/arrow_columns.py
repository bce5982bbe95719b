"""Writing a memory-mappable Arrow IPC file (one record batch) batch by batch, in bounded memory.

A snapshot's mapped tables are Arrow IPC files of *one* record batch, so that every column
opens as one zero-copy numpy array. An IPC record batch stores each column whole, one after
the other, so rows arriving in batches cannot go straight into the file.
:class:`ArrowColumnsWriter` appends every column's values to its own raw file next to the
target; :meth:`ArrowColumnsWriter.close` then lets pyarrow write the file's header,
metadata and footer for a batch of zero-filled placeholder columns (untouched ``calloc``
pages: no memory used) and copies each column's raw file in where pyarrow writes that
column's placeholder buffer. Memory stays at one copy buffer whatever the size; the file is
byte for byte what pyarrow writes for the same table.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

_COPY_BYTES = 64 << 20


class ArrowColumnsError(ValueError):
    """Columns handed to :class:`ArrowColumnsWriter` do not match its schema."""


class _SplicingSink:
    """A file-like sink for pyarrow's IPC writer that writes raw column files in place of
    the placeholder buffers (recognised by their address)."""

    def __init__(self, out, placeholders: dict[int, tuple[int, Path]]):
        self._out = out
        self._placeholders = placeholders
        self.spliced: set[int] = set()
        self.closed = False

    def write(self, data) -> int:
        buf = pa.py_buffer(data)
        hit = self._placeholders.get(buf.address)
        if hit is None or buf.size == 0:
            self._out.write(data)
            return buf.size
        size, path = hit
        if buf.size != size:
            raise ArrowColumnsError(f"pyarrow wrote {buf.size} bytes of a {size}-byte column")
        with open(path, "rb") as src:
            copied = 0
            while chunk := src.read(_COPY_BYTES):
                self._out.write(chunk)
                copied += len(chunk)
        if copied != size:
            raise ArrowColumnsError(f"column file {path.name} holds {copied} bytes, not {size}")
        path.unlink()  # copied: the file and its column are never on disk twice
        self.spliced.add(buf.address)
        return size

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._out.tell()


class ArrowColumnsWriter:
    """Build an Arrow IPC file of one record batch from rows appended in batches.

    Parameters
    ----------
    path
        The Arrow file to write (created by :meth:`close`).
    columns
        Column name -> numpy dtype (fixed-width numbers), in file order.
    metadata
        Schema metadata (e.g. pandas' ``b"pandas"`` entry), or ``None``.

    Examples
    --------
    >>> import tempfile, pyarrow as pa
    >>> path = Path(tempfile.mkdtemp()) / "t.arrow"
    >>> w = ArrowColumnsWriter(path, {"a": np.uint64})
    >>> w.append({"a": np.array([1, 2], np.uint64)}); w.append({"a": np.array([3], np.uint64)})
    >>> w.close()
    3
    >>> pa.ipc.open_file(pa.memory_map(str(path))).read_all().num_rows
    3
    """

    def __init__(self, path: str | os.PathLike, columns: Mapping[str, np.dtype],
                 metadata: dict[bytes, bytes] | None = None):
        self.path = Path(path)
        self.dtypes = {name: np.dtype(dt) for name, dt in columns.items()}
        for name, dt in self.dtypes.items():
            if dt.kind not in "iuf":
                raise ArrowColumnsError(f"column {name!r}: dtype {dt} is not a fixed-width number")
        self.metadata = metadata
        self._dir = self.path.with_name(f".{self.path.name}.columns")
        self._dir.mkdir(parents=True, exist_ok=False)
        self._files = {name: open(self._dir / f"{i:03d}.raw", "wb")  # noqa: SIM115 (closed in close/abort)
                       for i, name in enumerate(self.dtypes)}
        self.rows = 0

    def append(self, columns: Mapping[str, np.ndarray]) -> None:
        """Append rows: every column of the schema, all of the same length."""
        missing = set(self.dtypes) - set(columns)
        if missing:
            raise ArrowColumnsError(f"{self.path.name}: columns {sorted(missing)} missing")
        lengths = {len(columns[name]) for name in self.dtypes}
        if len(lengths) != 1:
            raise ArrowColumnsError(f"{self.path.name}: columns of different lengths {lengths}")
        for name, dt in self.dtypes.items():
            values = np.ascontiguousarray(columns[name])
            if values.dtype != dt:
                if not np.can_cast(values.dtype, dt, "same_kind"):
                    raise ArrowColumnsError(
                        f"{self.path.name}: column {name!r} has dtype {values.dtype}, not {dt}")
                values = values.astype(dt)
            self._files[name].write(memoryview(values).cast("B"))
        self.rows += lengths.pop()

    def close(self) -> int:
        """Write the Arrow file and remove the column files; returns the number of rows."""
        for f in self._files.values():
            f.close()
        try:
            n = self.rows
            placeholders: dict[int, tuple[int, Path]] = {}
            arrays = []
            for i, dt in enumerate(self.dtypes.values()):
                zeros = np.zeros(n, dtype=dt)  # calloc: pages never touched, never resident
                arrays.append(pa.array(zeros))
                if n:
                    address = pa.py_buffer(zeros).address
                    placeholders[address] = (zeros.nbytes, self._dir / f"{i:03d}.raw")
            schema = pa.schema([pa.field(name, a.type, nullable=True)
                                for name, a in zip(self.dtypes, arrays, strict=True)],
                               metadata=self.metadata)
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
            with open(self.path, "wb") as out:
                sink = _SplicingSink(out, placeholders)
                with pa.ipc.new_file(sink, schema) as writer:
                    if n:  # as pyarrow writes an empty table: no record batch
                        writer.write_batch(batch)
            if len(sink.spliced) != len(placeholders):
                raise ArrowColumnsError(f"{self.path.name}: pyarrow copied a column buffer; "
                                        "the file would hold zeros")
            return n
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written so far."""
        for f in self._files.values():
            f.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        self.path.unlink(missing_ok=True)
