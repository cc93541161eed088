"""``LoopbackTlsServer``: a TLS echo server on 127.0.0.1 together with the CA that signed it.

One object for what a test needs to point a module at a server: ``host``, ``port``, the CA
certificate to upload (``ca_pem``) and what the server ``received``. Used by the pytest
plugin's ``bg96_tls_server``; works the same in a plain script.
"""

from __future__ import annotations

import ssl

from .certs import TestPki
from .tls_server import ThreadedTlsEchoServer


class LoopbackTlsServer(ThreadedTlsEchoServer):
    """``with LoopbackTlsServer() as server``: echoes every byte, keeps a copy of them.

    ``pki`` defaults to a new throw-away RSA CA; the server certificate is for localhost,
    127.0.0.1 and ``extra_names``. ``versions``, ``ciphers`` and ``require_client_cert`` are
    those of :meth:`TestPki.server_ctx` (by default TLS 1.0 and up, every suite).
    """

    def __init__(
        self,
        pki: TestPki | None = None,
        *extra_names: str,
        versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
        ciphers: str | None = None,
        require_client_cert: bool = False,
    ) -> None:
        self.pki = pki if pki is not None else TestPki()
        super().__init__(
            self.pki.server_ctx(
                *extra_names,
                versions=versions,
                ciphers=ciphers,
                require_client_cert=require_client_cert,
            )
        )

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate (PEM) a module needs to verify this server (seclevel 1 or 2)."""
        return self.pki.ca_pem

    @property
    def received(self) -> bytes:  # type: ignore[override]
        """All plaintext received so far, across connections (a copy)."""
        return bytes(super().received)


__all__ = ["LoopbackTlsServer"]
