"""HTTPS for the local CAVE server: the certificate and key it serves with.

Production CAVE is HTTPS, and CRANTb's segmentation source is
``graphene://middleauth+https://...``: cloud-files sends the CAVE token only to
``middleauth+https`` addresses, and reads EM and supervoxel chunks as plain ``https`` bucket
reads, without it. Served over TLS (``napari-crant serve --tls-cert CERT --tls-key KEY``), the
local server names its sources the same way, so that route is exercised as in production.

Clients verify the certificate against the CA bundle their HTTP library uses: ``requests``
(caveclient, cloud-volume, cloud-files) reads ``REQUESTS_CA_BUNDLE`` (else certifi's bundle);
tensorstore (EM cutouts) reads ``TENSORSTORE_CA_BUNDLE`` (else the system bundle). For a
self-signed certificate, point both at a bundle holding it (see ``docs/cave-server.md``).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerTlsError", "TlsFiles"]


class ServerTlsError(ValueError):
    """A certificate or key the server cannot serve with; the message names the file."""


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate (chain) and its private key.

    Attributes
    ----------
    cert
        The certificate file (PEM; the server's certificate first, then any intermediates).
    key
        The private key file (PEM, not encrypted).
    """

    cert: Path
    key: Path

    @classmethod
    def from_args(cls, cert: str | Path | None, key: str | Path | None) -> TlsFiles | None:
        """``TlsFiles`` from optional paths: both or neither (None: plain HTTP).

        Raises
        ------
        ServerTlsError
            Only one of the two given, a file missing or unreadable, not PEM, or a key that
            does not belong to the certificate.
        """
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise ServerTlsError("give both the TLS certificate and its key (--tls-cert and --tls-key), "
                                 f"not only the {'key' if cert is None else 'certificate'}")
        files = cls(Path(cert).expanduser(), Path(key).expanduser())
        files.check()
        return files

    def check(self) -> None:
        """Load the pair as the server will, so a bad file fails now with a clear message.

        Raises
        ------
        ServerTlsError
            See :meth:`from_args`.
        """
        for what, path in (("certificate", self.cert), ("key", self.key)):
            if not path.is_file():
                raise ServerTlsError(f"the TLS {what} file {path} does not exist")
            try:
                head = path.read_bytes()[:4096]
            except OSError as e:
                raise ServerTlsError(f"cannot read the TLS {what} file {path}: {type(e).__name__}") from None
            if b"-----BEGIN " not in head:
                raise ServerTlsError(f"the TLS {what} file {path} is not PEM (no '-----BEGIN' line)")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(str(self.cert), str(self.key), password=_no_password)
        except ssl.SSLError as e:
            raise ServerTlsError(
                f"the TLS certificate {self.cert} and key {self.key} cannot be used together "
                f"({e.reason or e}): is the key the certificate's, unencrypted, and PEM?") from None
        except (OSError, ValueError) as e:
            raise ServerTlsError(f"the TLS key {self.key} cannot be loaded ({type(e).__name__}; an "
                                 "encrypted key is not supported)") from None

    def uvicorn_options(self) -> dict[str, str]:
        """The ``uvicorn.Config``/``uvicorn.run`` keyword arguments serving with this pair."""
        return {"ssl_certfile": str(self.cert), "ssl_keyfile": str(self.key)}


def _no_password() -> bytes:
    raise ValueError("the key is encrypted")
