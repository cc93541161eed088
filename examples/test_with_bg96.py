"""Testing host code with the bg96 pytest plugin: copy this file next to your own tests.

Each test gets a fresh virtual BG96 (``bg96_modem``) and a loopback TLS echo server with a
throw-away CA (``bg96_tls_server``). The same file runs against a real module or
``bg96 serve``::

    pytest examples/test_with_bg96.py
    pytest examples/test_with_bg96.py --bg96-url socket://127.0.0.1:7000
"""

from __future__ import annotations

import pytest

from bg96 import Modem, VirtualModule
from bg96.testing.loopback import LoopbackTlsServer

CA_FILE = "cacert.pem"
SSL_CTX = 1


def prepare(modem: Modem, ca_pem: bytes) -> None:
    """What firmware does before QSSLOPEN: PDP context 1 up, the CA uploaded, seclevel 1.

    Written to run again on a module that outlives the test (hardware, ``bg96 serve``).
    """
    if modem.ip_address(1) is None:
        modem.activate(1)
    if CA_FILE in modem.list_files():
        modem.delete(CA_FILE)
    modem.upload(CA_FILE, ca_pem)
    modem.ssl_config(SSL_CTX, seclevel=1, cacert=CA_FILE)


def test_echo_over_ssl(bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer) -> None:
    prepare(bg96_modem, bg96_tls_server.ca_pem)

    conn = bg96_modem.open_ssl(0, bg96_tls_server.host, bg96_tls_server.port, ssl_ctx=SSL_CTX)
    conn.send(b"hello, BG96")
    assert conn.recv(11, timeout=10) == b"hello, BG96"
    conn.close()

    assert bg96_tls_server.received == b"hello, BG96"


@pytest.mark.parametrize("bg96_module_options", [{"resolve": {"localhost": "127.0.0.1"}}])
def test_open_by_name(bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer) -> None:
    """The virtual module resolves no names unless told to (``bg96 serve`` uses DNS)."""
    prepare(bg96_modem, bg96_tls_server.ca_pem)

    with bg96_modem.create_connection(("localhost", bg96_tls_server.port), ssl_ctx=SSL_CTX) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert sock.recv(4) == b"GET "


@pytest.mark.bg96_virtual_only
def test_the_upload_lands_in_the_module(
    bg96_module: VirtualModule, bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer
) -> None:
    """Only the virtual module lets a test look inside: its files, its clock, its engine."""
    prepare(bg96_modem, bg96_tls_server.ca_pem)

    assert bg96_module.store.read(CA_FILE) == bg96_tls_server.ca_pem
