"""A registered token never shows: not in a repr, a message, a cause/context or a traceback.

The server below echoes the request headers (``Authorization: Bearer <token>``) in its error
answers, as a misconfigured proxy or a debugging server can.
"""

from __future__ import annotations

import pickle
import traceback

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

import napari_crant as nc
from napari_crant import datasets
from napari_crant.server.app import create_app
from napari_crant.server.runner import serve_in_thread
from napari_crant.sources.cave import (
    CaveAuthError,
    CaveError,
    CaveServerError,
    CaveSource,
    Secret,
    open_cave_dataset,
    redact,
    register_cave_dataset,
    unregister_cave_dataset,
)
from napari_crant.sources.cave import config as cave_config
from napari_crant.sources.snapshot import SnapshotSource
from tiny import A2

#: Fake hex tokens (never real ones): the server's, and one it does not know.
HEX = "9f3c2a71d0b84e6f5a1c7e29b3d04f86"
OTHER_HEX = "0be4a9d27c31f5e8a6d90b1c4f7e2a53"


@pytest.fixture(scope="module")
def echoing(isolated_home, tiny_path):
    state = {"status": None}
    app = create_app(SnapshotSource(tiny_path), token=HEX)

    @app.middleware("http")
    async def echo_headers(request: Request, call_next):
        if state["status"] and "/query" in request.url.path:
            headers = {k: v for k, v in request.headers.items()}
            return JSONResponse({"message": f"failed; request headers were {headers}"},
                                status_code=state["status"])
        return await call_next(request)

    with serve_in_thread(None, app=app) as server:
        server.state = state
        yield server


@pytest.fixture
def registered(echoing):
    echoing.state["status"] = None
    cfg = register_cave_dataset("tokentest", echoing.url, echoing.datastack, auth_token=HEX,
                                timeout=10, retries=0)
    yield cfg
    echoing.state["status"] = None
    unregister_cave_dataset("tokentest")
    datasets.close_datasets()


def _texts(err: BaseException) -> list[str]:
    """Every way an exception is commonly shown or inspected."""
    out = [str(err), repr(err), repr(vars(err)), repr(err.args)]
    out += traceback.format_exception(err)
    out += list(traceback.TracebackException.from_exception(err, capture_locals=True).format())
    return out


def _assert_scrubbed(err: BaseException, token: str) -> None:
    assert err.__cause__ is None and err.__context__ is None
    for text in _texts(err):
        assert token not in text


def test_secret_never_shows_itself():
    s = Secret(HEX)
    assert HEX not in repr(s) and HEX not in str(s) and HEX not in f"{s}" and HEX not in f"{s!r}"
    assert s.reveal() == HEX and s == Secret(HEX) and s != Secret(OTHER_HEX)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        Secret("")


@pytest.mark.parametrize("text", [
    "headers {'authorization': 'Bearer %s'}",
    "GET https://h/api?middle_auth_token=%s&x=1",
    '{"auth_token": "%s"}',
    "https://user:%s@host/path",
])
def test_redact_removes_credentials_even_unknown_ones(text):
    assert HEX not in redact(text % HEX)
    assert "***" in redact(text % HEX)


def test_redact_removes_a_known_token_anywhere():
    assert redact(f"x{HEX}y", [HEX]) == "x***y"
    assert redact(f"x{HEX}y", [Secret(HEX)]) == "x***y"


def test_registry_and_config_reprs(registered):
    src = datasets.get_source("tokentest")
    shown = [
        repr(registered), str(registered), repr(src), str(src), repr(vars(src)),
        repr(vars(src.connection)), repr(src.connection), repr(src.config_dict()),
        repr(datasets._registry), repr(datasets._open), repr(datasets._families),
        repr(cave_config._registered), repr(cave_config._registered_tokens),
        repr(vars(cave_config)),
    ]
    for text in shown:
        assert HEX not in text
    assert src.connection._secret().reveal() == HEX  # the token is there, only never shown


def test_config_repr_hides_credentials_in_the_address():
    cfg = cave_config.CaveDatasetConfig("x", f"https://someone:{HEX}@cave.example.org", "ds")
    src = CaveSource(cfg)
    for text in (repr(cfg), repr(src), repr(src.connection)):
        assert HEX not in text and "cave.example.org" in text


@pytest.mark.parametrize("status, kind", [(500, CaveServerError), (400, CaveError)])
def test_error_answers_echoing_the_header(registered, echoing, status, kind):
    """The server's text is kept (redacted); the request with its header is not."""
    src = open_cave_dataset("tokentest")
    src.versions()
    echoing.state["status"] = status
    with pytest.raises(kind, match=f"HTTP {status}") as e:
        nc.get_connectivity(A2, dataset="tokentest")
    assert "request headers were" in str(e.value) and "Bearer ***" in str(e.value)
    _assert_scrubbed(e.value, HEX)


def test_rejected_token(echoing, isolated_home):
    register_cave_dataset("tokenwrong", echoing.url, echoing.datastack, auth_token=OTHER_HEX, timeout=10)
    try:
        with pytest.raises(CaveAuthError, match="rejected") as e:
            nc.get_connectivity(A2, dataset="tokenwrong")
        _assert_scrubbed(e.value, OTHER_HEX)
        _assert_scrubbed(e.value, HEX)
    finally:
        unregister_cave_dataset("tokenwrong")
        datasets.close_datasets()
