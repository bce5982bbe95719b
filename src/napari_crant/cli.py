"""The ``napari-crant`` console command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

#: subcommand name -> (help, add_arguments, run); other modules register theirs here.
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: ``run(args) -> exit code``."""

    def deco(run: Callable[..., int]) -> Callable[..., int]:
        _COMMANDS[name] = (help, add_arguments, run)
        return run

    return deco


def _make_demo_args(p: argparse.ArgumentParser) -> None:
    from napari_crant.datasets import DEMO_NEURONS, DEMO_SEED

    p.add_argument("--out", help="directory to write (default: the demo cache location)")
    p.add_argument("--neurons", type=int, default=DEMO_NEURONS, help="number of neurons")
    p.add_argument("--seed", type=int, default=DEMO_SEED, help="random seed (same seed, same data)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing directory")


@command("make-demo", "build the deterministic demo snapshot", _make_demo_args)
def _make_demo(args: argparse.Namespace) -> int:
    from napari_crant.datasets import demo_path
    from napari_crant.demo import make_demo

    if args.neurons < 1:
        print(f"napari-crant make-demo: --neurons must be >= 1, not {args.neurons}", file=sys.stderr)
        return 2
    out = args.out or demo_path(args.neurons, args.seed)
    t0 = time.perf_counter()
    try:
        path = make_demo(out, n_neurons=args.neurons, seed=args.seed, overwrite=args.overwrite)
    except FileExistsError as e:
        print(f"napari-crant make-demo: {e}", file=sys.stderr)
        return 2
    import json

    counts = json.loads((path / "manifest.json").read_text())["counts"]
    print(f"wrote {path} in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    return 0


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="the snapshot directory to check")


@command("verify", "check a snapshot's files against the checksums in its manifest", _verify_args)
def _verify(args: argparse.Namespace) -> int:
    from napari_crant.snapshot.integrity import verify_snapshot

    result = verify_snapshot(args.directory)
    if not result.ok:
        print(f"napari-crant verify: {len(result.problems)} problem(s) in {args.directory}:\n"
              f"{result.summary()}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def _load_plugins() -> None:
    """Import modules that register further subcommands (if present)."""
    import importlib

    for mod in ("napari_crant.server.cli", "napari_crant.sources.cave.cli", "napari_crant._qt.cli"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name is None or not mod.startswith(e.name):
                raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``napari-crant``."""
    _load_plugins()
    parser = argparse.ArgumentParser(
        prog="napari-crant", description="The CRANTb connectome in napari and Python."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, add_args, _) in sorted(_COMMANDS.items()):
        add_args(sub.add_parser(name, help=help_, description=help_))
    args = parser.parse_args(argv)
    return int(_COMMANDS[args.command][2](args) or 0)


if __name__ == "__main__":  # pragma: no cover
    # Run through the package module, so subcommands registered by other modules (which
    # import ``napari_crant.cli``) land in the same registry.
    from napari_crant.cli import main as _main

    sys.exit(_main())
