"""The "before / after the working-set layout" section of ``docs/benchmarks.md``.

Two runs of ``benchmarks/peers.py``: *before* (format 2: synapses sorted by presynaptic L2
chunk, an L2-sorted post index, every root looked up in ``l2_roots``) and *after* (format 3:
rows grouped by root at the newest version, see ``docs/snapshot-format.md``). Ratios to the
peers and to the numpy floor are taken within each run (the peers ran in the same run as
napari-crant, under the same load); the speed-up of napari-crant compares the two runs.

Run ``python benchmarks/report_layout.py BEFORE.json AFTER.json [--out docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from report_peers import CASES, END, PEERS, _ms, _x

START_LAYOUT, END_LAYOUT = "<!-- layout:start -->", "<!-- layout:end -->"


def _by(results: dict) -> dict:
    return {(r["neurons"], r["method"]): r for r in results["runs"]}


def _row(by: dict, n: int, case: str, key: str) -> tuple[float, float, str, float] | None:
    """napari-crant's time, fastest peer's time and name, the numpy floor's time."""
    nc = by.get((n, "napari_crant"))
    if nc is None or case not in nc["cases"]:
        return None
    peers = [(by[(n, p)]["cases"][case][key], p) for p in PEERS
             if (n, p) in by and case in by[(n, p)]["cases"]]
    floor = by.get((n, "numpy"), {}).get("cases", {}).get(case, {}).get(key, float("nan"))
    fastest = min(peers) if peers else (float("nan"), "")
    return nc["cases"][case][key], fastest[0], fastest[1], floor


def section(before: dict, after: dict) -> str:
    """Markdown of the before / after comparison."""
    b_by, a_by = _by(before), _by(after)
    sizes = sorted({n for n, _ in a_by} & {n for n, _ in b_by})
    lines = [
        START_LAYOUT,
        "## Before and after the working-set layout (snapshot format 3)",
        "",
        "Two runs of `benchmarks/peers.py` on the same 25,000-neuron demo (same synapses, same "
        "queries, same peers): *before* with format 2 (synapses sorted by presynaptic L2 chunk, an "
        "L2-sorted post index, both roots of every row looked up in `l2_roots`), *after* with "
        "format 3 (rows grouped by root at the newest version, roots stored, a per-root slice "
        "table; see `docs/snapshot-format.md`) and the vectorised counting. *× fastest peer* is "
        "the fastest strong peer's median / napari-crant's, *vs floor* napari-crant's / numpy's, "
        "both within one run. The machine was shared (2 cores, load average about 5-9 in both "
        "runs): CPU time is the fairer figure. Answers agreed across all five methods in both runs.",
        "",
    ]
    for key, title in (("cpu_median_s", "CPU time (median)"), ("median_s", "Wall time (median)")):
        lines += [f"### {title}", "",
                  "| case | synapses | before | × fastest peer | vs floor | after | × fastest peer "
                  "| vs floor | after ÷ before |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for case, desc in CASES.items():
            for n in sizes:
                b, a = _row(b_by, n, case, key), _row(a_by, n, case, key)
                if b is None or a is None:
                    continue
                syn = a_by[(n, "napari_crant")]["synapses"]
                lines.append(
                    f"| {desc} | {syn:,} | {_ms(b[0])} | {_x(b[1] / b[0])} ({b[2]}) | {_x(b[0] / b[3])} "
                    f"| {_ms(a[0])} | {_x(a[1] / a[0])} ({a[2]}) | {_x(a[0] / a[3])} | {a[0] / b[0]:.2f} |")
        lines.append("")
    lines += ["### Resident memory over 100 single-neuron queries (mapped file pages)", "",
              "| synapses | before | after |", "|---:|---:|---:|"]
    for n in sizes:
        cells = []
        for by in (b_by, a_by):
            sweep = by[(n, "napari_crant")].get("sweep")
            cells.append(f"{sweep['before']['RssFile']:,.0f} → {sweep['after']['RssFile']:,.0f} MB "
                         f"(heap {sweep['after']['RssAnon']:,.0f} MB)" if sweep else "")
        lines.append(f"| {a_by[(n, 'napari_crant')]['synapses']:,} | {cells[0]} | {cells[1]} |")
    lines.append(END_LAYOUT)
    return "\n".join(lines) + "\n"


def write_section(before: dict, after: dict, out: Path) -> None:
    """Replace the section in ``out``, or put it right after the peers section."""
    text = out.read_text()
    new = section(before, after).rstrip("\n")
    if START_LAYOUT in text and END_LAYOUT in text:
        head, rest = text.split(START_LAYOUT, 1)
        text = head + new + rest.split(END_LAYOUT, 1)[1]
    elif END in text:
        head, rest = text.split(END, 1)
        text = head + END + "\n\n" + new + rest
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    out.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--out", type=Path,
                   default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")
    args = p.parse_args()
    write_section(json.loads(args.before.read_text()), json.loads(args.after.read_text()), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
