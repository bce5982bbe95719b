"""``napari-crant serve`` (a local CAVE-compatible server) and ``napari-crant snapshot`` (cut a snapshot)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from napari_crant.cli import command
from napari_crant.server.http import DEFAULT_MAX_BODY_BYTES
from napari_crant.server.latency import MAX_LATENCY_MS

ENV_TOKEN = "NAPARI_CRANT_SERVE_TOKEN"


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None,
                   help="snapshot to serve: 'demo', a registered name or a snapshot directory "
                   "(default: demo)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765; 0 picks a free one)")
    p.add_argument("--datastack", default="kronauer_ant", help="datastack name to answer for")
    p.add_argument("--token-file", default=None,
                   help=f"require the bearer token written in this file (or set {ENV_TOKEN}); "
                   "requests without it get 401")
    p.add_argument("--token", default=None,
                   help=f"the token itself (visible to every user in 'ps': prefer {ENV_TOKEN} "
                   "or --token-file)")
    p.add_argument("--row-cap", type=int, default=None,
                   help="truncate every query response at N rows, like production CAVE (~200000)")
    p.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help="largest request body in bytes; larger ones get 413 "
                   f"(default: {DEFAULT_MAX_BODY_BYTES})")
    p.add_argument("--latency", type=float, default=0.0, metavar="MS",
                   help="delay every request by MS milliseconds, like a server far away (default: 0)")
    p.add_argument("--tls-cert", default=None, metavar="PEM",
                   help="serve HTTPS with this certificate (with --tls-key); the datastack info then names "
                   "graphene://middleauth+https://... as production does (default: plain HTTP)")
    p.add_argument("--tls-key", default=None, metavar="PEM",
                   help="the certificate's private key (unencrypted)")


def serve_token(args: argparse.Namespace) -> str | None:
    """The token ``serve`` requires: ``--token-file``, then ``--token``, then the environment.

    Raises
    ------
    ValueError
        A token file that cannot be read or is empty, or several sources given at once.
    """
    given = [name for name, value in (("--token-file", args.token_file), ("--token", args.token))
             if value is not None]
    if len(given) > 1:
        raise ValueError("give the token with one of --token-file and --token, not both")
    if args.token_file is not None:
        try:
            text = Path(args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read the token file {args.token_file}: {type(e).__name__}") from None
        if not text:
            raise ValueError(f"the token file {args.token_file} is empty")
        return text
    if args.token is not None:
        print(f"napari-crant serve: warning: --token shows the token to every user of this machine "
              f"(in 'ps'); set {ENV_TOKEN} or use --token-file instead", file=sys.stderr)
        if not args.token:
            raise ValueError("--token is empty")
        return args.token
    return os.environ.get(ENV_TOKEN) or None


@command("serve", "serve a snapshot over the CAVE HTTP API (for caveclient)", _serve_args)
def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from napari_crant.datasets import DatasetError, get_source
    from napari_crant.server.app import create_app
    from napari_crant.server.runner import free_port
    from napari_crant.server.tls import ServerTlsError, TlsFiles
    from napari_crant.sources.snapshot import SnapshotError, SnapshotSource

    def fail(msg: str) -> int:
        print(f"napari-crant serve: {msg}", file=sys.stderr)
        return 2

    if args.row_cap is not None and args.row_cap < 1:
        return fail(f"--row-cap must be >= 1, not {args.row_cap}")
    if args.max_body < 1:
        return fail(f"--max-body must be >= 1, not {args.max_body}")
    if not 0 <= args.latency <= MAX_LATENCY_MS:
        return fail(f"--latency must be between 0 and {MAX_LATENCY_MS:g} milliseconds, not {args.latency}")
    try:
        token = serve_token(args)
    except ValueError as e:
        return fail(str(e))
    try:
        tls = TlsFiles.from_args(args.tls_cert, args.tls_key)
    except ServerTlsError as e:
        return fail(str(e))
    try:
        source = get_source(args.dataset)
    except (DatasetError, SnapshotError) as e:
        return fail(str(e))
    if not isinstance(source, SnapshotSource):
        return fail(f"dataset {source.name!r} is not a snapshot; only snapshots can be served")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback and token is None:
        print(f"napari-crant serve: warning: serving on {args.host} without a token: anyone who can "
              "reach this address can read the data", file=sys.stderr)
    port = args.port or free_port(args.host)
    app = create_app(source, datastack=args.datastack, token=token, row_cap=args.row_cap,
                     max_body_bytes=args.max_body, latency_ms=args.latency)
    url = f"{'https' if tls else 'http'}://{args.host}:{port}"
    print(f"serving {source.name} ({source.path}) as datastack {args.datastack!r} at {url}")
    if tls:
        print(f"  TLS: {tls.cert}; a self-signed certificate must be trusted by the clients: "
              "REQUESTS_CA_BUNDLE (caveclient, cloud-volume) and TENSORSTORE_CA_BUNDLE (EM), "
              "see docs/cave-server.md")
    print(f"  tables: {', '.join(app.state.backend.tables)} (annotations: "
          f"annotation_source='cave:{app.state.backend.annotation_table}')")
    print("  from caveclient import CAVEclient")
    print(f"  client = CAVEclient({args.datastack!r}, server_address={url!r}, "
          f"auth_token={'<your token>' if token else repr('anything')}, write_server_cache=False)")
    sys.stdout.flush()
    uvicorn.run(app, host=args.host, port=port, log_level="warning", lifespan="off",
                **(tls.uvicorn_options() if tls else {}))
    return 0


def _snapshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="latest", help="dataset to cut from (default: latest)")
    p.add_argument("--ids", nargs="+", required=True, help="root IDs of the neurons to keep")
    p.add_argument("--with-partners", action="store_true",
                   help="also keep the synaptic partners' roots and L2 data")
    p.add_argument("--materialization", default="latest", help="'latest', 'live', a version or a time")
    p.add_argument("--out", required=True, help="snapshot directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing directory")


@command("snapshot", "cut an offline snapshot of chosen neurons from a dataset", _snapshot_args)
def _snapshot(args: argparse.Namespace) -> int:
    from napari_crant.datasets import get_source
    from napari_crant.snapshot.cut import cut_snapshot

    try:
        source = get_source(args.dataset)
        path = cut_snapshot(source, args.ids, args.out, materialization=args.materialization,
                            with_partners=args.with_partners, overwrite=args.overwrite)
    except (ValueError, RuntimeError, FileExistsError) as e:
        print(f"napari-crant snapshot: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
