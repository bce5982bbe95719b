"""The demo datasets the benchmarks run on, and their inputs (shared by ``run.py`` and
``peers.py``): built once into ``benchmarks/data/`` under a name that says what they are, the
synapse table materialized at the latest version for the baselines, deterministic query IDs,
and the machine's description for the reports."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def dataset_for(neurons: int, seed: int, synapses_per_neuron: float) -> Path:
    from napari_crant.demo import make_demo
    from napari_crant.snapshot.format import FORMAT_VERSION

    path = DATA / f"demo-f{FORMAT_VERSION}-n{neurons}-s{seed}-spn{synapses_per_neuron:g}"
    if not (path / "manifest.json").exists():
        print(f"building {path} ...", flush=True)
        t = time.perf_counter()
        make_demo(path, n_neurons=neurons, seed=seed, overwrite=True,
                  synapses_per_neuron=synapses_per_neuron)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb
    import pandas
    import pyarrow

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__}



def pick_inputs(path: Path, seed: int = 0) -> dict[str, list[int]]:
    """Deterministic query IDs: current roots with synapses, and outdated roots."""
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(path)
    roots = src.roots_table()
    current = np.sort(roots.loc[roots["expired"].isna(), "root_id"].to_numpy(np.uint64))
    outdated = np.sort(roots.loc[roots["expired"].notna(), "root_id"].to_numpy(np.uint64))
    # neurons (not tiny fragments): roots with at least 20 L2 chunks
    col = src._root_l2["root_id"]
    l2_counts = np.searchsorted(col, current, "right") - np.searchsorted(col, current, "left")
    neurons = current[l2_counts >= 20] if (l2_counts >= 20).sum() >= 1000 else current
    rng = np.random.default_rng(seed)

    def sample(pool: np.ndarray, k: int) -> list[int]:
        # distinct IDs where the dataset has enough (small datasets repeat some)
        return [int(x) for x in rng.choice(pool, k, replace=k > len(pool))]

    n_old = min(5000, len(outdated))
    ids_10k = sample(outdated, n_old) + sample(current, 10000 - n_old)
    return {
        "one": sample(neurons, 1),
        "hundred": sample(neurons, 100),
        "five_hundred": sample(neurons, 500),
        "thousand": sample(neurons, 1000),
        "ten_thousand": ids_10k,
        "n_outdated": n_old,
    }


def materialized_parquet(path: Path) -> Path:
    """The synapse table with root IDs as of the latest version, as one Parquet file."""
    out = path / "bench_synapses_latest.parquet"
    if out.exists():
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq

    from napari_crant.materialization import resolve_materialization
    from napari_crant.sources.snapshot import SnapshotSource

    src = SnapshotSource(path)
    at = resolve_materialization(src, "latest")
    s = src._synapses
    n = len(s)
    writer = None
    step = 2_000_000
    for lo in range(0, n, step):
        rows = np.arange(lo, min(lo + step, n))
        pre = src._roots_of_l2_or_zero(s["pre_pt_l2_id"][rows], at)
        post = src._roots_of_l2_or_zero(s["post_pt_l2_id"][rows], at)
        t = pa.table({
            "id": s["id"][rows], "pre_pt_root_id": pre, "post_pt_root_id": post,
            "size": s["size"][rows].astype(np.int64),
        })
        if writer is None:
            writer = pq.ParquetWriter(out.with_suffix(".tmp"), t.schema, compression="snappy")
        writer.write_table(t, row_group_size=1_000_000)
    writer.close()
    out.with_suffix(".tmp").rename(out)
    return out

