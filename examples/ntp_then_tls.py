"""The module's clock decides whether a certificate is valid: TLS fails until AT+QNTP sets it.

A BG96 starts with its clock at 1980 (AT+CCLK), and with ``ignorelocaltime`` 0 it checks the
server certificate's dates against that clock: every certificate issued since is "not valid
yet", and AT+QSSLOPEN fails. Firmware therefore syncs the clock first (AT+QNTP) and opens
the TLS connection after. Everything runs on 127.0.0.1: a TLS echo server with a certificate
of a throw-away CA, and a loopback SNTP server standing in for pool.ntp.org.

    python examples/ntp_then_tls.py
"""

from __future__ import annotations

from bg96 import VirtualModule
from bg96.host import Modem, OpenFailed
from bg96.testing import TestPki, ThreadedTlsEchoServer
from bg96.testing.ntp_server import SntpServer

SSL_CTX = 1  # the module's SSL context (AT+QSSLCFG) the connection uses
NTP_SERVER = "ntp.example"  # the module resolves it to the loopback SNTP server


def main() -> int:
    pki = TestPki("example CA")
    with (
        ThreadedTlsEchoServer(pki.server_ctx()) as server,
        SntpServer() as ntp,
        VirtualModule(resolve={NTP_SERVER: "127.0.0.1"}) as module,
        Modem.open(module.url) as modem,
    ):
        modem.sync()
        modem.configure_pdp(1, apn="internet")
        print("PDP context 1 active:", modem.activate(1))
        modem.upload("cacert.pem", pki.ca_pem)
        # verify the server (seclevel 1), and its certificate's dates by the module's clock
        modem.ssl_config(
            SSL_CTX, version=3, seclevel=1, cacert="cacert.pem", ignore_localtime=False
        )
        print("module clock:", modem.query("AT+CCLK?", "+CCLK:")[0])

        address = (server.host, server.port)
        try:
            modem.create_connection(address, ssl_ctx=SSL_CTX, timeout=5).close()
        except OpenFailed as refused:
            print(f"TLS before the sync: refused ({refused.code}: {refused.text})")
        else:
            print("FAILED: the module accepted a certificate its clock says is not valid yet")
            return 1

        synced = modem.ntp_sync(NTP_SERVER, port=ntp.port)
        print(f"AT+QNTP: the module's clock is now {synced.isoformat()}")
        print("module clock:", modem.query("AT+CCLK?", "+CCLK:")[0])

        with modem.create_connection(address, ssl_ctx=SSL_CTX, timeout=5) as sock:
            sock.sendall(b"hello after the sync")
            echoed = b""
            while len(echoed) < 20:
                echoed += sock.recv(100)
        print("TLS after the sync: echoed", echoed)

    if echoed != b"hello after the sync" or ntp.requests != 1:
        print("FAILED: unexpected echo or NTP requests", echoed, ntp.requests)
        return 1
    print("OK: TLS refused before the NTP sync (the module's clock said 1980), accepted after it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
