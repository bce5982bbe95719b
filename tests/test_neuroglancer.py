"""Neuroglancer links for CRANTb: decode the state in the URL and check what it shows."""

import numpy as np
import pandas as pd
import pytest

from napari_crant.ids import InvalidIDError
from napari_crant.neuroglancer import (
    EM_SOURCE,
    SEGMENTATION_SOURCES,
    SPELUNKER_URL,
    NeuroglancerError,
    datastack_of,
    decode_url,
    neuroglancer_url,
)

A = 576_460_752_700_000_001
B = 576_460_752_700_000_002
P = 576_460_752_700_000_099
S = 2**63 + 7  # a synapse ID above int64


def _synapses():
    return pd.DataFrame({
        "synapse_id": np.array([S, 12], np.uint64), "root_id": np.array([A, B], np.uint64),
        "partner_id": np.array([P, A], np.uint64), "type": ["pre", "post"],
        "x": [800.0, 1608.0], "y": [8000.0, 16.0], "z": [420.0, 84.0],
    })


def _layers(state):
    return {layer["name"]: layer for layer in state["layers"]}


def test_link_has_em_segments_colours_and_synapses():
    url = neuroglancer_url([(A, (1.0, 0.0, 0.0, 1.0)), (str(B), (0.0, 0.5, 1.0, 1.0))], _synapses(),
                           center_zyx_nm=(4200.0, 800.0, 80.0))
    assert url.startswith(SPELUNKER_URL + "#!")
    state = decode_url(url)
    layers = _layers(state)
    assert layers["CRANTb EM"]["type"] == "image"
    assert layers["CRANTb EM"]["source"][0]["url"] == EM_SOURCE
    seg = layers["CRANTb segmentation"]
    assert seg["type"] == "segmentation"
    assert seg["source"][0]["url"] == SEGMENTATION_SOURCES["kronauer_ant"]
    assert seg["segments"] == [str(A), str(B)]  # uint64 as strings, exact
    assert seg["segmentColors"] == {str(A): "#ff0000", str(B): "#0080ff"}
    # viewer in CRANTb voxels (8, 8, 42 nm); centre given in napari order (z, y, x) nm
    assert state["dimensions"] == {"x": [8e-09, "m"], "y": [8e-09, "m"], "z": [4.2e-08, "m"]}
    assert state["position"] == [10.0, 100.0, 100.0]
    syn = layers["synapses"]
    assert syn["type"] == "annotation"
    assert syn["linkedSegmentationLayer"] == {"segments": "CRANTb segmentation"}
    points = [a["point"] for a in syn["annotations"]]
    assert points == [[800.0, 8000.0, 420.0], [1608.0, 16.0, 84.0]]  # nm in a 1 nm annotation space
    assert syn["source"][0]["transform"]["outputDimensions"]["z"] == [1e-09, "m"]
    assert syn["annotations"][0]["segments"] == [[str(A), str(P)]]
    assert str(S) in syn["annotations"][0]["description"]


def test_without_synapses_and_centre_the_first_neuron_is_still_shown():
    state = decode_url(neuroglancer_url([(A, (0.2, 0.4, 0.6, 1.0))], datastack="kronauer_ant_sandbox"))
    layers = _layers(state)
    assert "synapses" not in layers
    assert layers["CRANTb segmentation"]["source"][0]["url"].endswith("kronauer_ant_sandbox_x1")
    assert layers["CRANTb segmentation"]["segmentColors"] == {str(A): "#336699"}


def test_centre_defaults_to_the_first_synapse():
    state = decode_url(neuroglancer_url([(A, (1, 1, 1, 1))], _synapses()))
    assert state["position"] == [100.0, 1000.0, 10.0]


def test_datastack_of_dataset():
    assert datastack_of("sandbox") == "kronauer_ant_sandbox"
    assert datastack_of("latest") == "kronauer_ant"
    assert datastack_of("demo") == "kronauer_ant"
    assert datastack_of("/some/snapshot") == "kronauer_ant"


def test_bad_input_is_named():
    with pytest.raises(InvalidIDError, match="neurons"):
        neuroglancer_url([(5.76e17, (1, 0, 0, 1))])
    with pytest.raises(NeuroglancerError, match="missing columns"):
        neuroglancer_url([(A, (1, 0, 0, 1))], _synapses().drop(columns=["partner_id"]))
    bad = _synapses()
    bad.loc[0, "x"] = np.nan
    with pytest.raises(NeuroglancerError, match="finite"):
        neuroglancer_url([(A, (1, 0, 0, 1))], bad)
    with pytest.raises(NeuroglancerError, match="not CRANTb"):
        neuroglancer_url([(A, (1, 0, 0, 1))], datastack="minnie65_public")
    with pytest.raises(NeuroglancerError, match="no '#!'"):
        decode_url("https://spelunker.cave-explorer.org/")
