"""A local CAVE-compatible HTTP server over a snapshot (FastAPI + uvicorn).

``caveclient.CAVEclient(datastack, server_address=url, auth_token=..., write_server_cache=False)``
works against it unmodified. Use :func:`serve_in_thread` in tests and notebooks, or the
``napari-crant serve`` command.
"""

from napari_crant.server.app import create_app
from napari_crant.server.runner import LocalCaveServer, free_port, serve_in_thread

__all__ = ["LocalCaveServer", "create_app", "free_port", "serve_in_thread"]
