"""Where the QC layers sit in napari's layer list: in 2D the tissue above the neurons.

napari draws its layers bottom to top. In 2D the EM cutout at a synapse is a small square in the
view; drawn at the bottom, the synapse dots, verdict dots, skeletons and the partner's skeleton of
every neuron covered the very tissue a proofreader judges. Above them, the cutout shows the EM with
only the pre and post segments' outlines and the ring on it, while the neurons stay in view around
it. In 3D the EM is a plane among the neurons and the depth test decides what is seen: drawn first,
the plane hides what lies behind it and on it (the synapse's own dots would otherwise cover the
T-bar), while what lies in front of it stays in front.
"""

from typing import Any

from napari_crant._qt.session import find_layer

#: the tissue's layers, bottom to top: the EM, the segments' outlines
TISSUE_KINDS = ("qc_em", "qc_segments")
#: the synapse's ring: always the top layer
RING_KIND = "qc_current"


def order_tissue_layers(viewer: Any) -> bool:
    """Put the EM and the segments at the top of ``viewer``'s layer list in 2D (under the ring),
    at the bottom in 3D; the ring on top in both.

    Layers added later (another batch of neurons, a mesh) land on top; this puts the tissue back.
    Nothing moves when the order is already right (a step costs no reordering).

    Parameters
    ----------
    viewer
        The napari viewer.

    Returns
    -------
    bool
        Whether any layer moved.
    """
    tissue = [layer for layer in (find_layer(viewer, kind) for kind in TISSUE_KINDS) if layer is not None]
    ring = [layer for layer in (find_layer(viewer, RING_KIND),) if layer is not None]
    layers = viewer.layers
    others = [layer for layer in layers if not any(layer is t for t in tissue + ring)]
    flat = viewer.dims.ndisplay == 2
    wanted = others + tissue + ring if flat else tissue + others + ring
    if all(a is b for a, b in zip(layers, wanted, strict=True)):
        return False
    for layer in (tissue + ring if flat else ring):  # to the top, in this order
        layers.move(layers.index(layer), len(layers))
    if not flat:
        for position, layer in enumerate(tissue):  # to the bottom
            layers.move(layers.index(layer), position)
    return True
