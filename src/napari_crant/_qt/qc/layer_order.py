"""Where the QC layers sit in napari's layer list: the tissue above the neurons.

napari draws its layers bottom to top. The EM cutout at a synapse is a small square in the view;
drawn at the bottom, the synapse dots, verdict dots, skeletons and the partner's skeleton of every
neuron covered the very tissue a proofreader judges. Above them, the cutout shows the EM with only
the pre and post segments' outlines and the ring on it, while the neurons stay in view around it
(and in 3D the depth test still puts what lies in front of the EM plane in front of it).
"""

from typing import Any

from napari_crant._qt.session import find_layer

#: the layers kept on top, bottom to top: the EM, the segments' outlines, the synapse's ring
TOP_KINDS = ("qc_em", "qc_segments", "qc_current")


def tissue_above_neurons(viewer: Any) -> bool:
    """Move the EM, the segments and the ring to the top of ``viewer``'s layer list, in that order.

    Layers added later (another batch of neurons, a mesh) land on top; this puts the tissue back
    above them. Nothing moves when the order is already right (a step costs no reordering).

    Parameters
    ----------
    viewer
        The napari viewer.

    Returns
    -------
    bool
        Whether any layer moved.
    """
    top = [layer for layer in (find_layer(viewer, kind) for kind in TOP_KINDS) if layer is not None]
    layers = viewer.layers
    if not top or list(layers)[-len(top):] == top:
        return False
    for layer in top:
        layers.move(layers.index(layer), len(layers))
    return True
