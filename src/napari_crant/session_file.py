"""The session file (``*.crant-session.json``): what a napari-crant session is, without Qt.

A session records what a proofreader needs to come back to the same view: the dataset and
materialization, the query filters, the loaded neurons (in loading order, with their colours),
the camera, and where the synapse QC stood. It is plain JSON (root and synapse IDs as decimal
strings, since they exceed 2**53), carries a format version, and is written atomically (a
temporary file renamed over the target), so a crash never leaves a half-written session.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: file name ending napari recognises as a napari-crant session
SUFFIX = ".crant-session.json"
#: value of the ``format`` key
FORMAT = "napari-crant session"
#: version written; files with a higher version are refused (written by a newer napari-crant)
VERSION = 1
_FILTER_KEYS = ("threshold", "min_size", "clean", "update_ids", "max_distance")
_UINT64_MAX = 2**64 - 1


class SessionFileError(ValueError):
    """A session file that cannot be read or written (names the file and what is wrong)."""


@dataclass
class CameraState:
    """The napari camera: centre (z, y, x in nm), zoom, angles (degrees), perspective, 2D/3D."""

    center: tuple[float, ...]
    zoom: float
    angles: tuple[float, float, float] = (0.0, 0.0, 90.0)
    perspective: float = 0.0
    ndisplay: int = 3


@dataclass
class QCPosition:
    """Where the synapse QC stood: the neuron under review and the synapse shown."""

    root_id: int
    synapse_id: int | None = None


@dataclass
class SessionState:
    """Everything a session file holds.

    Attributes
    ----------
    dataset
        Dataset name or snapshot directory.
    materialization
        ``'latest'``, ``'live'``, a version number or an ISO timestamp.
    neurons
        ``(root_id, (r, g, b, a))`` of each loaded neuron, in loading order (colour ``None``:
        not recorded).
    filters
        Query filters: threshold, min_size, clean, update_ids, max_distance.
    color_by
        How synapses are coloured (``'type'``, ``'partner'`` or ``'neuron'``).
    camera
        The camera, or ``None``.
    qc
        The QC position, or ``None`` (no QC dock, or nothing under review).
    """

    dataset: str
    materialization: str | int = "latest"
    neurons: list[tuple[int, tuple[float, float, float, float] | None]] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    color_by: str = "type"
    camera: CameraState | None = None
    qc: QCPosition | None = None

    @property
    def root_ids(self) -> list[int]:
        """The loaded root IDs in loading order."""
        return [r for r, _ in self.neurons]


def is_session_path(path: Any) -> bool:
    """Whether ``path`` names a session file (by its ending; the file need not exist)."""
    return isinstance(path, str | os.PathLike) and str(path).lower().endswith(SUFFIX)


# -- to and from JSON ------------------------------------------------------------------------
def to_json_dict(state: SessionState) -> dict[str, Any]:
    """The JSON document of ``state`` (IDs as decimal strings)."""
    from napari_crant import __version__

    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "napari_crant_version": __version__,
        "dataset": str(state.dataset),
        "materialization": state.materialization,
        "filters": {k: state.filters[k] for k in _FILTER_KEYS if k in state.filters},
        "color_by": state.color_by,
        "neurons": [{"root_id": str(int(r)),
                     "color": None if color is None else [float(c) for c in color]}
                    for r, color in state.neurons],
        "camera": None,
        "qc": None,
    }
    if state.camera is not None:
        cam = state.camera
        doc["camera"] = {"center": [float(v) for v in cam.center], "zoom": float(cam.zoom),
                         "angles": [float(v) for v in cam.angles], "perspective": float(cam.perspective),
                         "ndisplay": int(cam.ndisplay)}
    if state.qc is not None:
        doc["qc"] = {"root_id": str(int(state.qc.root_id)),
                     "synapse_id": None if state.qc.synapse_id is None else str(int(state.qc.synapse_id))}
    return doc


def _uint64(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SessionFileError(f"{where}: {value!r} is not an ID (a decimal string)")
    text = str(value).strip()
    if not text.isdigit() or int(text) > _UINT64_MAX:
        raise SessionFileError(f"{where}: {value!r} is not an unsigned 64-bit ID")
    return int(text)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SessionFileError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _numbers(value: Any, where: str, lengths: tuple[int, ...]) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise SessionFileError(f"{where}: expected a list of {want} numbers, got {value!r}")
    return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(value))


def _color(value: Any, where: str) -> tuple[float, float, float, float]:
    rgba = _numbers(value, where, (3, 4))
    if any(not 0.0 <= c <= 1.0 for c in rgba):
        raise SessionFileError(f"{where}: colour components must lie in [0, 1], got {value!r}")
    return (*rgba, 1.0) if len(rgba) == 3 else rgba  # type: ignore[return-value]


def _materialization(value: Any) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SessionFileError(
            f"materialization: {value!r} is not 'latest', 'live', a version number or an ISO timestamp")
    if isinstance(value, int) or value.strip().isdigit():
        return int(value)
    text = value.strip()
    if text.lower() in ("latest", "live"):
        return text.lower()
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise SessionFileError(
            f"materialization: {value!r} is not 'latest', 'live', a version number or an ISO timestamp"
        ) from None
    return text


def _filters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SessionFileError(f"filters: expected an object, got {value!r}")
    unknown = set(value) - set(_FILTER_KEYS)
    if unknown:
        raise SessionFileError(f"filters: unknown keys {sorted(unknown)} (known: {', '.join(_FILTER_KEYS)})")
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key in ("clean", "update_ids"):
            if not isinstance(v, bool):
                raise SessionFileError(f"filters.{key}: {v!r} is not true/false")
            out[key] = v
        elif key == "threshold":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SessionFileError(f"filters.threshold: {v!r} is not an integer >= 1")
            out[key] = v
        elif v is None and key == "min_size":
            out[key] = None
        else:
            out[key] = _number(v, f"filters.{key}")
            if out[key] < 0:
                raise SessionFileError(f"filters.{key}: {v!r} is negative")
    return out


def _camera(value: Any) -> CameraState | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SessionFileError(f"camera: expected an object or null, got {value!r}")
    missing = {"center", "zoom"} - set(value)
    if missing:
        raise SessionFileError(f"camera: missing {sorted(missing)}")
    ndisplay = value.get("ndisplay", 3)
    if ndisplay not in (2, 3) or isinstance(ndisplay, bool):
        raise SessionFileError(f"camera.ndisplay: {ndisplay!r} is not 2 or 3")
    zoom = _number(value["zoom"], "camera.zoom")
    if zoom <= 0:
        raise SessionFileError(f"camera.zoom: {zoom!r} is not positive")
    return CameraState(
        center=_numbers(value["center"], "camera.center", (2, 3)),
        zoom=zoom,
        angles=_numbers(value.get("angles", [0.0, 0.0, 90.0]), "camera.angles", (3,)),  # type: ignore[arg-type]
        perspective=_number(value.get("perspective", 0.0), "camera.perspective"),
        ndisplay=int(ndisplay),
    )


def _qc(value: Any) -> QCPosition | None:
    if value is None:
        return None
    if not isinstance(value, dict) or "root_id" not in value:
        raise SessionFileError(f"qc: expected an object with root_id, got {value!r}")
    sid = value.get("synapse_id")
    return QCPosition(_uint64(value["root_id"], "qc.root_id"),
                      None if sid is None else _uint64(sid, "qc.synapse_id"))


def from_json_dict(doc: Any) -> SessionState:
    """Validate a session document and return its :class:`SessionState`.

    Raises
    ------
    SessionFileError
        Naming the first key that is missing or wrong.
    """
    if not isinstance(doc, dict):
        raise SessionFileError(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise SessionFileError(f"not a napari-crant session (format is {doc.get('format')!r}, "
                               f"expected {FORMAT!r})")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionFileError(f"version: {version!r} is not a positive integer")
    if version > VERSION:
        raise SessionFileError(f"written by a newer napari-crant (session version {version}; this one reads "
                               f"up to {VERSION}): update napari-crant")
    dataset = doc.get("dataset")
    if not isinstance(dataset, str) or not dataset.strip():
        raise SessionFileError(f"dataset: {dataset!r} is not a dataset name or snapshot path")
    neurons = doc.get("neurons", [])
    if not isinstance(neurons, list):
        raise SessionFileError(f"neurons: expected a list, got {type(neurons).__name__}")
    parsed = []
    for i, n in enumerate(neurons):
        if not isinstance(n, dict) or "root_id" not in n:
            raise SessionFileError(f"neurons[{i}]: expected an object with root_id, got {n!r}")
        color = _color(n["color"], f"neurons[{i}].color") if n.get("color") is not None else None
        parsed.append((_uint64(n["root_id"], f"neurons[{i}].root_id"), color))
    color_by = doc.get("color_by", "type")
    if color_by not in ("type", "partner", "neuron"):
        raise SessionFileError(f"color_by: {color_by!r} is not 'type', 'partner' or 'neuron'")
    return SessionState(
        dataset=dataset, materialization=_materialization(doc.get("materialization", "latest")),
        neurons=parsed, filters=_filters(doc.get("filters", {})), color_by=color_by,
        camera=_camera(doc.get("camera")), qc=_qc(doc.get("qc")),
    )


# -- files -----------------------------------------------------------------------------------
def read_session(path: str | os.PathLike) -> SessionState:
    """Read and validate a session file.

    Raises
    ------
    SessionFileError
        The file is missing, not JSON, or not a valid session (the message names the file).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SessionFileError(f"cannot read session {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise SessionFileError(f"{path} is not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    try:
        return from_json_dict(doc)
    except SessionFileError as e:
        raise SessionFileError(f"{path}: {e}") from None


def write_session(path: str | os.PathLike, state: SessionState) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file in the same directory, renamed).

    ``path`` gets the :data:`SUFFIX` ending if it lacks it. An existing file is replaced only
    once the new one is complete.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    if not is_session_path(path):
        path = path.with_name(path.name + SUFFIX)
    text = json.dumps(to_json_dict(state), indent=2) + "\n"
    from_json_dict(json.loads(text))  # never write what could not be read back
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise SessionFileError(f"cannot write session {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise SessionFileError(f"cannot write session {path}: {e.strerror or e}") from None
    return path
