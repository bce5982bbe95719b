"""Stage 5 of the demo: segmentation errors and the proofreading edits that fix them.

Some neurons start broken into pieces, some falsely merged with parts of others or with an
orphan fragment; merges and splits over ~15 months fix them (plus wrong merges that get
reverted). :func:`plan_edits` picks the errors, :func:`schedule_edits` gives every edit a
time so that every interval between materialization versions has edits and some come after
the newest version.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np

from napari_crant.demo.arbors import subtree_mask
from napari_crant.demo.contacts import Contacts
from napari_crant.demo.morphology import AXON, DENDRITE, NEURITE, Nodes, node_index_dtype
from napari_crant.demo.population import Cells
from napari_crant.demo.timeline import EDITS_END, START, US_PER_DAY, VERSIONS, timestamp_us


@dataclass
class Scenario:
    """One proofreading episode: the error, the initial roots it makes and the edits.

    Groups are ``(entity, piece)`` pairs (piece 0 is a cell's main body).
    """

    kind: str
    neurons: list[int]
    initial: list[list[tuple[int, int]]]  # groups (entity, piece) forming one initial root
    ops: list[tuple]  # ("merge", g1, g2) | ("split", [groups to separate])
    false_edges: list[tuple[int, int]]  # node pairs that become L2 contacts
    times: list[int] = field(default_factory=list)


SCENARIO_KINDS = ("broken", "broken2", "false_piece", "false_whole", "bad_merge")
SCENARIO_P = (0.3, 0.15, 0.25, 0.15, 0.15)
#: Contacts sorted into the pools false merges are drawn from at once.
_POOL_BLOCK = 1 << 22


@dataclass
class EditPlan:
    """The errors to fix: the piece label of every node (0: main body) and the episodes."""

    piece: np.ndarray  # (N,) int8
    scenarios: list[Scenario]

    def edited_entities(self, n_entities: int) -> np.ndarray:
        """Boolean mask of the cells (neurons and fragments) that any edit touches."""
        edited = np.zeros(n_entities, dtype=bool)
        for sc in self.scenarios:
            edited[sc.neurons] = True
            for op in sc.ops:
                for g in op[1:]:
                    for e, _ in ([g] if isinstance(g, tuple) else g):
                        edited[e] = True
        return edited


def _contact_pools(nodes: Nodes, n: int, ca: np.ndarray, cd: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The contacts between two neurons, and between a neuron and an orphan fragment
    (indices, in 4 bytes while they fit), found :data:`_POOL_BLOCK` contacts at a time: once
    to count them, once to fill the pools in place (no list of parts joined at the end)."""
    index = node_index_dtype(len(ca))

    def kinds(s: int) -> tuple[np.ndarray, np.ndarray]:
        a_neuron = nodes.entity[ca[s:s + _POOL_BLOCK]] < n
        d_neuron = nodes.entity[cd[s:s + _POOL_BLOCK]] < n
        return a_neuron & d_neuron, a_neuron != d_neuron

    sizes = np.zeros(2, dtype=np.int64)
    for s in range(0, len(ca), _POOL_BLOCK):
        sizes += [np.count_nonzero(m) for m in kinds(s)]
    pools = (np.empty(int(sizes[0]), index), np.empty(int(sizes[1]), index))
    filled = [0, 0]
    for s in range(0, len(ca), _POOL_BLOCK):
        for i, m in enumerate(kinds(s)):
            at = np.flatnonzero(m) + s
            pools[i][filled[i]:filled[i] + len(at)] = at
            filled[i] += len(at)
    return pools


def plan_edits(nodes: Nodes, cells: Cells, contacts: Contacts,
               rng: np.random.Generator) -> EditPlan:
    """Choose the segmentation errors and the edits that fix them (not yet timed).

    Parameters
    ----------
    nodes, cells, contacts
        Results of the earlier stages; false merges happen at contacts.
    rng
        Random generator of this stage.

    Returns
    -------
    EditPlan
    """
    ca, cd = contacts.pre, contacts.post
    n = cells.n_neurons
    piece = np.zeros(len(nodes.entity), dtype=np.int8)
    used = np.zeros(len(cells.ctype), dtype=bool)
    n_scen = max(6, round(0.05 * n))
    kinds = rng.choice(len(SCENARIO_KINDS), n_scen, p=SCENARIO_P)
    kinds[:5] = rng.permutation(5)  # each kind at least once
    nn_contacts, nf_contacts = _contact_pools(nodes, n, ca, cd)
    scenarios: list[Scenario] = []

    def cut(e: int, label: int, at: int | None = None) -> bool:
        s0, s1 = nodes.start[e], nodes.start[e + 1]
        par = nodes.parent[s0:s1] - s0
        par[par < 0] = -1
        size = s1 - s0
        for _ in range(25):
            if at is None:
                cand = np.flatnonzero(nodes.comp[s0 + 1:s1] >= NEURITE) + 1
                if len(cand) == 0:
                    return False
                v = int(rng.choice(cand))
            else:
                v = at - s0
            m = subtree_mask(par, v)
            ok = (3 <= m.sum() <= 0.5 * size and m.sum() >= 0.04 * size
                  and not piece[s0:s1][m].any())
            if ok:
                piece[s0:s1][m] = label
                return True
            if at is not None:
                return False
        return False

    def ancestor(node: int, steps: int) -> int:
        for _ in range(steps):
            p = nodes.parent[node]
            if p < 0 or nodes.comp[p] not in (DENDRITE, AXON):
                break
            node = int(p)
        return node

    def free_neuron() -> int | None:
        for _ in range(50):
            e = int(rng.integers(0, n))
            if not used[e]:
                return e
        return None

    def free_contact(pool: np.ndarray) -> tuple[int, int] | None:
        for _ in range(50):
            if len(pool) == 0:
                return None
            c = int(rng.choice(pool))
            a, d = int(ca[c]), int(cd[c])
            if not used[nodes.entity[a]] and not used[nodes.entity[d]]:
                return (a, d) if rng.random() < 0.5 else (d, a)
        return None

    for kind_i in kinds:
        kind = SCENARIO_KINDS[kind_i]
        if kind in ("broken", "broken2"):
            e = free_neuron()
            if e is None or not cut(e, 1):
                continue
            ops = [("merge", (e, 0), (e, 1))]
            if kind == "broken2" and cut(e, 2):
                ops.append(("merge", (e, 0), (e, 2)))
            used[e] = True
            scenarios.append(Scenario(kind, [e], [], ops, []))
        elif kind == "false_piece":
            pair = free_contact(nn_contacts)
            if pair is None:
                continue
            x, y = pair  # node x of neuron A touches node y of neuron B
            a, b = int(nodes.entity[x]), int(nodes.entity[y])
            steps = int(rng.integers(2, 9))
            if not any(cut(b, 1, at=ancestor(y, steps + extra)) for extra in (0, 4, 10, 25)):
                continue
            used[[a, b]] = True
            scenarios.append(Scenario(kind, [a, b], [[(a, 0), (b, 1)]],
                                       [("split", [(b, 1)]), ("merge", (b, 0), (b, 1))],
                                       [(x, y)]))
        elif kind == "false_whole":
            pair = free_contact(nn_contacts)
            if pair is None:
                continue
            x, y = pair
            a, b = int(nodes.entity[x]), int(nodes.entity[y])
            used[[a, b]] = True
            scenarios.append(Scenario(kind, [a, b], [[(a, 0), (b, 0)]],
                                       [("split", [(b, 0)])], [(x, y)]))
        else:  # a fragment merged into a neuron by mistake, then split off again
            pair = free_contact(nf_contacts)
            if pair is None:
                continue
            x, y = pair
            a, f = int(nodes.entity[x]), int(nodes.entity[y])
            if a >= n:
                a, f, x, y = f, a, y, x
            used[[a, f]] = True
            scenarios.append(Scenario(kind, [a], [],
                                       [("merge", (a, 0), (f, 0)), ("split", [(f, 0)])],
                                       [(x, y)]))
    return EditPlan(piece, scenarios)


def schedule_edits(plan: EditPlan, rng: np.random.Generator) -> EditPlan:
    """Give every operation a time; make sure every interval between versions has edits.

    Parameters
    ----------
    plan
        From :func:`plan_edits` (not modified).
    rng
        Random generator of this stage.

    Returns
    -------
    EditPlan
        The same errors, every scenario with ``times`` (int64 us, one per operation).
    """
    scenarios = [dataclasses.replace(sc) for sc in plan.scenarios]
    t0 = timestamp_us(START) + US_PER_DAY
    bounds = [t0] + [timestamp_us(v[1]) for v in VERSIONS] + [timestamp_us(EDITS_END)]
    windows = list(itertools.pairwise(bounds))[::-1]  # newest first
    order = rng.permutation(len(scenarios))
    for rank, i in enumerate(order):
        sc = scenarios[i]
        lo, hi = windows[rank] if rank < len(windows) else (bounds[0], bounds[-1])
        times = np.sort(rng.integers(lo, hi, len(sc.ops)))
        if rank == 0 and len(sc.ops) > 1:
            # after the newest version: its earlier edits come before, only the last one after
            times[:-1] = np.sort(rng.integers(bounds[0], lo, len(sc.ops) - 1))
        sc.times = [int(t) for t in times]
    return EditPlan(plan.piece, scenarios)
