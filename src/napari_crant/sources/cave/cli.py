"""``napari-crant cave-status``: check that a CAVE dataset is reachable and the token works."""

from __future__ import annotations

import argparse
import sys

from napari_crant.cli import command


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="latest", help="CAVE dataset name (default: latest)")


@command("cave-status", "check the connection and token for a CAVE dataset", _status_args)
def _status(args: argparse.Namespace) -> int:
    from napari_crant.sources.cave import CaveError, open_cave_dataset

    try:
        src = open_cave_dataset(args.dataset)
        versions = src.versions()
        res = src.voxel_resolution
    except CaveError as e:
        print(f"napari-crant cave-status: {e}", file=sys.stderr)
        return 1
    cfg = src.config
    valid = versions[versions["valid"]]
    print(f"{cfg.name}: {cfg.server_address}, datastack {cfg.datastack}, synapse table {cfg.synapse_table}")
    print(f"  voxel resolution {res.tolist()} nm; {len(valid)} valid version(s)"
          + (f", newest {int(valid['version'].max())} ({valid['timestamp'].max()})" if len(valid) else ""))
    return 0
