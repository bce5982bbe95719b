"""The errors a CAVE dataset raises: one base class, one subclass per kind of failure.

Messages name the dataset, the server and what was being done; they never hold a token, and
the exception that caused them is not kept (its request headers would hold ``Bearer <token>``).
"""

from __future__ import annotations


class CaveError(RuntimeError):
    """A CAVE request failed; the message says which service and why (never the token)."""


class CaveAuthError(CaveError):
    """The CAVE server rejected the request for lack of a valid token."""


class CaveConnectionError(CaveError):
    """The CAVE server could not be reached or did not answer in time.

    ``timed_out`` says whether the server was reached but too slow (not retried).
    """

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class CaveNotFoundError(CaveError):
    """The CAVE server does not know what was asked for (HTTP 404: a table, datastack, route...)."""


class CaveServerError(CaveError):
    """The CAVE server answered with an error (HTTP 5xx) or with something unreadable."""


class CaveServerNotice(UserWarning):
    """A note the CAVE server sent with an answer (its ``Warning`` header, e.g. a table owner's notice)."""
