"""``benchmarks/report_peers.py``: the peers section from a results file, whatever was run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "report_peers.py"


@pytest.fixture(scope="module")
def report_peers():
    spec = importlib.util.spec_from_file_location("report_peers", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(method: str, neurons: int, synapses: int, ms: dict[str, float]) -> dict:
    cases = {c: {"times_s": [t / 1e3] * 3, "median_s": t / 1e3, "cpu_s": [t / 1e3] * 3,
                 "cpu_median_s": t / 1e3, "answers": ["a", "b", "c"]} for c, t in ms.items()}
    run = {"method": method, "neurons": neurons, "synapses": synapses, "setup_s": 1.0,
           "after_setup": {"VmRSS": 100.0}, "cases": cases}
    if method == "napari_crant":
        mb = {"VmRSS": 150.0, "RssFile": 70.0, "RssAnon": 80.0}
        run["sweep"] = {"queries": 100, "seconds": 0.1, "before": mb, "after": mb}
    return run


_MACHINE = {"cpu": "test cpu", "cores": 2, "memory_gib": 8, "python": "3", "numpy": "2",
            "pandas": "2", "duckdb": "1"}
_NC = {"connectivity_1": 0.4, "synapse_counts_1000": 100.0, "adjacency_500": 10.0}
_NUMPY = {"connectivity_1": 0.2, "synapse_counts_1000": 150.0, "adjacency_500": 30.0}


def test_numpy_as_the_only_peer_reports_targets_not_measured(report_peers):
    results = {"machine": _MACHINE, "runs": [_run("napari_crant", 5000, 5_000_000, _NC),
                                             _run("numpy", 5000, 5_000_000, _NUMPY)]}
    text = report_peers.section(results)
    assert "- not measured: 5,000,000 synapses: get_connectivity 1 neuron >= 2x faster" in text
    assert "- not measured: 5,000,000 synapses: get_adjacency, 500 x 500 ahead of every" in text
    assert "- met: 5,000,000 synapses: get_connectivity 1 neuron within 3x of plain numpy (2.00×)" in text
    assert "| get_connectivity, 1 neuron | 5,000,000 | 0.40 ms | 0.20 ms | 2.00× |" in text


def test_strong_peer_targets_met_and_missed(report_peers):
    pandas = {"connectivity_1": 0.6, "synapse_counts_1000": 90.0, "adjacency_500": 40.0}
    results = {"machine": _MACHINE, "runs": [_run("napari_crant", 5000, 5_000_000, _NC),
                                             _run("numpy", 5000, 5_000_000, _NUMPY),
                                             _run("pandas", 5000, 5_000_000, pandas)]}
    text = report_peers.section(results, title="Peers at 5M", markers=False)
    assert text.startswith("## Peers at 5M\n") and report_peers.START not in text
    assert "- **missed**: 5,000,000 synapses: get_connectivity 1 neuron >= 2x faster than the " \
           "fastest strong peer (pandas 1.50×)" in text
    assert "- **missed**: 5,000,000 synapses: get_synapse_counts, 1,000 neurons ahead of every " \
           "strong peer (closest pandas 0.90×)" in text
    assert "- met: 5,000,000 synapses: get_adjacency, 500 x 500 ahead of every strong peer " \
           "(closest pandas 4.00×)" in text


def test_sizes_are_ordered_by_synapses_not_neurons(report_peers):
    """30M synapses on 150,000 neurons lies between 5M and 100M (on 100,000 neurons): the tables list
    sizes by synapses, and "flat" compares the smallest with the largest."""
    runs = []
    for neurons, synapses, ms in ((150_000, 30_000_000, 0.5), (5_000, 5_000_000, 0.4),
                                  (100_000, 100_000_000, 0.9)):
        runs += [_run("napari_crant", neurons, synapses, dict(_NC, connectivity_1=ms)),
                 _run("numpy", neurons, synapses, _NUMPY)]
    text = report_peers.section({"machine": _MACHINE, "runs": runs})
    rows = [line for line in text.splitlines() if line.startswith("| get_connectivity, 1 neuron |")]
    # the wall-time table, then the CPU-time table
    assert [row.split("|")[2].strip() for row in rows] == ["5,000,000", "30,000,000", "100,000,000"] * 2
    assert "- **missed**: get_connectivity, 1 neuron: flat from 5,000,000 to 100,000,000 synapses " \
           "(growth < 1.5x) (2.25×; numpy floor in the same run 1.00×)" in text


def test_flat_is_judged_in_one_process_when_the_scaling_child_ran(report_peers):
    """With the one-process measurement (calls of both sizes alternated), "flat" is its ratio; the
    ratio across the per-method processes and the numpy floor's are given as context."""
    runs = []
    for neurons, synapses, ms, floor in ((5_000, 5_000_000, 0.4, 0.2), (100_000, 100_000_000, 0.9, 0.5)):
        runs += [_run("napari_crant", neurons, synapses, dict(_NC, connectivity_1=ms)),
                 _run("numpy", neurons, synapses, dict(_NUMPY, connectivity_1=floor))]
    sizes = {"small": {"median_s": 1e-3, "cpu_median_s": 1e-3},
             "large": {"median_s": 1.2e-3, "cpu_median_s": 2e-3}}
    one = {c: sizes for c in ("connectivity_1", "synapse_counts_1000", "adjacency_500")}
    text = report_peers.section({"machine": _MACHINE, "runs": runs,
                                 "scaling": {"small": 5_000_000, "large": 100_000_000, "cases": one}})
    flat = "get_connectivity, 1 neuron: flat from 5,000,000 to 100,000,000 synapses (growth < 1.5x) "
    assert f"- met: {flat}(1.20× in one process, calls alternated; across processes 2.25×; numpy floor in " \
           "the same run 2.50×)" in text
    # on CPU time the one-process growth is 2x: missed, whatever the processes say
    assert f"- **missed**: {flat}(2.00× in one process" in text
