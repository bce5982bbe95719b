"""Per-neuron pair totals of synapse rows grouped by neuron, by sorting each group's partners.

``get_synapse_counts`` reads, for each query neuron, the contiguous slice of its synapse rows
on one side and needs, per neuron, its distinct partners and the synapses of the pairs with
at least ``threshold`` synapses. Hashing every partner ID into one table costs more as the
dataset holds more distinct partners (the table outgrows the CPU caches: about 2x from 5M to
100M synapses). Sorting each neuron's partners on its own touches only that neuron's rows:
the groups are bucketed by length (within a factor of 2), each bucket is one 2D array
padded to its longest group and sorted along its rows, and runs of equal values are the
pairs (no array as long as the rows besides the buckets themselves). With ``threshold`` 1
(the default) every pair counts: a neuron's synapses are its rows and its partners the runs in
its row of the bucket, so nothing is made per pair (the pairs are many more at 100M synapses,
where a neuron's partners repeat less, than at 5M).
"""

from __future__ import annotations

import numpy as np

_PAD = np.iinfo(np.uint64).max


def grouped_pair_totals(
    group: np.ndarray, partner: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per distinct value of ``group``: pairs ``(group, partner)`` of at least ``threshold``
    rows, their rows summed and counted.

    Parameters
    ----------
    group
        Each row's neuron (uint64), each neuron's rows contiguous.
    partner
        Each row's partner (uint64), aligned with ``group``.
    threshold
        Pairs with fewer rows are not counted.

    Returns
    -------
    (groups, synapses, partners) or None
        The distinct groups in their order in ``group``, the rows of their pairs of at least
        ``threshold`` rows, and the number of such pairs; ``None`` if a group's rows are not
        contiguous (the caller counts another way).
    """
    n = len(group)
    if not n:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
    groups = group[starts]
    if len(groups) > 1 and len(np.unique(groups)) != len(groups):
        return None
    lengths = np.diff(np.append(starts, n))
    synapses = np.zeros(len(groups), np.int64)
    partners = np.zeros(len(groups), np.int64)
    bucket = np.ceil(np.log2(lengths)).astype(np.int64)  # lengths >= 1
    for b in np.unique(bucket).tolist():
        members = np.flatnonzero(bucket == b)
        m_len = lengths[members]
        width = int(m_len.max())
        # row i of the bucket holds group members[i]'s partners (copied slice by slice),
        # padded at the end; sorted along the rows, a pair is a run of equal values
        block = np.full((len(members), width), _PAD, np.uint64)
        for i, (s0, ln) in enumerate(zip(starts[members].tolist(), m_len.tolist(), strict=True)):
            block[i, :ln] = partner[s0:s0 + ln]
        block.sort(axis=1)
        run_start = np.ones(block.shape, bool)
        np.not_equal(block[:, 1:], block[:, :-1], out=run_start[:, 1:])
        run_start &= np.arange(width) < m_len[:, None]  # not in the padding
        if threshold <= 1:  # every pair counts: a group's rows and its runs, nothing per pair
            synapses[members] += m_len
            partners[members] += np.count_nonzero(run_start, axis=1)
            continue
        first = np.flatnonzero(run_start)  # row-major: row by row, runs in order
        row = first // width
        end = np.append(first[1:], 0)
        last_of_row = np.append(row[1:] != row[:-1], True)
        end[last_of_row] = row[last_of_row] * width + m_len[row[last_of_row]]
        weight = end - first
        heavy = weight >= threshold
        owner = row[heavy]
        rows_of_pairs = np.bincount(owner, weights=weight[heavy], minlength=len(members))
        synapses[members] += rows_of_pairs.astype(np.int64)
        partners[members] += np.bincount(owner, minlength=len(members))
    return groups, synapses, partners
