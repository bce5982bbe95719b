"""Sample data: "CRANTb demo neuron" (a demo neuron and its strongest partners)."""

from typing import Any

#: how many of the demo neuron's strongest partners the sample loads too
SAMPLE_PARTNERS = 3


def demo_neuron_sample() -> list[tuple[Any, dict[str, Any], str]]:
    """Layers of the demo neuron and its top partners (skeletons, somata, synapses).

    Builds the demo dataset into the cache on first use. When a viewer is open, the
    neurons also join that viewer's napari-crant session, so the partner table and the
    adjacency dock show them and later loads add to the same layers (opening the sample
    again replaces this package's layers with ones holding every loaded neuron).
    """
    import napari

    from napari_crant._qt.session import find_layers, get_session
    from napari_crant.scene.layer_data import Scene
    from napari_crant.scene.loading import load_neurons, pick_demo_neuron, run_to_end

    neuron = pick_demo_neuron("demo")
    result = run_to_end(load_neurons([neuron], dataset="demo", top_partners=SAMPLE_PARTNERS))
    viewer = napari.current_viewer()
    if viewer is None:
        scene = Scene()
        scene.add(result)
        return scene.layers()
    session = get_session(viewer)
    session.params.dataset = "demo"
    session.scene.add(result)
    # napari adds the returned layers itself: drop ours first so they are not doubled
    for kind in ("skeletons", "somata", "pre", "post", "highlight"):
        for layer in find_layers(viewer, kind):  # every batch's
            viewer.layers.remove(layer)
    session.batches.reset()  # napari adds the returned layers: the next load adopts them
    layers = session.scene.layers(session.color_by)
    session.changed.emit()
    return layers
