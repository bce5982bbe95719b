"""Synapse dots drawn whole where the QC's 3D EM plane passes through them.

vispy draws a dot as a disc facing the camera, every pixel of it at the depth of its centre.
Where the QC's EM plane, tilted to the camera, passed through a dot, the part of the disc behind
the plane failed the depth test: the dots of the synapses next to the one reviewed read as half
discs. While the EM plane is shown in 3D (:func:`plane_shown`), :func:`lift_dots` puts every pixel
of a synapse layer's dots :data:`LIFT_NM` closer to the camera than the dot's centre: a dot whose
centre lies less than that behind the plane is drawn whole, one farther behind is hidden by it as
before. Every synapse layer is lifted by the same distance, so dots at the same place (a verdict
dot under the synapse's own) keep napari's order. The dots' colours are unchanged (flat, no
lighting). Otherwise (2D, no EM, the EM hidden) the markers draw as vispy does: a lifted dot
costs two more transforms per vertex and a fragment depth written (no early depth test; see
``benchmarks/dot_lift.py``). A layer the user gives spherical shading is drawn as napari draws it.
"""

from typing import Any

import numpy as np

from napari_crant.scene.layer_conventions import METADATA_KEY

#: the kinds of layers (metadata) whose dots mark synapses: lifted when made
SYNAPSE_DOTS = frozenset({"pre", "post", "highlight", "qc_verdicts", "qc_diff"})
#: how much closer to the camera (nm) a dot's pixels are drawn than its centre: the radius of the
#: QC's verdict dots (600 nm), about seven 42 nm sections. A dot is cut by a plane tilted by an
#: angle ``a`` to the screen only when its drawn radius in nm (at most 10 px at the view's zoom)
#: times ``tan(a)`` exceeds it
LIFT_NM = 300.0
#: the markers' fragment functions (vispy's ``$lighting_functions``) while lifted: flat colours and
#: the depth :data:`LIFT_NM` in front of the centre. ``v_depth_middle`` is the change in normalised
#: device depth of half the dot's size away from the camera (the vertex shader computes it with
#: ``u_spherical``); the depth buffer's [0, 1] is half of that range; ``{ratio}``: :data:`LIFT_NM`
#: over half the layer's dot size. Not lifted, the markers have vispy's own flat functions (no
#: fragment depth written: the GPU's early depth test stays on)
LIFTED_DEPTH = """
vec4 apply_lighting(vec2 pointcoord, vec4 color) {{
    return color;
}}

void write_depth(vec2 pointcoord) {{
    gl_FragDepth = gl_FragCoord.z - 0.5 * {ratio:.6f} * v_depth_middle;
}}
"""


def points_markers(viewer: Any, layer: Any) -> Any:
    """The vispy markers visual drawing a Points ``layer``'s dots (``None``: no canvas or not found)."""
    try:
        return viewer.window._qt_viewer.canvas.layer_to_visual[layer].node.points_markers
    except (AttributeError, KeyError, RuntimeError):
        return None


def lift_ratio(layer: Any) -> float:
    """:data:`LIFT_NM` over half the layer's dot size (its largest; 0 without a size)."""
    size = np.asarray(getattr(layer, "size", ()), np.float64)
    radius = float(size.max()) * abs(float(layer.scale[-1])) / 2 if size.size else 0.0
    return LIFT_NM / radius if radius > 0 else 0.0


def plane_shown(viewer: Any) -> bool:
    """Whether the QC's EM is shown as a plane (3D, its layer visible): the dots are lifted."""
    return viewer.dims.ndisplay == 3 and any(
        layer.metadata.get(METADATA_KEY) == "qc_em" and layer.visible for layer in viewer.layers)


def lift_dots(viewer: Any, layer: Any) -> bool:
    """Draw a Points layer's dots whole where the 3D EM plane passes through them (see the module).

    Returns whether it was done (``False``: no canvas, or vispy's markers are not as expected).
    It lasts as long as the layer's visual: napari re-applies the shading at each slice (the
    ``spherical`` setter), which runs the markers' ``_setup_lighting_functions`` replaced here
    (the lift as :func:`plane_shown` says then, for the layer's dot size); :func:`relift` applies
    it when the plane is shown or hidden without a slice of the layer.
    """
    markers = points_markers(viewer, layer)
    plain = getattr(type(markers), "_setup_lighting_functions", None)
    program = getattr(markers, "shared_program", None)
    if markers is None or plain is None or program is None or not hasattr(markers, "spherical"):
        return False
    if "_setup_lighting_functions" in vars(markers):
        return True  # done already

    def setup(spherical: bool) -> None:
        # ``None``: the user's spherical shading, napari's (vispy's) own
        setup.lifted = None if spherical else plane_shown(viewer)
        if not setup.lifted:
            plain(markers, spherical)  # vispy's: flat, or spherical (the setter set ``u_spherical``)
            return
        program.frag["lighting_functions"] = LIFTED_DEPTH.format(ratio=lift_ratio(layer))
        program["u_spherical"] = True  # the vertex shader computes ``v_depth_middle``

    setup.lifted = None
    markers._setup_lighting_functions = setup
    markers.spherical = markers.spherical  # the setter runs ``setup`` (as napari's every slice does)
    return True


def relift(viewer: Any) -> int:
    """Lift the synapse layers' dots, or not, as :func:`plane_shown` says now (call when the EM
    plane is shown or hidden); returns how many layers changed."""
    lifted = plane_shown(viewer)
    changed = 0
    for layer in viewer.layers:
        if layer.metadata.get(METADATA_KEY) not in SYNAPSE_DOTS:
            continue
        markers = points_markers(viewer, layer)
        setup = vars(markers).get("_setup_lighting_functions") if markers is not None else None
        if setup is None or getattr(setup, "lifted", None) in (None, lifted):
            continue
        markers.spherical = markers.spherical
        markers.update()
        changed += 1
    return changed
