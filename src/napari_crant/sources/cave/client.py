"""Calling CAVE safely: building the caveclient, deadlines, retries, errors without tokens.

:class:`CaveConnection` owns one dataset's unmodified ``caveclient.CAVEclient`` (built on first
use, every HTTP session given the configured timeout) and :meth:`CaveConnection.run`, through
which every request goes: it adds a deadline, retries transient failures (HTTP 5xx, refused
connections) with exponential backoff, and turns whatever requests/urllib3/caveclient raised
into a :class:`~napari_crant.sources.cave.errors.CaveError` naming the dataset, the server and
what was being done. The original exception is dropped (not even kept as ``__context__``):
its request headers hold ``Authorization: Bearer <token>``.

Tokens are handled only by caveclient (``~/.cloudvolume/secrets``) or passed explicitly as
``auth_token``; they are never logged, printed or put into exception messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from napari_crant.sources.cave.config import CaveDatasetConfig
from napari_crant.sources.cave.errors import (
    CaveAuthError,
    CaveConnectionError,
    CaveError,
    CaveNotFoundError,
    CaveServerError,
)
from napari_crant.sources.cave.tokens import Secret, as_secret, redact

#: Characters of a server's error text kept in a message.
MESSAGE_CHARS = 1500


class _DropBetaWarning(logging.Filter):
    """Drop caveclient's "Deprecation: ... beta testing" warning logged on every live_live_query."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "facilitate beta testing" not in str(record.msg)


_beta_filter = _DropBetaWarning()


def _status_of(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def _is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is (or wraps, as urllib3's retry exhaustion does) a timeout."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError

    seen = 0
    stack: list[Any] = [exc]
    while stack and seen < 20:
        e = stack.pop()
        seen += 1
        if isinstance(e, NewConnectionError):  # a refused connection (urllib3 subclasses it oddly)
            continue
        if isinstance(e, requests.Timeout | ReadTimeoutError | ConnectTimeoutError | TimeoutError):
            return True
        if isinstance(e, BaseException):
            stack += [a for a in e.args if isinstance(a, BaseException)]
            reason = getattr(e, "reason", None)
            if isinstance(reason, BaseException):
                stack.append(reason)
    return False


def token_help(server: str) -> str:
    """How to get and save a token for ``server`` (shown with every authentication error)."""
    return (
        f"To get a token for {server}: in Python run\n"
        "    from caveclient import CAVEclient\n"
        f"    client = CAVEclient(server_address={server!r})\n"
        "    client.auth.get_new_token()   # opens a browser page showing a new token\n"
        "    client.auth.save_token(token='PASTE-TOKEN-HERE', overwrite=True)\n"
        "or pass auth_token=... when opening the dataset."
    )


class CaveConnection:
    """One dataset's caveclient, and the policy every request to it follows.

    Parameters
    ----------
    config
        Which server and datastack, the timeout and the number of retries.
    auth_token
        Explicit token; by default caveclient reads the saved one.
    client
        An existing ``CAVEclient`` to use instead of building one.
    """

    def __init__(self, config: CaveDatasetConfig, auth_token: str | Secret | None = None,
                 client: Any = None):
        self.config = config
        self._token = as_secret(auth_token)
        self._client = client
        self._lock = threading.RLock()
        if _beta_filter not in logging.getLogger().filters:
            logging.getLogger().addFilter(_beta_filter)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return redact(f"CaveConnection({self.config.name!r}, {self.config.server_address}, {state})")

    @property
    def connected(self) -> bool:
        """Whether the caveclient has been built (nothing is sent before first use)."""
        return self._client is not None

    @property
    def where(self) -> str:
        """The dataset, server and datastack, as error messages name them."""
        cfg = self.config
        return f"{cfg.name} ({cfg.server_address}, datastack {cfg.datastack})"

    # -- tokens -------------------------------------------------------------------------------
    def _secret(self) -> Secret | None:
        """The token in use (explicit, or the one caveclient found); never shown to anyone."""
        if self._token:
            return self._token
        try:
            if self._client is not None:
                return as_secret(self._client.auth.token)
            from caveclient.auth import AuthClient

            return as_secret(AuthClient(server_address=self.config.server_address).token)
        except Exception:
            return None

    def redact(self, text: str) -> str:
        """``text`` without the token in use nor anything shaped like a credential (shortened)."""
        return redact(text, [self._secret()])[:MESSAGE_CHARS]

    # -- the request policy ---------------------------------------------------------------------
    def run(self, what: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` (which talks to CAVE) with a deadline, retries and clear errors.

        Parameters
        ----------
        what
            What is being done, for error messages (``"listing versions"``).
        fn
            The call to make.

        Raises
        ------
        CaveError
            A subclass saying what failed; it carries no cause nor context (see module docs).
        """
        attempt = 0
        while True:
            try:
                return self._with_deadline(what, fn)
            except CaveError:
                raise
            except Exception as exc:
                err = self._translate(what, exc)
                transient = (isinstance(err, CaveServerError) and (_status_of(exc) or 0) >= 500) or (
                    isinstance(err, CaveConnectionError) and not err.timed_out)
            if not transient or attempt >= self.config.retries:
                # raised outside the ``except`` block: no __context__ holding the request
                raise err
            time.sleep(0.5 * 2**attempt)
            attempt += 1

    def _with_deadline(self, what: str, fn: Callable[[], Any]) -> Any:
        # Per-socket timeouts are set on caveclient's sessions; this is the backstop for the
        # few requests caveclient makes outside them (API-version probes at client set-up).
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as e:
                box["error"] = e

        deadline = self.config.timeout * 4 + 5
        t = threading.Thread(target=target, name=f"cave-{what}", daemon=True)
        t.start()
        t.join(deadline)
        if t.is_alive():
            raise CaveConnectionError(
                f"{self.config.name}: no answer from {self.config.server_address} for {what} "
                f"within {deadline:.0f} s", timed_out=True)
        if "error" in box:
            raise box.pop("error")
        return box.get("value")

    def _translate(self, what: str, exc: BaseException) -> CaveError:
        import requests

        server = self.config.server_address
        status = _status_of(exc)
        where = self.where
        auth_exc = type(exc).__name__ == "AuthException"
        if status in (401, 403) or auth_exc:
            reason = "no token was found" if not self._secret() else "the token was rejected"
            if status == 403:
                reason += " (or the terms of service of this server have not been accepted yet)"
            return CaveAuthError(
                f"{where}: {what} refused (HTTP {status or 'redirect to login'}): {reason}.\n"
                + token_help(server)
            )
        if _is_timeout(exc):
            return CaveConnectionError(
                f"{where}: {what} timed out after {self.config.timeout:g} s (server slow or unreachable)",
                timed_out=True)
        if isinstance(exc, requests.ConnectionError):
            return CaveConnectionError(
                f"{where}: cannot connect for {what} ({type(exc).__name__}); check the address and "
                "your network")
        if status is not None and status >= 500:
            return CaveServerError(f"{where}: server error HTTP {status} during {what} (after retries): "
                                   + self.redact(str(exc)))
        if status == 404:
            return CaveNotFoundError(f"{where}: not found (HTTP 404) during {what}: "
                                     + self.redact(_server_message(exc)))
        if status is not None:
            return CaveError(f"{where}: HTTP {status} during {what}: " + self.redact(str(exc)))
        return CaveServerError(
            f"{where}: unreadable or unexpected answer during {what} ({type(exc).__name__}: "
            + self.redact(str(exc)) + ")")

    # -- the caveclient ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ``CAVEclient`` (built on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self.run("connecting", self._build_client)
            return self._client

    def _build_client(self) -> Any:
        from caveclient import CAVEclient

        kwargs: dict[str, Any] = {"server_address": self.config.server_address, "write_server_cache": False}
        if self._token:
            kwargs["auth_token"] = self._token.reveal()
        client = CAVEclient(self.config.datastack, **kwargs)
        self._patch_timeout(client.info.session)
        return client

    def _patch_timeout(self, session: Any) -> None:
        if getattr(session, "_napari_crant_timeout", False):
            return
        request = session.request
        timeout = self.config.timeout

        def with_timeout(method: str, url: str, **kw: Any) -> Any:
            kw.setdefault("timeout", timeout)
            return request(method, url, **kw)

        session.request = with_timeout
        session._napari_crant_timeout = True

    def service(self, name: str) -> Any:
        """A caveclient sub-client (``materialize``, ``chunkedgraph``, ``l2cache``) with timeouts."""
        client = self.client
        svc = self.run(f"connecting to {name}", lambda: getattr(client, name))
        self._patch_timeout(svc.session)
        return svc


def _server_message(exc: BaseException) -> str:
    """The ``message`` of a CAVE error answer (JSON), else the exception's text."""
    response = getattr(exc, "response", None)
    try:
        message = response.json().get("message") if response is not None else None
    except (ValueError, AttributeError):
        message = None
    return str(message) if isinstance(message, str) and message else str(exc)
