"""Mutual TLS through a virtual BG96: the module presents a client certificate (seclevel 2).

The host uploads the CA certificate, its client certificate and its private key into the
module's file system (AT+QFUPL) and names them in an SSL context (AT+QSSLCFG). A loopback
TLS echo server that requires a client certificate from that CA accepts the connection;
the same open from a context without a client certificate (seclevel 1) fails with 566.

    python examples/mutual_tls.py
"""

from __future__ import annotations

from bg96 import VirtualModule
from bg96.host import Modem, OpenFailed
from bg96.testing import TestPki, ThreadedTlsEchoServer

MUTUAL, SERVER_ONLY = 1, 2  # two of the module's SSL contexts
MESSAGE = b"hello from a device with a client certificate"


def main() -> int:
    pki = TestPki("example CA")
    device = pki.client_cert("bg96-device-0001")
    server_ctx = pki.server_ctx(require_client_cert=True)

    with (
        ThreadedTlsEchoServer(server_ctx) as server,
        VirtualModule() as module,
        Modem.open(module.url) as modem,
    ):
        address = (server.host, server.port)
        modem.sync()
        modem.configure_pdp(1, apn="internet")
        modem.activate(1)
        modem.upload("cacert.pem", pki.ca_pem)
        modem.upload("client.pem", device.cert_pem)
        modem.upload("client.key", device.key_pem)
        print("files in the module:", modem.list_files())

        # seclevel 2: verify the server, and present our certificate when it asks
        modem.ssl_config(
            MUTUAL,
            version=3,
            seclevel=2,
            cacert="cacert.pem",
            clientcert="client.pem",
            clientkey="client.key",
        )
        with modem.create_connection(address, ssl_ctx=MUTUAL, timeout=5) as conn:
            conn.sendall(MESSAGE)
            echo = conn.makefile("rb").read(len(MESSAGE))
        print("seclevel 2: the server echoed", echo)

        # seclevel 1: verify the server only; this server then refuses the handshake
        modem.ssl_config(SERVER_ONLY, version=3, seclevel=1, cacert="cacert.pem")
        try:
            modem.create_connection(address, ssl_ctx=SERVER_ONLY, timeout=5)
            refused_with = None
        except OpenFailed as exc:
            refused_with = exc.code
            print(f"seclevel 1: {exc}")

    if echo != MESSAGE or refused_with != 566:
        print(f"FAILED: echo {echo!r}, open without a client certificate: {refused_with}")
        return 1
    print("OK: mutual TLS with the client certificate; refused (566) without it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
