"""napari-crant against the strong peers: what a competent engineer builds in an afternoon.

Run ``python benchmarks/peers.py`` (defaults: 25,000, 150,000 and 500,000 neurons at 200
synapses per neuron, i.e. about 5M, 30M and 100M synapses; ``--sizes 2000`` for a quick run).
The datasets are demo snapshots built by the demo generator (``benchmarks/run.py``'s
``dataset_for``); the peers read the same synapses with root IDs materialized at the latest
version (``run.materialized_parquet``), prepared once per dataset under ``<snapshot>/peers``:

- **numpy** (the floor): the table in memory as plain arrays, one copy sorted by the
  presynaptic root and one by the postsynaptic root; ``np.searchsorted`` for each neuron's
  rows. It is what touching the rows costs, with no IDs to parse, no history, no result
  frame;
- **pandas**: the same two sorted copies as DataFrames in memory; ``Series.searchsorted``,
  ``iloc`` slices, ``groupby``;
- **duckdb**: a DuckDB database file holding a pre-sorted and a post-sorted table (zone maps
  prune on the sorted key); prepared SQL;
- **polars**: a lazy scan of the two sorted Parquet files (row-group statistics prune).

Every case times a *different* query each call (distinct neurons, distinct neuron sets), the
same sequence for every method, after one warm-up query; each method runs in its own process.
Every answer is reduced to a canonical form (sorted ``pre, post, weight`` triples; per-neuron
counts) and hashed outside the timing; the report says whether all sides agreed on every
call. Ratios are peer median / napari-crant median from the same run. The napari-crant process
also reports its resident memory split into mapped file pages and heap (``RssFile`` /
``RssAnon``) after opening and after 100 single-neuron queries on 100 other neurons.

The report goes to the "Strong peers" section of ``docs/benchmarks.md`` (the rest of that file
is ``benchmarks/run.py``'s) and the raw figures to ``docs/benchmarks-peers.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = ("napari_crant", "numpy", "pandas", "duckdb", "polars")
CASES = {
    "connectivity_1": "get_connectivity, 1 neuron",
    "synapse_counts_1000": "get_synapse_counts, 1,000 neurons",
    "adjacency_500": "get_adjacency, 500 x 500",
}
PRE, POST = "pre_pt_root_id", "post_pt_root_id"



# -- data ------------------------------------------------------------------------------------
def prepare_peers(path: Path) -> Path:
    """Sorted Parquet copies and the DuckDB file of the latest-version synapse table."""
    import duckdb
    import polars as pl
    from run import materialized_parquet

    out = path / "peers"
    if (out / "done").exists():
        return out
    out.mkdir(exist_ok=True)
    flat = materialized_parquet(path)
    for key, name in ((PRE, "by_pre"), (POST, "by_post")):
        (pl.scan_parquet(flat).sort([key, PRE if key == POST else POST, "id"])
         .sink_parquet(out / f"{name}.parquet", row_group_size=100_000, statistics=True))
    db = out / "peers.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET preserve_insertion_order = true")
    for name in ("by_pre", "by_post"):
        src = str(out / f"{name}.parquet").replace("'", "''")
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{src}')")
    con.close()
    (out / "done").write_text("ok")
    return out


def pick_queries(path: Path, n_single: int, n_sets: int, seed: int) -> dict:
    """Distinct neurons (roots alive at the latest version, >= 20 L2 chunks) for every call.

    Alive at the version the peers materialized: newer roots would be mapped back by
    napari-crant (``update_ids``) and found by no peer.
    """
    from napari_crant.materialization import resolve_materialization
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(path)
    roots = np.sort(src.roots_table()["root_id"].to_numpy(np.uint64))
    current = roots[src.root_status(roots, resolve_materialization(src, "latest"))[1]]
    col = src._root_l2["root_id"]
    chunks = np.searchsorted(col, current, "right") - np.searchsorted(col, current, "left")
    neurons = current[chunks >= 20]
    rng = np.random.default_rng(seed)
    pool = rng.permutation(neurons)
    need = 1 + n_single + 100  # warm-up, timed, working-set sweep
    if len(pool) < need:
        raise SystemExit(f"{path}: only {len(pool)} neurons, need {need}; use a larger size")
    single = [int(x) for x in pool[:need]]

    def sets(k: int) -> list[list[int]]:
        return [[int(x) for x in rng.choice(neurons, k, replace=False)] for _ in range(n_sets + 1)]

    return {"connectivity_1": single[: 1 + n_single], "sweep": single[1 + n_single:],
            "synapse_counts_1000": sets(1000),
            "adjacency_500": [[a, b] for a, b in zip(sets(500), sets(500), strict=True)]}


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
        return _triples(*edges(np.array([r], np.uint64)))

    def counts(ids):
        return edges(np.array(ids, np.uint64)), ids

    def adjacency(ab):
        a, b = np.sort(np.array(ab[0], np.uint64)), np.sort(np.array(ab[1], np.uint64))
        r = _ranges(np.searchsorted(a_pre, a, "left"), np.searchsorted(a_pre, a, "right"))
        pre, post = a_pre[r], a_post[r]
        keep = np.isin(post, b) & (pre != post) & (post != 0)
        return _triples(*_pairs(pre[keep], post[keep]))

    return {"connectivity_1": connectivity_1, "synapse_counts_1000": counts, "adjacency_500": adjacency,
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


# -- one method in a child process -----------------------------------------------------------
def _status_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024.0
    return out


def child(method: str, path: Path, queries: dict, cases: list[str]) -> dict:
    t0 = time.perf_counter()
    peers = path / "peers"
    make = {"napari_crant": lambda: napari_crant_method(path), "numpy": lambda: numpy_method(peers),
            "pandas": lambda: pandas_method(peers), "duckdb": lambda: duckdb_method(peers),
            "polars": lambda: polars_method(peers)}[method]
    fns = make()
    setup_s = time.perf_counter() - t0
    out: dict = {"method": method, "setup_s": setup_s, "after_setup": _status_mb(), "cases": {}}
    if method == "napari_crant":  # first, so the pages touched are these queries' only
        fns["connectivity_1"](queries["connectivity_1"][0])
        before = _status_mb()
        t = time.perf_counter()
        for r in queries["sweep"]:
            fns["connectivity_1"](r)
        out["sweep"] = {"queries": len(queries["sweep"]), "seconds": time.perf_counter() - t,
                        "before": before, "after": _status_mb()}
    for case in cases:
        fn = fns[case]
        canon = fns["canon_counts"] if case == "synapse_counts_1000" else fns.get("canon_pairs", lambda x: x)
        inputs = queries[case]
        canon(fn(inputs[0]))  # warm-up on a query not timed
        times, cpu, answers, io = [], [], [], []
        for q in inputs[1:]:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t, c = time.perf_counter(), time.process_time()
            res = fn(q)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            io.append((r1.ru_majflt - r0.ru_majflt, (r1.ru_inblock - r0.ru_inblock) / 2,
                       r1.ru_stime - r0.ru_stime))
            answers.append(canon(res))
        out["cases"][case] = {"times_s": times, "median_s": statistics.median(times), "cpu_s": cpu,
                              "cpu_median_s": statistics.median(cpu), "answers": answers,
                              "major_faults": [a for a, _, _ in io], "read_kb": [b for _, b, _ in io],
                              "sys_s": [c for _, _, c in io]}
    out["end"] = _status_mb()
    return out


def evict(path: Path) -> int:
    """Drop the files under ``path`` (a snapshot and its peers) from the OS page cache.

    ``POSIX_FADV_DONTNEED`` on each file: the next reads come from disk, as after a reboot.
    The files are not changed. Returns the bytes advised.
    """
    total = 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            total += f.stat().st_size
        finally:
            os.close(fd)
    return total


def run_child(method: str, path: Path, queries_file: str, cases: list[str]) -> dict | None:
    cmd = [sys.executable, __file__, "--child", method, str(path), queries_file, ",".join(cases)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if res.returncode != 0:
        print(f"  ! {method} failed:\n{res.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


# -- driver ----------------------------------------------------------------------------------
def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        method, path, queries_file, cases = sys.argv[2:6]
        queries = json.loads(Path(queries_file).read_text())
        print(json.dumps(child(method, Path(path), queries, cases.split(","))))
        return 0
    import run
    from report_peers import write_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="25000,150000,500000",
                   help="comma-separated neuron counts (x 200 synapses per neuron; default 5M, 30M, 100M)")
    p.add_argument("--synapses-per-neuron", type=float, default=200.0)
    p.add_argument("--neurons", type=int, default=21, help="distinct neurons timed for the 1-neuron case")
    p.add_argument("--sets", type=int, default=5,
                   help="distinct neuron sets timed for the 1,000 / 500 x 500 cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--report-only", metavar="JSON", help="rewrite the section from a results file")
    p.add_argument("--datasets", metavar="DIRS",
                   help="comma-separated snapshot directories to use instead of building --sizes "
                        "(their peers are prepared in <snapshot>/peers unless present)")
    p.add_argument("--cold", action="store_true",
                   help="drop each dataset's files from the OS page cache before every method "
                        "(POSIX_FADV_DONTNEED; the files are not changed)")
    args = p.parse_args(argv)
    out = Path(args.out)
    raw = out.with_name("benchmarks-peers.json")
    if args.report_only:
        write_report(json.loads(Path(args.report_only).read_text()), out)
        return 0
    results: dict = {"machine": run.machine(), "datasets": {}, "runs": [], "cold": args.cold,
                     "load_before": os.getloadavg()}
    if args.datasets:
        paths = [Path(d).expanduser().resolve() for d in args.datasets.split(",")]
    else:
        paths = [run.dataset_for(int(n), args.seed, args.synapses_per_neuron) for n in args.sizes.split(",")]
    for path in paths:
        manifest = json.loads((path / "manifest.json").read_text())
        n = int(manifest["info"]["n_neurons"])
        print(f"dataset n={n}: {manifest['counts']['synapses']:,} synapses; preparing the peers", flush=True)
        t = time.perf_counter()
        prepare_peers(path)
        queries = pick_queries(path, args.neurons, args.sets, args.seed)
        results["datasets"][str(n)] = {"path": str(path), "counts": manifest["counts"],
                                       "prepare_s": time.perf_counter() - t}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(queries, f)
        for method in args.methods.split(","):
            if args.cold:
                evict(path)
            r = run_child(method, path, f.name, args.cases.split(","))
            if r is None:
                continue
            r["neurons"], r["synapses"] = n, manifest["counts"]["synapses"]
            r["load"] = os.getloadavg()
            results["runs"].append(r)
            print("  " + method.ljust(13) + "  ".join(
                f"{c} {v['median_s'] * 1e3:8.2f} ms" for c, v in r["cases"].items()), flush=True)
        raw.write_text(json.dumps(results, indent=1))
    results["load_after"] = os.getloadavg()
    raw.write_text(json.dumps(results, indent=1))
    write_report(results, out)
    print(f"wrote {out} and {raw}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(HERE))
    sys.exit(main())
