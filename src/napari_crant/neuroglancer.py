"""Neuroglancer links for CRANTb (Spelunker): loaded neurons and chosen synapses, built with nglui.

The state has three layers: the CRANTb EM image, the CRANTb segmentation (graphene, through
the proofreading server) with the loaded neurons selected in their napari colours, and a local
annotation layer ``synapses`` with one point per chosen synapse (linked to its neuron and its
partner). Neuroglancer shows the segmentation as it is now; IDs from an older materialization
may have been edited since (Neuroglancer then shows nothing for them).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Spelunker, the CAVE Neuroglancer deployment CRANTb uses
SPELUNKER_URL = "https://spelunker.cave-explorer.org/"
#: CRANTb aligned EM (crantpy's Neuroglancer scene)
EM_SOURCE = "precomputed://gs://dkronauer-ant-001-alignment-final/aligned"
#: CRANTb segmentation per datastack (graphene, behind the proofreading server's middle auth)
SEGMENTATION_SOURCES = {
    "kronauer_ant": "graphene://middleauth+https://data.proofreading.zetta.ai/segmentation/table/kronauer_ant_x1",
    "kronauer_ant_sandbox":
        "graphene://middleauth+https://data.proofreading.zetta.ai/segmentation/table/kronauer_ant_sandbox_x1",
}
#: CRANTb voxel size in nm (x, y, z): the viewer's coordinate space
VOXEL_NM = (8, 8, 42)
SEGMENTATION_LAYER = "CRANTb segmentation"
EM_LAYER = "CRANTb EM"
SYNAPSE_LAYER = "synapses"


class NeuroglancerError(ValueError):
    """Input that cannot become a Neuroglancer state (names what was wrong)."""


def datastack_of(dataset: Any) -> str:
    """The CRANTb datastack whose sources to show for ``dataset``.

    ``"sandbox"`` (or a registered CAVE dataset on ``kronauer_ant_sandbox``) gives the sandbox;
    anything else (production, the demo, snapshots cut from CRANTb) gives ``kronauer_ant``.
    """
    name = str(dataset)
    if name == "sandbox":
        return "kronauer_ant_sandbox"
    from napari_crant.sources.cave import CaveError, cave_dataset_config

    try:
        stack = cave_dataset_config(name).datastack
    except CaveError:  # not a CAVE dataset (demo, snapshot directory, unknown name)
        return "kronauer_ant"
    return stack if stack in SEGMENTATION_SOURCES else "kronauer_ant"


def _hex(rgba: Sequence[float]) -> str:
    r, g, b = (round(float(np.clip(c, 0.0, 1.0)) * 255) for c in list(rgba)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _check_synapses(synapses: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["synapse_id", "root_id", "partner_id", "type", "x", "y", "z"]
    if synapses is None:
        return pd.DataFrame({c: [] for c in cols})
    missing = [c for c in cols if c not in synapses.columns]
    if missing:
        raise NeuroglancerError(f"synapses: missing columns {missing} (need {cols})")
    coords = synapses[["x", "y", "z"]].to_numpy(np.float64)
    if len(coords) and not np.isfinite(coords).all():
        raise NeuroglancerError("synapses: x, y, z must be finite numbers (nm)")
    return synapses


def neuroglancer_state(
    neurons: Sequence[tuple[int, Sequence[float]]],
    synapses: pd.DataFrame | None = None,
    *,
    center_zyx_nm: Sequence[float] | None = None,
    datastack: str = "kronauer_ant",
    target_url: str = SPELUNKER_URL,
) -> Any:
    """An nglui ``ViewerState`` of CRANTb with these neurons and synapses.

    Parameters
    ----------
    neurons
        ``(root_id, rgba)`` of each neuron to select (colours in [0, 1]).
    synapses
        Synapses to mark (``synapse_id, root_id, partner_id, type, x, y, z``; nm), or ``None``.
    center_zyx_nm
        Where to centre the view (napari order z, y, x, nm); default: the first synapse, or
        the origin of the volume if there is none.
    datastack
        ``"kronauer_ant"`` (production) or ``"kronauer_ant_sandbox"``.
    target_url
        The Neuroglancer deployment (Spelunker by default).

    Returns
    -------
    nglui.statebuilder.ViewerState
    """
    from nglui import statebuilder as sb

    if datastack not in SEGMENTATION_SOURCES:
        raise NeuroglancerError(
            f"datastack {datastack!r} is not CRANTb: use one of {sorted(SEGMENTATION_SOURCES)}")
    from napari_crant.ids import parse_ids

    roots = parse_ids([r for r, _ in neurons], "neurons", allow_empty=True)
    colors = {int(r): _hex(c) for r, (_, c) in zip(roots, neurons, strict=True)}
    syn = _check_synapses(synapses)
    if center_zyx_nm is not None:
        z, y, x = (float(v) for v in center_zyx_nm)
    elif len(syn):
        first = syn.iloc[0]
        z, y, x = float(first["z"]), float(first["y"]), float(first["x"])
    else:
        z = y = x = 0.0
    position = [x / VOXEL_NM[0], y / VOXEL_NM[1], z / VOXEL_NM[2]]
    state = sb.ViewerState(
        target_url=target_url, dimensions=sb.CoordSpace(resolution=list(VOXEL_NM)), position=position,
        infer_coordinates=False, capabilities="spelunker", title="CRANTb from napari-crant",
    )
    state.add_image_layer(source=EM_SOURCE, name=EM_LAYER)
    state.add_segmentation_layer(source=SEGMENTATION_SOURCES[datastack], name=SEGMENTATION_LAYER,
                                 segments=[int(r) for r in roots], segment_colors=colors)
    if len(syn):
        roots_col = syn["root_id"].to_numpy(np.uint64)
        partners_col = syn["partner_id"].to_numpy(np.uint64)
        points = pd.DataFrame({
            "x": syn["x"].to_numpy(np.float64), "y": syn["y"].to_numpy(np.float64),
            "z": syn["z"].to_numpy(np.float64),
            "segments": [[int(r), int(p)] for r, p in zip(roots_col, partners_col, strict=True)],
            "description": [f"synapse {int(s)} ({t} of {int(r)}; partner {int(p)})" for s, t, r, p in zip(
                syn["synapse_id"].to_numpy(np.uint64), syn["type"], roots_col, partners_col, strict=True)],
        })
        state.add_points(points, name=SYNAPSE_LAYER, point_column=["x", "y", "z"], segment_column="segments",
                         description_column="description", data_resolution=[1, 1, 1],
                         linked_segmentation=SEGMENTATION_LAYER, color="#ffff00", set_position=False)
    return state


def neuroglancer_url(
    neurons: Sequence[tuple[int, Sequence[float]]],
    synapses: pd.DataFrame | None = None,
    **kwargs: Any,
) -> str:
    """A Spelunker link (the state in the URL fragment) for :func:`neuroglancer_state`'s arguments."""
    state = neuroglancer_state(neurons, synapses, **kwargs)
    return state.to_url(target_url=kwargs.get("target_url", SPELUNKER_URL))


def decode_url(url: str) -> dict[str, Any]:
    """The Neuroglancer state JSON in a link's ``#!`` fragment (segment IDs stay strings)."""
    if "#!" not in url:
        raise NeuroglancerError(f"not a Neuroglancer state link (no '#!' fragment): {url[:80]!r}")
    fragment = urllib.parse.unquote(url.split("#!", 1)[1])
    try:
        return json.loads(fragment)
    except json.JSONDecodeError as e:
        raise NeuroglancerError(f"the link's state is not JSON: {e.msg} at {e.pos}") from None
