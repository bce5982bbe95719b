"""Neuron meshes and context meshes (brain, neuropils) as napari Surface layer data (Qt-free).

Same axis convention as every other layer (:mod:`napari_crant.scene.layer_data`): (z, y, x) nm,
scale 1. All loaded neurons share ONE Surface layer (``CRANT meshes``) coloured per vertex with
each neuron's colour; the context (the brain's surface, or the neuropils) is a second, translucent
one (``CRANT context``). The fetch functions are slow (run them in a worker).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_crant.scene.layer_conventions import AXES, METADATA_KEY, SCALE, UNITS

#: how loaded neurons are drawn (the query dock's choice)
NEURON_DISPLAYS = ("skeletons", "meshes", "both")
#: the context shown around them
CONTEXTS = ("none", "brain", "neuropils")
MESH_LAYER_NAMES = {"meshes": "CRANT meshes", "context": "CRANT context"}
#: RGBA of the context surface, and its opacity
CONTEXT_COLOR = (0.75, 0.78, 0.85, 1.0)
CONTEXT_OPACITY = 0.12
#: a surface: (vertices (z, y, x) nm, faces)
Surface = tuple[np.ndarray, np.ndarray]


def surface_arrays(mesh: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (z, y, x) nm float32, faces int32)`` of a trimesh or navis MeshNeuron (x, y, z nm)."""
    vertices = np.asarray(mesh.vertices, np.float64).reshape(-1, 3)
    faces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    return np.ascontiguousarray(vertices[:, ::-1], np.float32), faces.astype(np.int32)


def _concatenate(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One vertex and face array of several surfaces; also the part of each vertex."""
    if not parts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros(0, np.int64)
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    vertices = np.concatenate([v for v, _ in parts])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets, strict=True)]).astype(np.int32)
    part = np.repeat(np.arange(len(parts)), [len(v) for v, _ in parts])
    return vertices, faces, part


def _kwargs(kind: str, **extra: Any) -> dict[str, Any]:
    return {"name": MESH_LAYER_NAMES[kind], "scale": SCALE, "units": UNITS, "axis_labels": AXES,
            "metadata": {METADATA_KEY: kind}, **extra}


def neuron_surface_layer(meshes: dict[int, Surface],
                         colors: dict[int, Any]) -> tuple[tuple, dict[str, Any], str]:
    """LayerData tuple of the loaded neurons' meshes: one Surface, each neuron in its colour.

    Parameters
    ----------
    meshes
        Root ID -> :func:`surface_arrays` of its mesh, in the order to draw.
    colors
        Root ID -> RGBA (the neuron's colour in the other layers).
    """
    roots = list(meshes)
    vertices, faces, part = _concatenate([meshes[r] for r in roots])
    rgba = np.array([colors[r] for r in roots], np.float32).reshape(-1, 4)
    vertex_colors = rgba[part] if len(part) else np.zeros((0, 4), np.float32)
    kw = _kwargs("meshes", vertex_colors=vertex_colors, shading="smooth", blending="translucent")
    kw["metadata"]["root_ids"] = [str(int(r)) for r in roots]
    kw["metadata"]["vertex_counts"] = [len(meshes[r][0]) for r in roots]
    return (vertices, faces), kw, "surface"


def context_surface_layer(meshes: list[Surface], what: str) -> tuple[tuple, dict, str]:
    """LayerData tuple of the context: one translucent Surface of the brain or the neuropils."""
    vertices, faces, _ = _concatenate(meshes)
    vertex_colors = np.tile(np.asarray(CONTEXT_COLOR, np.float32), (len(vertices), 1))
    kw = _kwargs("context", vertex_colors=vertex_colors, opacity=CONTEXT_OPACITY, shading="smooth",
                 blending="translucent_no_depth")
    kw["metadata"]["context"] = what
    return (vertices, faces), kw, "surface"


def fetch_neuron_meshes(roots: Any, materialization: Any, dataset: Any) -> dict[int, Surface]:
    """Meshes of ``roots`` (exactly these roots) as :func:`surface_arrays`, by root (worker).

    Raises
    ------
    TissueUnavailable
        The dataset (or its server) has no meshes, or they cannot be read.
    """
    from napari_crant.queries.meshes import get_mesh  # (imports pandas: not when the dock opens)

    roots = [int(r) for r in np.asarray(roots, np.uint64)]
    if not roots:
        return {}
    neurons = get_mesh(np.asarray(roots, np.uint64), materialization=materialization, dataset=dataset,
                       update_ids=False)
    return {int(n.root_id): surface_arrays(n) for n in neurons}


def fetch_context(what: str, dataset: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """The brain's surface (``'brain'``) or every neuropil's (``'neuropils'``) as :func:`surface_arrays`.

    Raises
    ------
    ValueError
        ``what`` is not ``'brain'`` or ``'neuropils'``.
    TissueUnavailable
        The dataset has no such mesh, or it cannot be read.
    """
    from napari_crant.queries.meshes import get_brain_mesh, get_neuropil_meshes

    if what == "brain":
        return [surface_arrays(get_brain_mesh(dataset=dataset))]
    if what == "neuropils":
        return [surface_arrays(m) for m in get_neuropil_meshes(dataset=dataset).values()]
    raise ValueError(f"context {what!r} is not one of 'brain', 'neuropils'")
