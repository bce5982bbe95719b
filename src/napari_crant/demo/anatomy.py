"""The made-up anatomy of the demo brain: volume, neuropils and cell types.

Coordinates are in micrometres in the dataset frame: ``x`` runs left -> right across the
brain (midline at :data:`MIDLINE_X`; the animal's left is ``x < MIDLINE_X``), ``y`` dorsal ->
ventral and ``z`` anterior -> posterior. The sizes are those of an ant central brain.
Everything here is static data; the generator decides how many cells of each type to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Size of the imaged volume in micrometres (x, y, z).
VOLUME_UM: tuple[float, float, float] = (400.0, 300.0, 150.0)
#: x of the midline in micrometres.
MIDLINE_X: float = VOLUME_UM[0] / 2

#: Paired neuropils, given for the left side: name -> (centre, half-size), micrometres.
PAIRED_NEUROPILS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "AL": ((150.0, 225.0, 35.0), (28.0, 28.0, 22.0)),
    "MB_CA": ((120.0, 60.0, 112.0), (35.0, 22.0, 25.0)),
    "MB_PED": ((140.0, 100.0, 80.0), (10.0, 14.0, 18.0)),
    "MB_VL": ((130.0, 80.0, 38.0), (12.0, 28.0, 14.0)),
    "MB_ML": ((170.0, 118.0, 40.0), (22.0, 12.0, 16.0)),
    "LH": ((80.0, 115.0, 95.0), (25.0, 28.0, 25.0)),
    "SLP": ((85.0, 62.0, 62.0), (22.0, 20.0, 20.0)),
    "SMP": ((170.0, 62.0, 62.0), (26.0, 20.0, 24.0)),
    "CRE": ((180.0, 140.0, 46.0), (12.0, 10.0, 12.0)),
    "LAL": ((146.0, 167.0, 62.0), (20.0, 18.0, 18.0)),
    "AOTU": ((95.0, 162.0, 35.0), (15.0, 12.0, 12.0)),
}

#: Unpaired neuropils on the midline: name -> (centre, half-size), micrometres.
CENTRAL_NEUROPILS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "FB": ((MIDLINE_X, 100.0, 85.0), (40.0, 12.0, 14.0)),
    "EB": ((MIDLINE_X, 125.0, 68.0), (22.0, 10.0, 10.0)),
    "PB": ((MIDLINE_X, 75.0, 118.0), (44.0, 6.0, 8.0)),
    "GNG": ((MIDLINE_X, 262.0, 90.0), (45.0, 20.0, 30.0)),
}

#: Number of "zones" (glomeruli, compartments, columns) per neuropil: arbors of neurons that
#: share a zone overlap, which is what makes some partners strong.
ZONES: dict[str, int] = {
    "AL": 36, "MB_CA": 8, "MB_PED": 2, "MB_VL": 5, "MB_ML": 6, "LH": 10, "SLP": 8, "SMP": 10,
    "CRE": 4, "LAL": 6, "AOTU": 4, "FB": 9, "EB": 8, "PB": 9, "GNG": 8,
}


def mirror_x(x: float) -> float:
    """Mirror an x coordinate (micrometres) across the midline."""
    return 2 * MIDLINE_X - x


@dataclass(frozen=True)
class CellType:
    """One cell type of the demo brain (described for the left side if paired).

    Parameters
    ----------
    name
        ``cell_type`` annotation.
    super_class, cell_class
        The coarser annotation levels.
    flow
        ``"intrinsic"``, ``"afferent"`` or ``"efferent"``.
    known_nt
        Transmitter.
    weight
        Relative abundance (both sides together for a paired type).
    soma
        Soma cluster centre (left side), micrometres; ``None`` if the soma lies outside the
        volume (sensory and ascending neurons), in which case ``entry`` is where the axon
        enters the volume.
    dendrites, axons
        Neuropils of the input and output arbors. A trailing ``"*"`` means contralateral.
    dend_nodes, axon_nodes
        Nodes per arbor (~1 um spacing).
    spread
        ``"zone"`` (each arbor fills one zone of its neuropil) or ``"wide"`` (the whole
        neuropil).
    glomerular
        Arbors choose zones by the neuron's glomerulus index (so that matching sensory
        axons and projection-neuron dendrites meet), otherwise at random.
    exit
        For efferent neurons: where the axon leaves the volume (left side), micrometres.
    paired
        Present on both sides; otherwise one population on the midline.
    region, hemilineage, tract, nerve, alternative_names
        Annotation fields (``None`` when unknown).
    n_subtypes
        Number of distinct ``cell_subtype`` values (0: no subtype).
    """

    name: str
    super_class: str
    cell_class: str
    flow: str
    known_nt: str
    weight: float
    soma: tuple[float, float, float] | None
    dendrites: tuple[str, ...]
    axons: tuple[str, ...]
    dend_nodes: int
    axon_nodes: int
    spread: str = "zone"
    glomerular: bool = False
    entry: tuple[float, float, float] | None = None
    exit: tuple[float, float, float] | None = None
    paired: bool = True
    region: str = "central_brain"
    hemilineage: str | None = None
    tract: str | None = None
    nerve: str | None = None
    alternative_names: tuple[str, ...] = ()
    n_subtypes: int = 0


_NECK_L = (190.0, 299.0, 125.0)
_ANTENNAL_NERVE_L = (112.0, 246.0, 0.5)

#: The cell types. Weights are relative; the generator scales them to ``n_neurons``.
CELL_TYPES: tuple[CellType, ...] = (
    # --- olfactory pathway
    CellType("ORN", "sensory", "olfactory_receptor_neuron", "afferent", "acetylcholine", 13.0,
             None, (), ("AL",), 0, 60, glomerular=True, entry=_ANTENNAL_NERVE_L,
             region="peripheral", nerve="AN", alternative_names=("OSN",), n_subtypes=36),
    CellType("uPN", "central", "olfactory_projection_neuron", "intrinsic", "acetylcholine",
             6.0, (150.0, 192.0, 8.0), ("AL",), ("MB_CA", "LH"), 80, 55, glomerular=True,
             hemilineage="ALad1", tract="mALT", alternative_names=("uniglomerular PN",),
             n_subtypes=36),
    CellType("mPN", "central", "olfactory_projection_neuron", "intrinsic", "gaba", 1.5,
             (108.0, 238.0, 20.0), ("AL",), ("LH",), 150, 80, spread="wide",
             hemilineage="ALl1", tract="mlALT", alternative_names=("multiglomerular PN",)),
    CellType("ALLN", "central", "antennal_lobe_local_neuron", "intrinsic", "gaba", 3.5,
             (110.0, 205.0, 30.0), ("AL",), ("AL",), 180, 120, spread="wide",
             hemilineage="ALl1", alternative_names=("LN",)),
    CellType("CSD", "central", "serotonergic", "intrinsic", "serotonin", 0.2,
             (62.0, 150.0, 80.0), ("LH",), ("AL*",), 90, 160, spread="wide",
             alternative_names=("CSD",)),
    # --- mushroom body
    CellType("KC_g", "central", "kenyon_cell", "intrinsic", "acetylcholine", 14.0,
             (118.0, 28.0, 138.0), ("MB_CA",), ("MB_PED", "MB_ML"), 30, 25,
             hemilineage="MBp1", tract="PED", alternative_names=("Kenyon cell",)),
    CellType("KC_ab", "central", "kenyon_cell", "intrinsic", "acetylcholine", 14.0,
             (122.0, 30.0, 140.0), ("MB_CA",), ("MB_VL", "MB_ML"), 30, 25,
             hemilineage="MBp2", tract="PED", alternative_names=("Kenyon cell",)),
    CellType("KC_apbp", "central", "kenyon_cell", "intrinsic", "acetylcholine", 6.0,
             (112.0, 32.0, 139.0), ("MB_CA",), ("MB_VL", "MB_ML"), 30, 25,
             hemilineage="MBp3", tract="PED", alternative_names=("Kenyon cell",)),
    CellType("MBON_ML", "central", "MBON", "intrinsic", "glutamate", 1.2, (128.0, 135.0, 140.0),
             ("MB_ML",), ("SMP", "CRE"), 220, 70, alternative_names=("MBON",), n_subtypes=3),
    CellType("MBON_VL", "central", "MBON", "intrinsic", "acetylcholine", 0.8,
             (95.0, 95.0, 142.0), ("MB_VL",), ("SLP",), 200, 100, alternative_names=("MBON",)),
    CellType("PAM", "central", "DAN", "intrinsic", "dopamine", 2.5, (172.0, 140.0, 6.0),
             ("SMP", "CRE"), ("MB_ML",), 45, 110, hemilineage="CREa1",
             alternative_names=("PAM DAN",), n_subtypes=6),
    CellType("PPL1", "central", "DAN", "intrinsic", "dopamine", 0.4, (100.0, 30.0, 143.0),
             ("SMP",), ("MB_VL",), 80, 140, alternative_names=("PPL1 DAN",)),
    CellType("APL", "central", "MB_intrinsic_GABAergic", "intrinsic", "gaba", 0.2,
             (90.0, 92.0, 132.0), ("MB_ML", "MB_VL"), ("MB_CA",), 250, 350, spread="wide",
             alternative_names=("anterior paired lateral",)),
    CellType("OA_VUMa2", "central", "octopaminergic", "intrinsic", "octopamine", 0.15,
             (MIDLINE_X, 288.0, 60.0), ("GNG",), ("AL", "AL*", "MB_CA", "MB_CA*"), 80, 45,
             spread="wide", paired=False, region="gnathal_ganglion", tract="MBDL"),
    # --- lateral horn / superior protocerebrum
    CellType("LHON", "central", "lateral_horn_output_neuron", "intrinsic", "glutamate", 2.5,
             (45.0, 110.0, 122.0), ("LH",), ("SMP",), 110, 80, hemilineage="LHl2",
             n_subtypes=4),
    CellType("LHON_SLP", "central", "lateral_horn_output_neuron", "intrinsic",
             "acetylcholine", 2.0, (48.0, 88.0, 125.0), ("LH",), ("SLP",), 110, 80,
             hemilineage="LHp1"),
    CellType("LHLN", "central", "lateral_horn_local_neuron", "intrinsic", "gaba", 1.5,
             (38.0, 125.0, 90.0), ("LH",), ("LH",), 140, 90, hemilineage="LHl1"),
    CellType("SMP_bilateral", "central", "superior_protocerebrum_neuron", "intrinsic",
             "glutamate", 1.5, (150.0, 26.0, 72.0), ("SMP",), ("SMP*",), 100, 90,
             hemilineage="SMPad1"),
    CellType("SLP_SMP", "central", "superior_protocerebrum_neuron", "intrinsic",
             "acetylcholine", 2.0, (70.0, 30.0, 95.0), ("SLP",), ("SMP",), 100, 80),
    # --- central complex
    CellType("EPG", "central", "central_complex_columnar", "intrinsic", "acetylcholine", 1.5,
             (178.0, 58.0, 142.0), ("EB",), ("PB",), 40, 40, hemilineage="DM4",
             alternative_names=("E-PG",), n_subtypes=8),
    CellType("PEN", "central", "central_complex_columnar", "intrinsic", "acetylcholine", 1.2,
             (170.0, 55.0, 142.0), ("PB",), ("EB",), 40, 40, hemilineage="DM4",
             alternative_names=("P-EN",)),
    CellType("PFN", "central", "central_complex_columnar", "intrinsic", "acetylcholine", 2.0,
             (165.0, 60.0, 144.0), ("PB",), ("FB",), 40, 60, hemilineage="DM1",
             n_subtypes=3),
    CellType("hDelta", "central", "central_complex_columnar", "intrinsic", "acetylcholine",
             1.5, (186.0, 70.0, 145.0), ("FB",), ("FB",), 60, 60, hemilineage="DM3"),
    CellType("FB_tangential", "central", "central_complex_tangential", "intrinsic",
             "glutamate", 1.5, (130.0, 92.0, 146.0), ("SMP",), ("FB",), 90, 120,
             hemilineage="DL1", n_subtypes=4),
    CellType("ER", "central", "ring_neuron", "intrinsic", "gaba", 1.5, (122.0, 150.0, 18.0),
             ("LAL",), ("EB",), 50, 100, hemilineage="DALcl1", alternative_names=("R neuron",)),
    CellType("PFL", "central", "central_complex_output", "intrinsic", "acetylcholine", 1.0,
             (160.0, 56.0, 145.0), ("PB", "FB"), ("LAL",), 40, 90, hemilineage="DM2"),
    CellType("TuBu", "central", "tubercle_neuron", "intrinsic", "acetylcholine", 1.5,
             (70.0, 176.0, 22.0), ("AOTU",), ("LAL",), 60, 50),
    # --- premotor, descending, ascending, motor
    CellType("LAL_bilateral", "central", "lateral_accessory_lobe_neuron", "intrinsic", "gaba",
             1.5, (120.0, 188.0, 14.0), ("LAL", "CRE"), ("LAL*",), 90, 90,
             hemilineage="LALv1"),
    CellType("DN", "descending", "descending_neuron", "efferent", "acetylcholine", 2.0,
             (140.0, 152.0, 142.0), ("LAL",), ("GNG",), 120, 70, exit=_NECK_L,
             region="central_brain", tract="neck", nerve="CV", n_subtypes=5),
    CellType("AN", "ascending", "ascending_neuron", "afferent", "acetylcholine", 1.5, None,
             (), ("GNG", "LAL"), 0, 70, entry=_NECK_L, region="ventral_nerve_cord",
             nerve="CV"),
    CellType("GNG_LN", "central", "gnathal_local_neuron", "intrinsic", "gaba", 1.5,
             (178.0, 286.0, 80.0), ("GNG",), ("GNG",), 90, 70, region="gnathal_ganglion"),
    CellType("AMN", "motor", "antennal_motor_neuron", "efferent", "acetylcholine", 0.6,
             (165.0, 282.0, 108.0), ("GNG",), ("GNG",), 80, 20, exit=_ANTENNAL_NERVE_L,
             region="gnathal_ganglion", nerve="AN"),
)

#: Fragments (orphan pieces of unreconstructed cells) settle in these neuropils.
FRAGMENT_NEUROPILS: tuple[str, ...] = ("AL", "MB_CA", "LH", "SMP", "LAL", "SLP", "GNG", "FB")
