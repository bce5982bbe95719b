"""The methods ``benchmarks/peers.py`` compares, each as ``{case: function}`` built from the
prepared data, and the canonical form of their answers (hashed outside the timing).

Every function returns its answer as the method gives it; the matching ``canon_pairs`` /
``canon_counts`` entry turns it into a canonical string outside the timed call.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

PRE, POST = "pre_pt_root_id", "post_pt_root_id"


# -- canonical answers -----------------------------------------------------------------------
def _triples(pre, post, weight) -> str:
    pre, post = np.asarray(pre, np.uint64), np.asarray(post, np.uint64)
    weight = np.asarray(weight, np.int64)
    order = np.lexsort((post, pre))
    h = hashlib.sha1()
    for a in (pre[order], post[order], weight[order]):
        h.update(np.ascontiguousarray(a).tobytes())
    return f"{len(pre)}:{h.hexdigest()[:16]}"


def _counts(ids, table: dict[int, tuple[int, int, int, int]]) -> str:
    ids = sorted(set(ids))
    rows = np.array([table.get(i, (0, 0, 0, 0)) for i in ids], np.int64)
    digest = hashlib.sha1(np.array(ids, np.uint64).tobytes() + rows.tobytes()).hexdigest()[:16]
    return f"{int(rows.sum())}:{digest}"


def _counts_from_pairs(ids, pre, post, weight) -> str:
    """Per-neuron (pre_synapses, post_synapses, downstream, upstream) from the union edges."""
    table: dict[int, list[int]] = {}
    for p, q, w in zip(pre.tolist(), post.tolist(), weight.tolist(), strict=True):
        a = table.setdefault(p, [0, 0, 0, 0])
        a[0] += w
        a[2] += 1
        b = table.setdefault(q, [0, 0, 0, 0])
        b[1] += w
        b[3] += 1
    return _counts(ids, {i: tuple(table[i]) for i in ids if i in table})



# -- methods ---------------------------------------------------------------------------------
def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    n = hi - lo
    total = int(n.sum())
    if not total:
        return np.zeros(0, np.int64)
    return np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(total)


def _pairs(pre: np.ndarray, post: np.ndarray):
    if not len(pre):
        return pre, post, np.zeros(0, np.int64)
    order = np.lexsort((post, pre))
    pre, post = pre[order], post[order]
    start = np.flatnonzero(np.concatenate(([True], (pre[1:] != pre[:-1]) | (post[1:] != post[:-1]))))
    return pre[start], post[start], np.diff(np.append(start, len(pre)))


def numpy_method(peers: Path):
    import pyarrow.parquet as pq

    cols = {}
    for name in ("by_pre", "by_post"):
        t = pq.read_table(peers / f"{name}.parquet", columns=[PRE, POST])
        cols[name] = (t.column(PRE).to_numpy(), t.column(POST).to_numpy())
    (a_pre, a_post), (b_pre, b_post) = cols["by_pre"], cols["by_post"]

    def edges(ids: np.ndarray, pre_side: np.ndarray | None = None):
        ids = np.sort(ids)
        r1 = _ranges(np.searchsorted(a_pre, ids, "left"), np.searchsorted(a_pre, ids, "right"))
        r2 = _ranges(np.searchsorted(b_post, ids, "left"), np.searchsorted(b_post, ids, "right"))
        pre = np.concatenate((a_pre[r1], b_pre[r2]))
        post = np.concatenate((a_post[r1], b_post[r2]))
        dup = np.zeros(len(pre), bool)  # a synapse from both sides: keep the pre-side copy
        dup[len(r1):] = np.isin(pre[len(r1):], ids)
        keep = ~dup & (pre != post) & (pre != 0) & (post != 0)
        return _pairs(pre[keep], post[keep])

    def connectivity_1(r):
        return edges(np.array([r], np.uint64))

    def counts(ids):
        return edges(np.array(ids, np.uint64)), ids

    def adjacency(ab):
        a, b = np.sort(np.array(ab[0], np.uint64)), np.sort(np.array(ab[1], np.uint64))
        r = _ranges(np.searchsorted(a_pre, a, "left"), np.searchsorted(a_pre, a, "right"))
        pre, post = a_pre[r], a_post[r]
        keep = np.isin(post, b) & (pre != post) & (post != 0)
        return _pairs(pre[keep], post[keep])

    return {"connectivity_1": connectivity_1, "synapse_counts_1000": counts, "adjacency_500": adjacency,
            "canon_pairs": lambda res: _triples(*res),
            "canon_counts": lambda res: _counts_from_pairs(res[1], *res[0])}


def pandas_method(peers: Path):
    import pandas as pd

    dp = pd.read_parquet(peers / "by_pre.parquet", columns=["id", PRE, POST])
    dq = pd.read_parquet(peers / "by_post.parquet", columns=["id", PRE, POST])

    def edges(ids):
        ids = np.sort(np.array(ids, np.uint64))
        r1 = _ranges(dp[PRE].searchsorted(ids, "left"), dp[PRE].searchsorted(ids, "right"))
        r2 = _ranges(dq[POST].searchsorted(ids, "left"), dq[POST].searchsorted(ids, "right"))
        a, b = dp.iloc[r1], dq.iloc[r2]
        sel = pd.concat([a, b[~b[PRE].isin(ids)]])
        sel = sel[(sel[PRE] != sel[POST]) & (sel[PRE] != 0) & (sel[POST] != 0)]
        return sel.groupby([PRE, POST]).size()

    def counts(ids):
        e = edges(ids).rename("w").reset_index()
        out = pd.concat([
            e.groupby(PRE)["w"].agg(["sum", "size"]).rename(columns={"sum": "pre_syn", "size": "down"}),
            e.groupby(POST)["w"].agg(["sum", "size"]).rename(columns={"sum": "post_syn", "size": "up"}),
        ], axis=1)
        return out, ids

    def adjacency(ab):
        a, b = np.sort(np.array(ab[0], np.uint64)), np.array(ab[1], np.uint64)
        sel = dp.iloc[_ranges(dp[PRE].searchsorted(a, "left"), dp[PRE].searchsorted(a, "right"))]
        sel = sel[sel[POST].isin(b) & (sel[PRE] != sel[POST])]
        return sel.groupby([PRE, POST]).size()

    def canon_pairs(s):
        return _triples(s.index.get_level_values(0).to_numpy(np.uint64),
                        s.index.get_level_values(1).to_numpy(np.uint64), s.to_numpy())

    def canon_counts(res):
        out, ids = res
        out = out.fillna(0).astype(np.int64)
        return _counts(ids, {int(i): (int(r.pre_syn), int(r.post_syn), int(r.down), int(r.up))
                             for i, r in zip(out.index.to_numpy(np.uint64), out.itertuples(), strict=True)})

    return {"connectivity_1": lambda r: edges([r]), "synapse_counts_1000": counts,
            "adjacency_500": adjacency, "canon_pairs": canon_pairs, "canon_counts": canon_counts}


_EDGES_SQL = """
SELECT pre, post, count(*) AS w FROM (
  SELECT pre_pt_root_id AS pre, post_pt_root_id AS post FROM by_pre
   WHERE pre_pt_root_id IN (SELECT id FROM q)
  UNION ALL
  SELECT pre_pt_root_id, post_pt_root_id FROM by_post
   WHERE post_pt_root_id IN (SELECT id FROM q) AND pre_pt_root_id NOT IN (SELECT id FROM q)
) WHERE pre <> post AND pre <> 0 AND post <> 0 GROUP BY pre, post"""


def duckdb_method(peers: Path):
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(str(peers / "peers.duckdb"), read_only=True)

    def connectivity_1(r):
        return con.execute(
            "SELECT pre, post, count(*) AS w FROM ("
            " SELECT pre_pt_root_id AS pre, post_pt_root_id AS post FROM by_pre WHERE pre_pt_root_id = $r"
            " UNION ALL SELECT pre_pt_root_id, post_pt_root_id FROM by_post"
            "  WHERE post_pt_root_id = $r AND pre_pt_root_id <> $r"
            ") WHERE pre <> post AND pre <> 0 AND post <> 0 GROUP BY pre, post", {"r": r}).fetchnumpy()

    def counts(ids):
        q = pa.table({"id": pa.array(ids, pa.uint64())})  # noqa: F841 (read by DuckDB)
        res = con.execute(
            f"WITH e AS ({_EDGES_SQL}) SELECT n, sum(ps) AS ps, sum(qs) AS qs, sum(d) AS d, sum(u) AS u "
            "FROM (SELECT pre AS n, w AS ps, 0 AS qs, 1 AS d, 0 AS u FROM e "
            "      UNION ALL SELECT post, 0, w, 0, 1 FROM e) WHERE n IN (SELECT id FROM q) GROUP BY n"
        ).fetchnumpy()
        return res, ids

    def adjacency(ab):
        a = pa.table({"id": pa.array(ab[0], pa.uint64())})  # noqa: F841
        b = pa.table({"id": pa.array(ab[1], pa.uint64())})  # noqa: F841
        return con.execute(
            "SELECT pre_pt_root_id AS pre, post_pt_root_id AS post, count(*) AS w FROM by_pre "
            "WHERE pre_pt_root_id IN (SELECT id FROM a) AND post_pt_root_id IN (SELECT id FROM b) "
            "AND pre_pt_root_id <> post_pt_root_id GROUP BY pre, post").fetchnumpy()

    def canon_counts(res):
        r, ids = res
        return _counts(ids, {int(n): (int(a), int(b), int(c), int(d)) for n, a, b, c, d in
                             zip(r["n"], r["ps"], r["qs"], r["d"], r["u"], strict=True)})

    return {"connectivity_1": connectivity_1, "synapse_counts_1000": counts, "adjacency_500": adjacency,
            "canon_pairs": lambda r: _triples(r["pre"], r["post"], r["w"]), "canon_counts": canon_counts}


def polars_method(peers: Path):
    import polars as pl

    lp = pl.scan_parquet(peers / "by_pre.parquet").select("id", PRE, POST)
    lq = pl.scan_parquet(peers / "by_post.parquet").select("id", PRE, POST)
    clean = (pl.col(PRE) != pl.col(POST)) & (pl.col(PRE) != 0) & (pl.col(POST) != 0)

    def edges(ids):
        s = pl.Series(ids, dtype=pl.UInt64)
        return pl.concat([lp.filter(pl.col(PRE).is_in(s.implode())),
                          lq.filter(pl.col(POST).is_in(s.implode()) & ~pl.col(PRE).is_in(s.implode()))]
                         ).filter(clean).group_by(PRE, POST).len()

    def connectivity_1(r):
        lit = pl.lit(r, dtype=pl.UInt64)
        down = lp.filter(pl.col(PRE) == lit)
        up = lq.filter((pl.col(POST) == lit) & (pl.col(PRE) != lit))
        return pl.concat([down, up]).filter(clean).group_by(PRE, POST).len().collect()

    def counts(ids):
        e = edges(ids)
        out = pl.concat([
            e.group_by(PRE).agg(pl.col("len").sum().alias("ps"), pl.len().alias("d")).rename({PRE: "n"})
             .with_columns(qs=pl.lit(0, pl.UInt32), u=pl.lit(0, pl.UInt32)),
            e.group_by(POST).agg(pl.col("len").sum().alias("qs"), pl.len().alias("u")).rename({POST: "n"})
             .with_columns(ps=pl.lit(0, pl.UInt32), d=pl.lit(0, pl.UInt32)),
        ], how="diagonal").group_by("n").agg(pl.col("ps", "qs", "d", "u").sum())
        return out.collect(), ids

    def adjacency(ab):
        a, b = pl.Series(ab[0], dtype=pl.UInt64).implode(), pl.Series(ab[1], dtype=pl.UInt64).implode()
        return (lp.filter(pl.col(PRE).is_in(a) & pl.col(POST).is_in(b) & (pl.col(PRE) != pl.col(POST)))
                .group_by(PRE, POST).len().collect())

    def canon_counts(res):
        d, ids = res
        return _counts(ids, {int(r[0]): tuple(int(x) for x in r[1:])
                             for r in d.select("n", "ps", "qs", "d", "u").iter_rows()})

    return {"connectivity_1": connectivity_1, "synapse_counts_1000": counts, "adjacency_500": adjacency,
            "canon_pairs": lambda d: _triples(d[PRE].to_numpy(), d[POST].to_numpy(), d["len"].to_numpy()),
            "canon_counts": canon_counts}


def napari_crant_method(path: Path):
    import napari_crant as nc

    ds = str(path)

    def adjacency(ab):
        adj = nc.get_adjacency(ab[0], ab[1], dataset=ds)
        r, c = np.nonzero(adj.to_numpy())
        return adj.index.to_numpy(np.uint64)[r], adj.columns.to_numpy(np.uint64)[c], adj.to_numpy()[r, c]

    def canon_counts(res):
        df = res
        return _counts(df.index.to_numpy(np.uint64).tolist(), {
            int(i): tuple(int(x) for x in row) for i, row in zip(
                df.index.to_numpy(np.uint64),
                df[["pre_synapses", "post_synapses", "downstream_partners", "upstream_partners"]].to_numpy(),
                strict=True)})

    return {"connectivity_1": lambda r: nc.get_connectivity([r], dataset=ds),
            "synapse_counts_1000": lambda ids: nc.get_synapse_counts(ids, dataset=ds),
            "adjacency_500": adjacency,
            "canon_pairs": lambda d: (_triples(*d) if isinstance(d, tuple)
                                      else _triples(d["pre"], d["post"], d["weight"])),
            "canon_counts": canon_counts}

