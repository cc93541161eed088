"""Testing how host code copes with the field: faults and a slow cellular link, on demand.

``Uplink`` stands for firmware: it sends readings over TLS and, when the module reports the
connection or the PDP context gone, brings both back and sends again. The tests break things
under it with ``bg96_module.faults`` and run it over the nb-iot profile::

    pytest examples/test_field_failures.py
    pytest examples/test_field_failures.py --bg96-network nb-iot   # every test on nb-iot
"""

from __future__ import annotations

import contextlib
import time

import pytest

from bg96 import Modem, VirtualModule
from bg96.host import ModemError, SslConnection
from bg96.network import profile
from bg96.testing.loopback import LoopbackTlsServer

CLIENT_ID = 0
SSL_CTX = 1


class Uplink:
    """Firmware's view: ``send`` a reading; reconnect (PDP context too) when it fails once."""

    def __init__(self, modem: Modem, host: str, port: int) -> None:
        self.modem, self.host, self.port = modem, host, port
        self.conn: SslConnection | None = None
        self.reconnects = 0

    def _connect(self) -> SslConnection:
        if self.modem.ip_address(1) is None:
            self.modem.activate(1)
        self.modem.ssl_config(SSL_CTX, version=3)
        return self.modem.open_ssl(CLIENT_ID, self.host, self.port, ssl_ctx=SSL_CTX)

    def send(self, reading: bytes) -> bytes:
        """Send ``reading``, return the server's echo of it."""
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = self._connect()
                self.conn.send(reading)
                echo = b""
                while len(echo) < len(reading):
                    got = self.conn.recv(len(reading) - len(echo), timeout=30)
                    if not got:
                        raise ModemError("the server closed the connection")
                    echo += got
                return echo
            except ModemError:
                if attempt:
                    raise
                self._drop()
                self.reconnects += 1
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(ModemError):  # a socket the module already freed
                conn.close()


@pytest.mark.bg96_virtual_only
def test_the_network_drops_the_pdp_context(
    bg96_module: VirtualModule, bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer
) -> None:
    uplink = Uplink(bg96_modem, bg96_tls_server.host, bg96_tls_server.port)
    assert uplink.send(b"reading 1") == b"reading 1"
    bg96_module.faults.pdp_deactivate(1)  # +QIURC: "pdpdeact",1; the socket is closed
    assert uplink.send(b"reading 2") == b"reading 2"
    assert uplink.reconnects == 1


@pytest.mark.bg96_virtual_only
def test_the_server_resets_mid_reading(
    bg96_module: VirtualModule, bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer
) -> None:
    uplink = Uplink(bg96_modem, bg96_tls_server.host, bg96_tls_server.port)
    assert uplink.send(b"warm-up") == b"warm-up"
    bg96_module.faults.server_reset(CLIENT_ID, after_bytes=4)  # in the middle of the next echo
    assert uplink.send(b"reading 2") == b"reading 2"
    assert uplink.reconnects == 1


NB_IOT = profile("nb-iot").with_values(attach_time=1.0, pdp_activation_time=0.5, seed=7)


@pytest.mark.parametrize("bg96_module_options", [{"network": NB_IOT}])
def test_a_reading_over_nb_iot_takes_round_trips(
    bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer
) -> None:
    uplink = Uplink(bg96_modem, bg96_tls_server.host, bg96_tls_server.port)
    started = time.monotonic()
    assert uplink.send(b"reading 1") == b"reading 1"  # TCP, the TLS handshake, the echo
    first = time.monotonic() - started
    started = time.monotonic()
    assert uplink.send(b"reading 2") == b"reading 2"  # just the echo
    second = time.monotonic() - started
    assert second >= NB_IOT.rtt - 2 * NB_IOT.jitter
    assert first > 3 * second  # a firmware timeout set from a LAN would have fired
