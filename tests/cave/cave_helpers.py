"""Shared constants and helpers of the CAVE tests."""

from __future__ import annotations

from napari_crant.sources.cave import CaveDatasetConfig, CaveSource

#: A made-up token for the local test server (never a real one).
TOKEN = "fake-test-token-3c1d9a"
DEMO_NEURONS = 60
DEMO_SEED = 1


def cave_source(server, annotations: str | None = None, name: str = "local", token: str | None = TOKEN,
                **options) -> CaveSource:
    """A :class:`CaveSource` talking to the local ``server`` (with the fake token by default)."""
    options.setdefault("timeout", 20.0)
    cfg = CaveDatasetConfig(name=name, server_address=server.url, datastack=server.datastack,
                            annotation_source=annotations, **options)
    return CaveSource(cfg, auth_token=token)


def unregister(name: str) -> None:
    """Forget a dataset registered by a test (its server stops with the test module)."""
    from napari_crant.sources.cave import unregister_cave_dataset

    unregister_cave_dataset(name)
