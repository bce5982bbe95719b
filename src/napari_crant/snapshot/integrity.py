"""Is a snapshot directory whole? Its manifest, the files' sizes (cheap) and checksums (full).

The writer records each file's size and BLAKE2b checksum in ``manifest.json`` under
``files``. Opening a snapshot checks the manifest's structure and every file's presence and
size (a ``stat`` per file: milliseconds); :func:`verify_snapshot` (``napari-crant verify``)
also re-computes every checksum, which reads every byte. Snapshots written before checksums
were recorded open with sizes unchecked, and verify says so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_crant.snapshot import format as fmt

#: Every data file of a snapshot (the manifest aside).
DATA_FILES = (
    fmt.SYNAPSES, fmt.SYNAPSES_POST, fmt.SYNAPSES_ROOTS, fmt.SYNAPSES_PRE_L2, fmt.SYNAPSES_POST_L2,
    fmt.ROOT_L2, fmt.L2_ROOTS, fmt.L2, fmt.SUPERVOXELS, fmt.L2_EDGES, fmt.VERSIONS, fmt.ROOTS, fmt.LINEAGE,
    fmt.ANNOTATIONS, fmt.NUCLEI, fmt.NEUROPILS,
)
#: Data files a snapshot may have (checked like the others when present).
OPTIONAL_FILES = (fmt.SKELETON_NODES,)
CHECKSUM = "blake2b"
_CHUNK = 1 << 20


class SnapshotError(ValueError):
    """The directory is not a readable snapshot (the message names the file and the problem)."""


def checksum(path: Path) -> str:
    """BLAKE2b (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def present_files(directory: Path) -> tuple[str, ...]:
    """The data files of ``directory``: every required one and the optional ones it has."""
    return DATA_FILES + tuple(n for n in OPTIONAL_FILES if (directory / n).is_file())


def _expected_files(directory: Path, records: dict[str, Any]) -> tuple[str, ...]:
    """Required files, and the optional ones that are present or that the manifest records."""
    return DATA_FILES + tuple(
        n for n in OPTIONAL_FILES if n in records or (directory / n).is_file()
    )


def record_files(directory: Path) -> dict[str, dict[str, Any]]:
    """``{file: {"size": bytes, "blake2b": hex}}`` of the data files in ``directory`` (for the manifest)."""
    return {
        name: {"size": (directory / name).stat().st_size, CHECKSUM: checksum(directory / name)}
        for name in present_files(directory)
    }


def _kind(value: Any) -> str:
    return {dict: "a JSON object", list: "a list", str: "a string", int: "a number",
            float: "a number", bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)


def read_manifest(directory: Path) -> dict[str, Any]:
    """The validated manifest of a snapshot directory.

    Raises
    ------
    SnapshotError
        Naming ``manifest.json`` and what is wrong: missing, not JSON, not an object, another
        format, a ``format_version`` that is not this reader's integer, an ``info`` or
        ``files`` that is not an object, a file record without an integer size.
    """
    path = directory / fmt.MANIFEST
    if not path.is_file():
        raise SnapshotError(f"{directory} is not a snapshot directory (no {fmt.MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SnapshotError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(manifest, dict):
        raise SnapshotError(f"{path} is {_kind(manifest)}, not a JSON object")
    if manifest.get("format") != fmt.FORMAT_NAME:
        raise SnapshotError(
            f"{path}: format is {manifest.get('format')!r}, not {fmt.FORMAT_NAME!r}; "
            f"{directory} is not a {fmt.FORMAT_NAME} directory"
        )
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise SnapshotError(
            f"{path}: format_version is {version!r} ({_kind(version)}), not an integer"
        )
    if version != fmt.FORMAT_VERSION:
        raise SnapshotError(
            f"{directory} has snapshot format version {version}; this napari-crant reads "
            f"version {fmt.FORMAT_VERSION} (rebuild or re-download the snapshot)"
        )
    for key in ("info", "counts", "files", "layout"):
        if key in manifest and not isinstance(manifest[key], dict):
            raise SnapshotError(f"{path}: {key} is {_kind(manifest[key])}, not a JSON object")
    layout = manifest.get("layout")
    if not isinstance(layout, dict):
        raise SnapshotError(f"{path}: no layout (the moment the stored synapse roots hold)")
    for key in ("roots_at_us", "from_us", "until_us"):
        value = layout.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SnapshotError(f"{path}: layout.{key} is {value!r}, not an integer")
    name = manifest.get("name")
    if name is not None and not isinstance(name, str):
        raise SnapshotError(f"{path}: name is {_kind(name)}, not a string")
    for file, rec in manifest.get("files", {}).items():
        size = rec.get("size") if isinstance(rec, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise SnapshotError(f"{path}: the record of {file} has no valid size ({rec!r})")
    return manifest


def check_files(directory: Path, manifest: dict[str, Any]) -> None:
    """Every data file is present, and has the size the manifest records (when it records one).

    Raises
    ------
    SnapshotError
        Naming the missing or damaged file.
    """
    records = manifest.get("files", {})
    for name in _expected_files(directory, records):
        path = directory / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise SnapshotError(f"snapshot {directory} lacks {name}") from None
        if not path.is_file():
            raise SnapshotError(f"{path} is not a file")
        rec = records.get(name)
        if rec is not None and rec["size"] != size:
            raise SnapshotError(
                f"{path} is damaged: {size:,} bytes, the manifest records {rec['size']:,} "
                "(truncated or overwritten; rebuild the snapshot or run napari-crant verify)"
            )


@dataclass
class Verification:
    """What :func:`verify_snapshot` found."""

    directory: Path
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    has_checksums: bool = False

    @property
    def ok(self) -> bool:
        """No problem found (an old snapshot without checksums is ok if its files are there)."""
        return not self.problems

    def summary(self) -> str:
        """One line per problem, or what was checked."""
        if self.problems:
            return "\n".join(self.problems)
        if not self.has_checksums:
            return (f"{self.directory}: no checksums recorded (written by an older napari-crant); "
                    f"all {len(DATA_FILES)} files are present")
        return f"{self.directory}: all {len(self.checked)} files match their checksums"


def verify_snapshot(directory: str | Path) -> Verification:
    """Check a snapshot fully: manifest, every file's presence, size and checksum.

    Returns
    -------
    Verification
        ``ok`` and one problem per damaged file, naming it.
    """
    directory = Path(directory).expanduser()
    result = Verification(directory)
    try:
        manifest = read_manifest(directory)
    except SnapshotError as e:
        result.problems.append(str(e))
        return result
    records = manifest.get("files", {})
    result.has_checksums = bool(records)
    for name in _expected_files(directory, records):
        path = directory / name
        if not path.is_file():
            result.problems.append(f"{path} is missing")
            continue
        rec = records.get(name)
        if rec is None:
            if result.has_checksums:
                result.problems.append(f"{path}: the manifest records no checksum for it")
            continue
        size = path.stat().st_size
        if size != rec["size"]:
            result.problems.append(f"{path} is damaged: {size:,} bytes, the manifest records {rec['size']:,}")
        elif checksum(path) != rec.get(CHECKSUM):
            result.problems.append(f"{path} is damaged: its {CHECKSUM} checksum does not match the manifest")
        else:
            result.checked.append(name)
    return result
