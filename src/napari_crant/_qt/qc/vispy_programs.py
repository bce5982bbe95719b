"""Keeping a Vectors layer's GL program when its data changes (the QC partner's skeleton).

napari draws a Vectors layer as a vispy ``MeshVisual``. At every ``set_data`` (each new partner
skeleton, each re-slice) the mesh visual builds a *new* colour-transform shader function
(``MeshVisual._build_color_transform``); vispy compares shader functions by identity, so the
program's code counts as changed and is regenerated, compiled and relinked at the next paint,
although its text is the same. Under Mesa's software OpenGL that relink is a large part of the
paint after a step. :func:`keep_mesh_program` gives one layer's mesh visual the same function
object back for the same kind of colours, so a new skeleton uploads its vertices and colours
only.
"""

from typing import Any


def layer_visual(viewer: Any, layer: Any) -> Any:
    """The vispy visual drawing ``layer`` in ``viewer``'s canvas (``None``: no canvas, or not found)."""
    try:
        return viewer.window._qt_viewer.canvas.layer_to_visual[layer].node
    except (AttributeError, KeyError, RuntimeError):
        return None


def keep_mesh_program(viewer: Any, layer: Any) -> bool:
    """Make ``layer``'s mesh visual reuse its colour-transform function while the colours are RGBA
    (face or vertex colours), so that new data does not relink its program; whether it was done.

    Colours given as values (a colormap) keep vispy's own behaviour. Idempotent.
    """
    node = layer_visual(viewer, layer)
    build = getattr(node, "_build_color_transform", None)
    if node is None or build is None:
        return False
    if getattr(build, "_keeps_program", False):
        return True
    kept: dict[str, Any] = {}

    def same_color_transform(colors: Any) -> Any:
        if getattr(colors, "ndim", 0) == 2 and colors.shape[1] == 1:
            return build(colors)  # values through a colormap: clim uniforms, vispy's own
        if "rgba" not in kept:
            kept["rgba"] = build(colors)
        return kept["rgba"]

    same_color_transform._keeps_program = True  # type: ignore[attr-defined]
    node._build_color_transform = same_color_transform
    return True
