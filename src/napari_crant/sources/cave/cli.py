"""``napari-crant cave-status`` (is a CAVE dataset reachable, does the token work) and
``napari-crant cache info|clear [--dataset NAME]`` (the on-disk cache of CAVE answers)."""

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


def _cache_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("info", "clear"),
                   help="info: where the cache is, its size and entries per dataset; clear: empty it")
    p.add_argument("--dataset", default=None,
                   help="only this CAVE dataset (a registered name such as 'latest')")


@command("cache", "show or clear the on-disk cache of CAVE answers", _cache_args)
def _cache(args: argparse.Namespace) -> int:
    from napari_crant.sources.cave.cache import cache_location, open_cache, server_label
    from napari_crant.sources.cave.config import cave_dataset_config
    from napari_crant.sources.cave.errors import CaveError

    def fail(msg: str) -> int:
        print(f"napari-crant cache: {msg}", file=sys.stderr)
        return 2

    label = None
    if args.dataset is not None:
        try:
            cfg = cave_dataset_config(args.dataset)
        except CaveError as e:
            return fail(str(e))
        label = server_label(cfg.server_address, cfg.datastack)
    try:
        cache = open_cache()
    except ValueError as e:
        return fail(str(e))
    if cache is None:
        print(f"the CAVE cache is off ({cache_location()})")
        return 0
    if args.action == "clear":
        removed = cache.clear(label)
        print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {cache.directory}"
              + (f" ({args.dataset}: {label})" if label else ""))
        return 0
    per_dataset: dict[str, int] = {}
    for key in cache.list_keys():
        name = key.split("|", 1)[0]
        per_dataset[name] = per_dataset.get(name, 0) + 1
    print(f"{cache.directory}: {len(cache)} entries, {cache.volume() / 2**20:.1f} MB "
          f"of {cache.size_limit / 2**20:.0f} MB")
    for name, n in sorted(per_dataset.items()):
        if label is None or name == label:
            print(f"  {name}: {n} entries")
    return 0
