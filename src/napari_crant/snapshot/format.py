"""Names and versions of the snapshot format (see ``docs/snapshot-format.md``)."""

FORMAT_NAME = "napari-crant-snapshot"
FORMAT_VERSION = 3
MANIFEST = "manifest.json"

#: Files memory-mapped on open (Arrow IPC, uncompressed, one record batch each).
#: Grouped by presynaptic root at the layout moment (``snapshot/layout.py``).
SYNAPSES = "synapses.arrow"
#: The post-side copy (counting columns), grouped by postsynaptic root at the layout moment.
SYNAPSES_POST = "synapses_post.arrow"
#: Each root's slice (at the layout moment) of ``synapses.arrow`` and ``synapses_post.arrow``.
SYNAPSES_ROOTS = "synapses_roots.arrow"
#: Each L2 chunk's run of rows in ``synapses.arrow`` (pre side) and ``synapses_post.arrow``.
SYNAPSES_PRE_L2 = "synapses_pre_l2.arrow"
SYNAPSES_POST_L2 = "synapses_post_l2.arrow"
ROOT_L2 = "root_l2.arrow"
L2_ROOTS = "l2_roots.arrow"
L2 = "l2.arrow"
SUPERVOXELS = "supervoxels.arrow"
L2_EDGES = "l2_edges.arrow"
#: Optional: fine skeletons (nodes in nm, parent row, L2 chunk, supervoxel, compartment).
SKELETON_NODES = "skeleton_nodes.arrow"

#: Small tables, read whole on first use (Parquet).
VERSIONS = "versions.parquet"
ROOTS = "roots.parquet"
LINEAGE = "lineage.parquet"
ANNOTATIONS = "annotations.parquet"
NUCLEI = "nuclei.parquet"
NEUROPILS = "neuropils.parquet"

#: Far-future stand-in for "never expired" in int64 microsecond columns.
NEVER_US = 2**62

#: CRANTb annotation fields (SeaTable); list-valued ones hold ``list[str]``.
ANNOTATION_FIELDS = (
    "root_id", "supervoxel_id", "nucleus_id", "proofread", "status", "region", "side",
    "nerve", "tract", "hemilineage", "flow", "super_class", "cell_class", "cell_type",
    "cell_subtype", "cell_instance", "known_nt", "alternative_names", "annotator_notes",
    "user_proofreader", "date_proofread",
)
LIST_ANNOTATION_FIELDS = ("status", "alternative_names")
