"""Helpers for tests and the demo: a throw-away PKI and a loopback TLS echo server."""

from .certs import ALL_CIPHERS, IssuedCert, TestPki
from .tls_server import ThreadedTlsEchoServer, TlsEchoServer, server_context

__all__ = [
    "ALL_CIPHERS",
    "IssuedCert",
    "TestPki",
    "ThreadedTlsEchoServer",
    "TlsEchoServer",
    "server_context",
]
