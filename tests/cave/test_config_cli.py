"""Dataset registration (code and environment) and the ``napari-crant serve`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import requests
from cave_helpers import TOKEN, unregister

import napari_crant as nc
from napari_crant.server.runner import free_port
from napari_crant.sources.cave import (
    ENV_SERVERS,
    CaveError,
    CaveSource,
    cave_dataset_names,
    open_cave_dataset,
    register_cave_dataset,
)
from tiny import A2


def test_builtin_datasets_need_no_network():
    for name, ds in (("latest", "kronauer_ant"), ("sandbox", "kronauer_ant_sandbox")):
        src = open_cave_dataset(name, auth_token="x" * 12)
        assert isinstance(src, CaveSource)
        assert src.config.datastack == ds and src.config.server_address == "https://proofreading.zetta.ai"
        assert "x" * 12 not in repr(src) and "x" * 12 not in json.dumps(src.describe())
    assert {"latest", "sandbox"} <= set(cave_dataset_names())
    with pytest.raises(CaveError, match="unknown CAVE dataset"):
        open_cave_dataset("nope")


def test_register_cave_dataset(tiny_server, tiny_path):
    register_cave_dataset("tinycave", tiny_server.url, tiny_server.datastack, annotation_source=tiny_path,
                          auth_token=TOKEN, timeout=10)
    try:
        got = nc.get_connectivity(A2, dataset="tinycave")
        pd.testing.assert_frame_equal(got, nc.get_connectivity(A2, dataset=tiny_path))
        assert got.attrs["source"] == "cave"
    finally:
        unregister("tinycave")


def test_env_servers(tiny_server, tiny_path, monkeypatch):
    monkeypatch.setenv(ENV_SERVERS, json.dumps({"envtiny": {
        "server_address": tiny_server.url, "datastack": tiny_server.datastack,
        "annotation_source": tiny_path, "timeout": 10}}))
    assert "envtiny" in cave_dataset_names()
    src = open_cave_dataset("envtiny", auth_token=TOKEN)
    from napari_crant.materialization import resolve_materialization

    at = resolve_materialization(src, "latest")
    assert at.version == 3
    assert len(src.synapses(np.array([A2], np.uint64), None, at)) == 7
    monkeypatch.setenv(ENV_SERVERS, "[{\"name\": \"bad\"}]")
    with pytest.raises(CaveError, match="needs name, server_address and datastack"):
        open_cave_dataset("bad")
    monkeypatch.setenv(ENV_SERVERS, "{not json")
    with pytest.raises(CaveError, match="not valid JSON"):
        cave_dataset_names()


def test_serve_command(tiny_path, isolated_home):
    """``napari-crant serve`` binds loopback, enforces --token and truncates at --row-cap."""
    port = free_port()
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from napari_crant.cli import main; sys.exit(main())",
         "serve", "--dataset", tiny_path, "--port", str(port), "--token", TOKEN, "--row-cap", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/info/version", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {proc.stderr.read()}") from None
                time.sleep(0.2)
        assert requests.get(url + "/info/version", timeout=5).status_code == 401
        assert requests.get(url + "/info/version", timeout=5,
                            headers={"Authorization": f"Bearer {TOKEN}"}).json()
        from caveclient import CAVEclient

        client = CAVEclient("kronauer_ant", server_address=url, auth_token=TOKEN, write_server_cache=False)
        assert len(client.materialize.query_table("synapses_v2", split_positions=True)) == 2
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_serve_rejects_non_snapshot(capsys):
    from napari_crant.cli import main

    assert main(["serve", "--dataset", "/nonexistent/dir", "--port", "0"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_cave_status_command(tiny_server, tiny_path, monkeypatch, capsys):
    from napari_crant.cli import main

    monkeypatch.setenv(ENV_SERVERS, json.dumps([{"name": "st", "server_address": tiny_server.url,
                                                 "datastack": tiny_server.datastack, "timeout": 10}]))
    # no token anywhere (HOME is empty): a clear message on how to get one
    assert main(["cave-status", "--dataset", "st"]) == 1
    err = capsys.readouterr().err
    assert "get_new_token" in err and TOKEN not in err
    register_cave_dataset("st", tiny_server.url, tiny_server.datastack, auth_token=TOKEN)
    try:
        assert main(["cave-status", "--dataset", "st"]) == 0
        assert "newest 3" in capsys.readouterr().out
    finally:
        unregister("st")


def test_get_source_latest_is_lazy_cave(isolated_home):
    """``dataset='latest'`` opens a CaveSource without touching the network."""
    from napari_crant import datasets

    try:
        src = datasets.get_source("latest")
        assert isinstance(src, CaveSource) and not src.connection.connected
        assert src.cache_key.startswith("cave:https://proofreading.zetta.ai:kronauer_ant:")
    finally:
        datasets.close_datasets()
