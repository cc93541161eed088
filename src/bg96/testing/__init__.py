"""Helpers for tests, examples and the demo: a throw-away PKI, loopback TLS echo servers, and
loopback servers without TLS (TCP echo, UDP echo; ``ntp_server.SntpServer`` for SNTP)."""

from .certs import ALL_CIPHERS, IssuedCert, TestPki
from .plain import EchoServer, UdpEchoServer
from .tls_server import ThreadedTlsEchoServer, TlsEchoServer, server_context

__all__ = [
    "ALL_CIPHERS",
    "EchoServer",
    "IssuedCert",
    "TestPki",
    "ThreadedTlsEchoServer",
    "TlsEchoServer",
    "UdpEchoServer",
    "server_context",
]
