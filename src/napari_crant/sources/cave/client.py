"""Calling CAVE safely: building the caveclient, one retry policy, a deadline, clear errors.

:class:`CaveConnection` owns one dataset's unmodified ``caveclient.CAVEclient`` (built on first
use with caveclient's own retries switched off, every HTTP session given the configured timeout)
and :meth:`CaveConnection.run`, through which every request goes. It is the one retry policy:
transient failures (HTTP 5xx, a refused connection, a connection dropped before the answer was
complete, see :mod:`~napari_crant.sources.cave.failures`) are tried again up to
``config.retries`` times with exponential backoff, all within ``config.deadline`` seconds;
timeouts, unreachable servers and other errors are reported at once. Whatever
requests/urllib3/caveclient raised becomes a :class:`~napari_crant.sources.cave.errors.CaveError`
naming the dataset, the server, what was being done, how often it was tried and what to do. The
original exception is dropped (not even kept as ``__context__``): its request headers hold
``Authorization: Bearer <token>``.

Tokens are handled only by caveclient (``~/.cloudvolume/secrets``) or passed explicitly as
``auth_token``; they are never logged, printed or put into exception messages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from napari_crant.sources.cave import failures
from napari_crant.sources.cave.config import CaveDatasetConfig
from napari_crant.sources.cave.errors import (
    CaveAuthError,
    CaveConnectionError,
    CaveError,
    CaveNotFoundError,
    CaveServerError,
)
from napari_crant.sources.cave.failures import Failure
from napari_crant.sources.cave.tokens import Secret, as_secret, redact

#: Characters of a server's error text kept in a message.
MESSAGE_CHARS = 1500
#: Seconds before the first retry; doubled for each further one, at most :data:`BACKOFF_MAX_S`.
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0


class _DropBetaWarning(logging.Filter):
    """Drop caveclient's "Deprecation: ... beta testing" warning logged on every live_live_query."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "facilitate beta testing" not in str(record.msg)


_beta_filter = _DropBetaWarning()


class _DeadlinePassed(Exception):
    """An attempt was still running when the deadline passed."""


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
    @property
    def deadline(self) -> float:
        """Seconds one :meth:`run` may take in all (attempts and backoff)."""
        cfg = self.config
        return float(cfg.deadline) if cfg.deadline is not None else cfg.timeout * 4 + 5

    def run(self, what: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn`` (which talks to CAVE) under the retry policy, within the deadline.

        Parameters
        ----------
        what
            What is being done, for error messages (``"listing versions"``).
        fn
            The call to make (it may be called again after a transient failure).

        Raises
        ------
        CaveError
            A subclass saying what failed; it carries no cause nor context (see module docs).
        """
        return self.run_collecting(what, fn)[0]

    def run_collecting(self, what: str, fn: Callable[[], Any]) -> tuple[Any, list[str]]:
        """:meth:`run`, also returning the ``Warning`` headers of the successful attempt's answers."""
        deadline = self.deadline
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            err: CaveError | None = None
            try:
                return self._attempt(what, fn, deadline - (time.monotonic() - start))
            except CaveError:
                raise
            except _DeadlinePassed:
                err = self._deadline_error(what, attempt, deadline)
            except Exception as exc:
                failure = failures.classify(exc)
                pause = min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
                spent = time.monotonic() - start
                if not (failure.transient and attempt <= self.config.retries
                        and spent + pause < deadline):
                    err = self._translate(what, exc, failure, attempt, spent)
            if err is not None:
                # raised outside the ``except`` block: no __context__ holding the request
                raise err
            time.sleep(pause)

    def _attempt(self, what: str, fn: Callable[[], Any], remaining: float) -> tuple[Any, list[str]]:
        # Per-socket timeouts are set on caveclient's sessions; the thread bounds the whole
        # attempt, including the requests caveclient makes outside them (API-version probes
        # at client set-up) and answers that trickle in slower than the timeout per read.
        box: dict[str, Any] = {}

        def target() -> None:
            _seen.warnings = []
            try:
                box["value"] = fn()
            except BaseException as e:
                box["error"] = e
            box["warnings"] = _seen.warnings

        t = threading.Thread(target=target, name=f"cave-{what}", daemon=True)
        t.start()
        t.join(max(remaining, 0.0))
        if t.is_alive():
            raise _DeadlinePassed()
        if "error" in box:
            raise box.pop("error")
        return box.get("value"), box.get("warnings", [])

    def bad_answer(self, what: str, problem: str) -> CaveServerError:
        """The error for an answer that arrived but is not what CAVE sends (naming what to do)."""
        return CaveServerError(
            f"{self.where}: unexpected answer while {what}: {problem}. Try again; if it persists, "
            f"check that {self.config.server_address} runs CAVE for datastack "
            f"{self.config.datastack!r} (not a proxy or another service), or tell its administrators.")

    def _deadline_error(self, what: str, attempts: int, deadline: float) -> CaveConnectionError:
        return CaveConnectionError(
            f"{self.where}: no answer for {what} within the deadline of {deadline:g} s "
            f"({_tries(attempts)}). The server or the network is slow: try again later, or allow "
            f"more time with open_cave_dataset({self.config.name!r}, timeout=..., deadline=...).",
            timed_out=True)

    def _translate(self, what: str, exc: BaseException, failure: Failure, attempts: int,
                   spent: float) -> CaveError:
        server = self.config.server_address
        where = self.where
        name = self.config.name
        status = failure.status
        tried = f"{_tries(attempts)} in {spent:.1f} s"
        if status in (401, 403) or type(exc).__name__ == "AuthException":
            reason = "no token was found" if not self._secret() else "the token was rejected"
            if status == 403:
                reason += " (or the terms of service of this server have not been accepted yet)"
            return CaveAuthError(
                f"{where}: {what} refused (HTTP {status or 'redirect to login'}): {reason}.\n"
                + token_help(server)
            )
        if failure.kind == failures.CERTIFICATE:
            return CaveConnectionError(
                f"{where}: cannot connect securely for {what}: {failure.reason} ({tried}). If "
                f"{server} uses a certificate of your own (e.g. 'napari-crant serve --tls-cert'), "
                "set REQUESTS_CA_BUNDLE to a CA bundle holding its CA; otherwise check the address "
                f"of dataset {name!r} (a proxy may be intercepting the connection).")
        if failure.kind == failures.REFUSED:
            return CaveConnectionError(
                f"{where}: cannot connect for {what}: the connection was refused ({tried}). Nothing "
                f"answers at {server}: check the address of dataset {name!r} and that the server is up.")
        if failure.kind == failures.UNREACHABLE:
            return CaveConnectionError(
                f"{where}: cannot reach the server for {what}: {failure.reason} ({tried}). Check the "
                f"address of dataset {name!r} and your network connection.")
        if failure.kind == failures.DROPPED:
            return CaveConnectionError(
                f"{where}: the connection was dropped before the answer to {what} was complete "
                f"({failure.reason}; {tried}). The server or a proxy on the way closed it, e.g. "
                "while overloaded or restarting: try again later"
                + ("; if large queries keep failing, ask for less at once with "
                   f"open_cave_dataset({name!r}, id_batch=...)." if what.startswith("querying") else "."))
        if failure.kind == failures.TIMEOUT:
            return CaveConnectionError(
                f"{where}: {what} timed out: the server was reached but sent no answer within "
                f"{self.config.timeout:g} s. It may be busy: try again later, or allow more time "
                f"with open_cave_dataset({name!r}, timeout=...).", timed_out=True)
        if status is not None and status >= 500:
            return CaveServerError(
                f"{where}: server error HTTP {status} during {what} ({tried}): "
                + self.redact(str(exc))
                + "\nThe server failed, not the request: try again later, or tell the server's "
                "administrators if it persists.")
        if status == 404:
            return CaveNotFoundError(f"{where}: not found (HTTP 404) during {what}: "
                                     + self.redact(_server_message(exc)))
        if status is not None:
            hint = (f"\nThe server has no such thing: check the datastack, table and version names of "
                    f"dataset {name!r}." if status == 404 else "")
            return CaveError(f"{where}: HTTP {status} during {what}: " + self.redact(str(exc)) + hint)
        return CaveServerError(
            f"{where}: unreadable or unexpected answer during {what} ({type(exc).__name__}: "
            + self.redact(str(exc)) + f"). Check that {server} is a CAVE server serving datastack "
            f"{self.config.datastack!r}; a proxy or captive portal may have answered instead.")

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

        # max_retries=0: caveclient's urllib3 retries would multiply :meth:`run`'s attempts
        kwargs: dict[str, Any] = {"server_address": self.config.server_address,
                                  "write_server_cache": False, "max_retries": 0}
        if self._token:
            kwargs["auth_token"] = self._token.reveal()
        client = CAVEclient(self.config.datastack, **kwargs)
        self._patch_timeout(client.info.session)
        return client

    def _patch_timeout(self, session: Any) -> None:
        """Give ``session``'s requests the timeout, no retries of their own (a ``client`` passed
        in keeps caveclient's default of 3), and note the ``Warning`` header of answers."""
        if getattr(session, "_napari_crant_timeout", False):
            return
        from urllib3.util.retry import Retry

        for adapter in session.adapters.values():
            adapter.max_retries = Retry(0, read=False)  # requests' own default
        request = session.request
        timeout = self.config.timeout

        def with_timeout(method: str, url: str, **kw: Any) -> Any:
            kw.setdefault("timeout", timeout)
            return request(method, url, **kw)

        session.request = with_timeout
        session.hooks.setdefault("response", []).append(_note_warning)
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


#: Per thread: the ``Warning`` headers of the answers received during the current attempt.
_seen = threading.local()


def _note_warning(response: Any, *args: Any, **kwargs: Any) -> None:
    """requests response hook: remember the answer's ``Warning`` header (CAVE's row-cap signal)."""
    warning = response.headers.get("Warning")
    seen = getattr(_seen, "warnings", None)
    if warning and seen is not None:
        seen.append(str(warning))


def _tries(attempts: int) -> str:
    return "tried once" if attempts == 1 else f"tried {attempts} times"
