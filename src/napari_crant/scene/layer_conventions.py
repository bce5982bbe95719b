"""What every napari-crant layer shares: axes, units, names, the metadata key, dot sizes (Qt-free).

Kept apart from :mod:`~napari_crant.scene.layer_data` (which needs pandas) so that the docks can be
imported and opened without importing pandas on the main thread (~0.25 s); see
:mod:`napari_crant.scene.layer_data` for the axis convention.
"""

#: napari axis order of every layer, and its units.
AXES = ("z", "y", "x")
UNITS = "nm"
SCALE = (1.0, 1.0, 1.0)
#: key in ``layer.metadata`` marking the layers this package owns (value: the layer kind).
METADATA_KEY = "napari_crant"
LAYER_NAMES = {
    "skeletons": "CRANT skeletons",
    "somata": "CRANT somata",
    "pre": "CRANT presynapses",
    "post": "CRANT postsynapses",
    "highlight": "CRANT highlight",
}
#: smallest on-screen size (px) of synapses and somata (in nm when zoomed in). vispy adds a border of
#: half this (a 6 px disc) on a ``size + 4 * (border + 1.5 * antialias)`` quad: 15 px, the dot's cost
MIN_POINT_PIXELS, DOT_ANTIALIAS = 4.0, 0.5
#: largest on-screen diameter (pixels) of synapses: zoomed in on the tissue they stay markers, as
#: in Neuroglancer, instead of discs of their nm size covering the boutons and spines they mark
MAX_POINT_PIXELS = 20.0
