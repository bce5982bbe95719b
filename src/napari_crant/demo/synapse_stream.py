"""Stages 8-9 of the demo in bounded memory: synapses drawn by blocks of rows, staged on disk.

:class:`SynapseStream` draws the synapses of :mod:`napari_crant.demo.synapses` block by block
(:data:`BLOCK` rows), writes each block to a staging file as it goes, plants the anomalies of
:mod:`napari_crant.demo.anomalies` (reading the few rows they copy back from the file) and
draws every random number of stages 8-9 in the order the in-memory stages did. Then
:meth:`SynapseStream.batches` reads the staging file back block by block and gives each row
its ID (detection order: the rank of the row's coarse chunk, found from per-chunk counts, no
global sort), so what stays in memory is a few bytes per synapse (flags, ID offsets) and one
block. Up to :data:`BLOCK` rows (and :data:`DRAW_CHUNK` contacts) the random streams are
exactly those of drawing everything at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from napari_crant.demo import anatomy
from napari_crant.demo.anomalies import plant_rows
from napari_crant.demo.arrays import hash_normal, rank_in_run, runs
from napari_crant.demo.chunks import CHUNK_NM, VOXEL_RESOLUTION, Chunks
from napari_crant.demo.contacts import Contacts
from napari_crant.demo.morphology import Nodes
from napari_crant.demo.population import Cells
from napari_crant.demo.spill import OnDisk
from napari_crant.demo.synapses import POSITION_COLUMNS, synapse_rows
from napari_crant.snapshot.key_files import release_pages

#: Synapse rows drawn (and later numbered) at once.
BLOCK = 1 << 21
#: Synapse rows read back and numbered at once by :meth:`SynapseStream.batches` (any size
#: gives the same rows and IDs).
READ_BLOCK = 1 << 20
#: Contacts and IDs drawn at once.
DRAW_CHUNK = 1 << 24
#: Columns of the ``synapses`` table other than ``id``, in table order.
COLUMNS = ("pre_pt_supervoxel_id", "post_pt_supervoxel_id", "size", *POSITION_COLUMNS)
_STAGE = np.dtype([("pre_pt_supervoxel_id", "u8"), ("post_pt_supervoxel_id", "u8"),
                   ("size", "i4"), *[(c, "i4") for c in POSITION_COLUMNS]])
_INT32 = np.iinfo(np.int32)
#: Bits of a drawn row's flags: on an orphan fragment (either side), clean (anomalies may
#: copy it), postsynaptic site unsegmented.
_PRE_ON_FRAGMENT, _POST_ON_FRAGMENT, _CLEAN, _UNSEGMENTED = 1, 2, 4, 8
#: Ranks per stored ID offset (the others are 16-bit steps from it: 3 * 4095 < 2**16).
_OFFSET_RUN = 4096


def _detection_key(ctr: dict[str, np.ndarray] | np.ndarray) -> np.ndarray:
    """Coarse chunk (4 x 4 x 4 L2 chunks) of every centre point: synapse IDs follow it."""
    skey = np.zeros(len(ctr["ctr_pt_position_x"]), dtype=np.int64)
    for i, ax in enumerate("xyz"):
        c = ctr[f"ctr_pt_position_{ax}"] * (VOXEL_RESOLUTION[i] / CHUNK_NM[i] / 4)
        c = np.clip(np.floor(c), 0, 1023).astype(np.int64)
        c <<= 20 - 10 * i
        skey |= c
    return skey


class _CleanPool:
    """The rows anomalies are planted from (clean rows; all rows if none), by position."""

    def __init__(self, flags: np.ndarray):
        self._flags = flags
        per = np.add.reduceat((flags & _CLEAN) > 0, np.arange(0, len(flags), BLOCK)) \
            if len(flags) else np.zeros(0, np.int64)
        self._before = np.concatenate([[0], np.cumsum(per)]).astype(np.int64)
        self._all = self._before[-1] == 0

    def __len__(self) -> int:
        return len(self._flags) if self._all else int(self._before[-1])

    def __getitem__(self, k: int) -> int:
        if self._all:
            return int(k)
        b = int(np.searchsorted(self._before, k, "right")) - 1
        block = self._flags[b * BLOCK:(b + 1) * BLOCK] & _CLEAN
        return b * BLOCK + int(np.flatnonzero(block)[k - self._before[b]])

    def choice(self, rng: np.random.Generator, m: int) -> list[int]:
        """``rng.choice(pool, m, replace=False)`` without the pool array."""
        return [self[int(k)] for k in rng.choice(len(self), m, replace=False)]


def _contact_of(first_row: np.ndarray | OnDisk, row: int) -> int:
    """The contact of synapse ``row``: the last ``c`` with ``first_row[c] <= row``
    (``np.searchsorted(first_row, row, "right") - 1``, by single reads if on disk)."""
    if isinstance(first_row, np.ndarray):
        return int(np.searchsorted(first_row, row, "right")) - 1
    lo, hi = 0, len(first_row) - 1  # first_row[lo] <= row < first_row[hi]
    while hi - lo > 4096:
        mid = (lo + hi) // 2
        if first_row[mid] <= row:
            lo = mid
        else:
            hi = mid
    return lo + int(np.searchsorted(first_row[lo:hi + 1], row, "right")) - 1


class _Kept:
    """The kept contacts' arrays as :meth:`SynapseStream.contact_synapses` makes them, in
    parts: joined in memory, or appended to raw files in ``scratch`` and read back
    :class:`OnDisk`."""

    def __init__(self, scratch: Path | None, node_dtype: np.dtype):
        self.scratch = None if scratch is None else Path(scratch)
        self.dtypes = {"pre": node_dtype, "post": node_dtype, "first_row": np.dtype(np.int64)}
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in self.dtypes}
        if self.scratch is not None:
            self.scratch.mkdir(parents=True, exist_ok=False)
            for k in self.dtypes:
                (self.scratch / f"{k}.raw").touch()

    def add(self, name: str, values: np.ndarray) -> None:
        values = values.astype(self.dtypes[name], copy=False)
        if self.scratch is None:
            self.parts[name].append(values)
        else:
            with open(self.scratch / f"{name}.raw", "ab") as f:
                values.tofile(f)

    def result(self) -> dict[str, np.ndarray | OnDisk]:
        if self.scratch is not None:
            return {k: OnDisk(self.scratch / f"{k}.raw", t) for k, t in self.dtypes.items()}
        return {k: np.concatenate(self.parts.pop(k)) if self.parts[k] else np.zeros(0, t)
                for k, t in self.dtypes.items()}


class SynapseStream:
    """The demo's synapses, drawn to a staging file; see the module docstring.

    Parameters
    ----------
    nodes, cells, ch
        Results of the earlier stages.
    drawn
        The contacts kept and their first rows, from :meth:`contact_synapses` with the same
        ``rng`` (arrays, or files read a block of rows at a time); emptied once the rows are
        drawn.
    edited
        Boolean mask of the cells any edit touches (anomalies are planted on others).
    rng
        Random generator of the synapse stage.
    staging
        File for the staged rows (removed by :meth:`close`).
    """

    def __init__(self, nodes: Nodes, cells: Cells, ch: Chunks,
                 drawn: dict[str, np.ndarray | OnDisk], edited: np.ndarray,
                 rng: np.random.Generator, staging: str | Path):
        self.path = Path(staging)
        pre, post, first_row = drawn["pre"], drawn["post"], drawn["first_row"]
        self.n_regular = int(first_row[-1])
        self._flags = np.zeros(self.n_regular, dtype=np.uint8)
        keys: list[np.ndarray] = []
        n = cells.n_neurons
        c0 = 0  # the contact of the block's first row
        with open(self.path, "wb") as out:
            for s in range(0, self.n_regular, BLOCK):
                rows = np.arange(s, min(s + BLOCK, self.n_regular), dtype=np.int64)
                # every contact has a row or more: the block's are among len(rows) + 1 from c0
                window = first_row[c0:c0 + len(rows) + 1]
                contact = np.searchsorted(window, rows, "right") - 1
                a, d = pre[c0:c0 + len(window)][contact], post[c0:c0 + len(window)][contact]
                c0 += int(contact[-1])
                del window, contact
                cols = synapse_rows(nodes, ch, a, d, rng)
                ea, ed = nodes.entity[a], nodes.entity[d]
                clean = (ea < n) & (ed < n) & ~edited[ea] & ~edited[ed]
                self._flags[rows] = ((ea >= n) * _PRE_ON_FRAGMENT + (ed >= n) * _POST_ON_FRAGMENT
                                     + clean * _CLEAN)
                keys.append(np.unique(_detection_key(cols)))
                out.write(self._stage(cols).view(np.uint8))  # no bytes copy
                del cols, a, d, ea, ed, clean
                # mapped nodes and contacts (make_demo's) leave the resident set a block at a time
                release_pages(nodes.pos, nodes.parent, nodes.entity, nodes.comp, ch.l2_of_node,
                              pre, post)

        del pre, post, first_row

        def row_of(i: int) -> tuple[dict[str, np.ndarray], int, int]:
            c = _contact_of(drawn["first_row"], i)
            rec = self._read(i, i + 1)[0]
            return ({k: np.array([rec[k]], dtype=np.uint64 if k.endswith("_id") else np.int64)
                     for k in COLUMNS}, int(drawn["pre"][c]), int(drawn["post"][c]))

        self.planted, self.planted_rows = plant_rows(nodes, cells, ch, self.n_regular, row_of,
                                                     _CleanPool(self._flags), rng)
        drawn.clear()  # the contacts are no longer needed
        for s in range(0, self.n_regular, BLOCK):  # unsegmented postsynaptic sites
            e = min(s + BLOCK, self.n_regular)
            self._flags[s:e] |= (rng.random(e - s) < 0.01).view(np.uint8) * np.uint8(_UNSEGMENTED)
        self.total = self.n_regular + len(self.planted["size"])
        # IDs in detection order: ranks come from counts per coarse chunk
        keys.append(_detection_key(self.planted))
        self._keys = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
        # the ID offset of every rank (growing by 1-3): the offset of the first rank of each
        # run of _OFFSET_RUN ranks, and the rest as small steps from it (2 bytes a synapse)
        self._offset_base = np.zeros(-(-self.total // _OFFSET_RUN), dtype=np.uint64)
        self._offset_step = np.empty(self.total, dtype=np.uint16)
        carry = 0
        for s in range(0, self.total, DRAW_CHUNK):
            inc = np.cumsum(rng.integers(1, 4, min(DRAW_CHUNK, self.total - s))) + carry
            first = np.arange(-(-s // _OFFSET_RUN) * _OFFSET_RUN, s + len(inc), _OFFSET_RUN)
            self._offset_base[first // _OFFSET_RUN] = inc[first - s]
            for lo in range(0, len(inc), BLOCK):  # the steps a block at a time
                part = inc[lo:lo + BLOCK]
                run = np.arange(s + lo, s + lo + len(part)) // _OFFSET_RUN
                self._offset_step[s + lo:s + lo + len(part)] = (
                    part - self._offset_base[run].astype(np.int64))
                del part, run
            carry = int(inc[-1])
            del inc
        self._count_keys()
        self.anomalies: dict[str, list[int]] = {}

    @staticmethod
    def contact_synapses(nodes: Nodes, cells: Cells, contacts: Contacts, per_neuron: float,
                         rng: np.random.Generator, seed: int, scratch: Path | None = None
                         ) -> dict[str, np.ndarray | OnDisk]:
        """The contacts kept (``pre``, ``post`` nodes) and the first synapse row of each
        (``first_row``; ``first_row[-1]``: total): the stage's first random draws.

        The contacts' ``pre`` and ``post`` may be arrays or anything read a slice at a time
        (:class:`~napari_crant.demo.spill.OnDisk`); with ``scratch`` (a new directory) the
        results are written there and read back a slice at a time, so what the stage holds
        is the weights of the kept contacts while they are drawn, and a window of rows.

        Parameters
        ----------
        nodes, cells, contacts
            Results of the earlier stages.
        per_neuron
            Target number of synapses per neuron.
        rng
            Random generator of the synapse stage (then handed to :class:`SynapseStream`).
        seed
            The demo's seed (salts the per-neuron-pair affinity hash).

        Returns
        -------
        dict
            ``pre``, ``post`` and ``first_row`` arrays, for :class:`SynapseStream`.
        """
        ca, cd = contacts.pre, contacts.post
        n_types = len(anatomy.CELL_TYPES)
        aff = rng.lognormal(0.0, 0.7, (n_types + 1, n_types + 1))
        aff[rng.random(aff.shape) < 0.1] = 0.0  # some type pairs never connect
        aff[n_types, :] = 0.3  # orphan fragments: few synapses each
        aff[:, n_types] = 0.3
        ctype = cells.ctype.astype(np.int16)

        def weights(lo: int, hi: int) -> np.ndarray:
            """Weight of contacts ``lo:hi``: cell-type affinity x a per-neuron-pair
            log-normal factor (element-wise: any slices give the same values)."""
            w = np.empty(hi - lo, dtype=np.float32)
            for s in range(lo, hi, BLOCK):
                e = min(s + BLOCK, hi)
                ea, ed = nodes.entity[ca[s:e]], nodes.entity[cd[s:e]]
                pair_key = ea.astype(np.uint64) * np.uint64(1 << 32) + ed.astype(np.uint64)
                w[s - lo:e - lo] = aff[ctype[ea], ctype[ed]] * np.exp(hash_normal(pair_key,
                                                                                  seed))
                release_pages(nodes.entity, ca, cd)  # mapped ones leave the resident set
            return w

        # the weights are computed twice, DRAW_CHUNK contacts at a time (the contacts may be
        # read from disk a slice at a time): once to count the connecting ones, once to thin
        # them out; only the kept contacts are held
        n_contacts = len(ca)
        target = per_neuron * cells.n_neurons
        c = sum(int((weights(s, min(s + DRAW_CHUNK, n_contacts)) > 0).sum())
                for s in range(0, n_contacts, DRAW_CHUNK))
        out = _Kept(scratch, ca.dtype)
        w_kept: list[np.ndarray] = []
        for s in range(0, n_contacts, DRAW_CHUNK):
            e = min(s + DRAW_CHUNK, n_contacts)
            w = weights(s, e)
            keep = w > 0
            if c * 1.2 > target:
                keep &= rng.random(e - s) < target / (1.2 * c)
            w_kept.append(w[keep])
            out.add("pre", ca[s:e][keep])
            out.add("post", cd[s:e][keep])
            del w, keep
        w = np.concatenate(w_kept) if w_kept else np.zeros(0, np.float32)
        del w_kept
        c = len(w)
        per_contact = min(target / max(c, 1), 6.0)  # few contacts: fewer synapses, not huge ones
        lam = max(per_contact - 1.0, 0.0) / max(float(w.mean()) if c else 1.0, 1e-9)
        # the running sum of the rows per contact, a chunk at a time (integers: exact)
        out.add("first_row", np.zeros(1, dtype=np.int64))
        carry = 0
        for s in range(0, c, DRAW_CHUNK):
            e = min(s + DRAW_CHUNK, c)
            part = np.cumsum(1 + rng.poisson(lam * w[s:e]))
            part += carry
            carry = int(part[-1])
            out.add("first_row", part)
            del part
        return out.result()

    @staticmethod
    def _stage(cols: dict[str, np.ndarray]) -> np.ndarray:
        rec = np.empty(len(cols["size"]), dtype=_STAGE)
        for k in COLUMNS:
            v = cols[k]
            if rec.dtype[k] == np.int32 and len(v) and (v.min() < _INT32.min
                                                        or v.max() > _INT32.max):
                raise ValueError(f"synapse column {k!r} does not fit int32")
            rec[k] = v
        return rec

    def _read(self, start: int, stop: int) -> np.ndarray:
        """Staged rows ``start:stop`` (plain reads: no mapped pages stay resident)."""
        stop = min(stop, self.n_regular)
        return np.fromfile(self.path, dtype=_STAGE, count=max(stop - start, 0),
                           offset=start * _STAGE.itemsize)

    def _count_keys(self) -> None:
        """Rows per coarse chunk before each chunk (``_base``), from one pass over the file."""
        counts = np.zeros(len(self._keys), dtype=np.int64)
        for s in range(0, self.n_regular, BLOCK):
            block = self._read(s, s + BLOCK)
            counts += np.bincount(np.searchsorted(self._keys, _detection_key(block)),
                                  minlength=len(self._keys))
        counts += np.bincount(np.searchsorted(self._keys, _detection_key(self.planted)),
                              minlength=len(self._keys))
        self._base = np.cumsum(counts) - counts

    def batches(self) -> Iterator[dict[str, np.ndarray]]:
        """The synapse columns (with ``id``), block by block: the drawn rows, then the planted.

        When exhausted, :attr:`anomalies` holds the sorted synapse IDs of the planted
        anomalies by kind (and ``on_fragment``: rows on orphan fragments), and the staging
        file is removed (it can be read once).
        """
        seen = np.zeros(len(self._keys), dtype=np.int64)
        on_fragment: list[np.ndarray] = []
        for s in range(0, self.total, READ_BLOCK):
            e = min(s + READ_BLOCK, self.total)
            parts = []
            if s < self.n_regular:
                staged = self._read(s, e)
                cols = {k: staged[k].astype(np.uint64 if k.endswith("_id") else np.int64)
                        for k in COLUMNS}
                del staged
                unsegmented = (self._flags[s:min(e, self.n_regular)] & _UNSEGMENTED) > 0
                cols["post_pt_supervoxel_id"][unsegmented] = 0
                parts.append(cols)
            if e > self.n_regular:
                lo = max(s, self.n_regular) - self.n_regular
                parts.append({k: v[lo:e - self.n_regular] for k, v in self.planted.items()})
            cols = {k: np.concatenate([p[k] for p in parts]) for k in COLUMNS}
            del parts
            kidx = np.searchsorted(self._keys, _detection_key(cols))
            order = np.argsort(kidx, kind="stable")
            sk = kidx[order]
            rank = np.empty(len(kidx), dtype=np.int64)
            rank[order] = self._base[sk] + seen[sk] + rank_in_run(runs(sk))
            seen += np.bincount(kidx, minlength=len(self._keys))
            ids = (np.uint64(1_000_000) + self._offset_base[rank // _OFFSET_RUN]
                   + self._offset_step[rank].astype(np.uint64))
            if s < self.n_regular:
                f = self._flags[s:min(e, self.n_regular)]
                frag = ((f & _PRE_ON_FRAGMENT) > 0) | (((f & _POST_ON_FRAGMENT) > 0)
                                                       & ((f & _UNSEGMENTED) == 0))
                on_fragment.append(ids[:len(f)][frag])
            if e > self.n_regular:
                first_planted = max(s, self.n_regular)
                for kind, rows in self.planted_rows.items():
                    mine = rows[(rows >= first_planted) & (rows < e)]
                    self.anomalies.setdefault(kind, []).extend(ids[mine - s].tolist())
            yield {"id": ids, **cols}
        self.close()  # every staged row is read: its disk space is free for the merge
        for kind in self.planted_rows:
            self.anomalies[kind] = sorted(int(x) for x in self.anomalies.get(kind, []))
        self.anomalies["on_fragment"] = np.sort(np.concatenate(on_fragment)).tolist() \
            if on_fragment else []

    def close(self) -> None:
        """Drop the staging file."""
        self.path.unlink(missing_ok=True)
