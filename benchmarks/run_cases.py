"""What each case of ``benchmarks/run.py`` runs: napari-crant (snapshot or CAVE source) and the
full-scan baselines (pandas mask + groupby, pyarrow Parquet scan), on the inputs of
``bench_data.pick_inputs``."""

from __future__ import annotations

# case name -> (description, number of neurons it takes)
CASES = {
    "open_snapshot": ("open a snapshot and answer a first root lookup", 1),
    "connectivity_1": ("get_connectivity, 1 neuron", 1),
    "connectivity_100": ("get_connectivity, 100 neurons", 100),
    "synapses_1": ("get_synapses (pre and post of 1 neuron)", 1),
    "adjacency_500": ("get_adjacency, 500 x 500 neurons", 500),
    "synapse_counts_1000": ("get_synapse_counts, 1,000 neurons", 1000),
    "update_ids_10000": ("update_ids, 10,000 IDs (half outdated), cache cleared", 10000),
    "attach_synapses_100": ("attach_synapses, 100 neurons (skeletons prebuilt)", 100),
    "l2_skeleton_1": ("get_l2_skeleton, 1 neuron", 1),
    "layer_data_1": ("napari layer data from loaded results, 1 neuron", 1),
    "layer_data_100": ("napari layer data from loaded results, 100 neurons", 100),
    "load_neurons_1": ("load for the canvas (skeleton, synapses, partners) + layer data, 1 neuron", 1),
    "load_neurons_100": ("load for the canvas + layer data, 100 neurons", 100),
}
BASELINE_CASES = ("connectivity_1", "connectivity_100", "synapses_1", "adjacency_500",
                  "synapse_counts_1000")
CAVE_CASES = (*BASELINE_CASES, "update_ids_10000", "l2_skeleton_1")


def _napari_crant_case(nc, case, dataset, inputs, clear_cache):
    one, hundred = inputs["one"], inputs["hundred"]
    if case == "connectivity_1":
        return lambda: nc.get_connectivity(one, dataset=dataset)
    if case == "connectivity_100":
        return lambda: nc.get_connectivity(hundred, dataset=dataset)
    if case == "synapses_1":
        return lambda: (nc.get_synapses(pre_ids=one, dataset=dataset),
                        nc.get_synapses(post_ids=one, dataset=dataset))
    if case == "adjacency_500":
        return lambda: nc.get_adjacency(inputs["five_hundred"], inputs["five_hundred"], dataset=dataset)
    if case == "synapse_counts_1000":
        return lambda: nc.get_synapse_counts(inputs["thousand"], dataset=dataset)
    if case == "update_ids_10000":
        def fn():
            clear_cache()
            return nc.update_ids(inputs["ten_thousand"], dataset=dataset)
        return fn
    if case == "l2_skeleton_1":
        return lambda: nc.get_l2_skeleton(one, dataset=dataset)
    if case == "attach_synapses_100":
        skels = nc.get_l2_skeleton(hundred, dataset=dataset)
        return lambda: nc.attach_synapses(skels, dataset=dataset)
    if case.startswith(("layer_data_", "load_neurons_")):
        from napari_crant.scene.layer_data import Scene
        from napari_crant.scene.loading import load_neurons, run_to_end

        ids = one if case.endswith("_1") else hundred

        def build(result):
            scene = Scene()
            scene.add(result)
            return scene.layers()

        if case.startswith("layer_data_"):
            loaded = run_to_end(load_neurons(ids, dataset=dataset))
            return lambda: build(loaded)
        return lambda: build(run_to_end(load_neurons(ids, dataset=dataset)))
    raise ValueError(case)


def _pandas_case(pd, df, case, inputs):
    def conn(ids):
        m = df["pre_pt_root_id"].isin(ids) | df["post_pt_root_id"].isin(ids)
        sel = df[m]
        sel = sel[(sel["pre_pt_root_id"] != sel["post_pt_root_id"]) & (sel["pre_pt_root_id"] != 0)
                  & (sel["post_pt_root_id"] != 0)]
        return sel.groupby(["pre_pt_root_id", "post_pt_root_id"]).size().sort_values(ascending=False)

    if case == "connectivity_1":
        return lambda: conn(inputs["one"])
    if case == "connectivity_100":
        return lambda: conn(inputs["hundred"])
    if case == "synapses_1":
        return lambda: (df[df["pre_pt_root_id"].isin(inputs["one"])],
                        df[df["post_pt_root_id"].isin(inputs["one"])])
    if case == "adjacency_500":
        ids = inputs["five_hundred"]

        def adj():
            sel = df[df["pre_pt_root_id"].isin(ids) & df["post_pt_root_id"].isin(ids)]
            return pd.crosstab(sel["pre_pt_root_id"], sel["post_pt_root_id"])
        return adj
    if case == "synapse_counts_1000":
        ids = inputs["thousand"]

        def counts():
            c = conn(ids).reset_index()
            return (c.groupby("pre_pt_root_id").size(), c.groupby("post_pt_root_id").size())
        return counts
    raise ValueError(case)


def _pyarrow_case(case, parquet, inputs):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    dset = ds.dataset(parquet, format="parquet")

    def scan(pre=None, post=None, either=None):
        if either is not None:
            arr = pa.array(either, pa.uint64())
            expr = pc.is_in(ds.field("pre_pt_root_id"), arr) | pc.is_in(ds.field("post_pt_root_id"), arr)
        elif pre is not None and post is not None:
            expr = (pc.is_in(ds.field("pre_pt_root_id"), pa.array(pre, pa.uint64()))
                    & pc.is_in(ds.field("post_pt_root_id"), pa.array(post, pa.uint64())))
        elif pre is not None:
            expr = pc.is_in(ds.field("pre_pt_root_id"), pa.array(pre, pa.uint64()))
        else:
            expr = pc.is_in(ds.field("post_pt_root_id"), pa.array(post, pa.uint64()))
        return dset.to_table(filter=expr)

    def conn(ids):
        t = scan(either=ids)
        return t.group_by(["pre_pt_root_id", "post_pt_root_id"]).aggregate([("id", "count")])

    if case == "connectivity_1":
        return lambda: conn(inputs["one"])
    if case == "connectivity_100":
        return lambda: conn(inputs["hundred"])
    if case == "synapses_1":
        return lambda: (scan(pre=inputs["one"]), scan(post=inputs["one"]))
    if case == "adjacency_500":
        ids = inputs["five_hundred"]
        return lambda: scan(pre=ids, post=ids).group_by(
            ["pre_pt_root_id", "post_pt_root_id"]).aggregate([("id", "count")])
    if case == "synapse_counts_1000":
        return lambda: conn(inputs["thousand"])
    raise ValueError(case)

