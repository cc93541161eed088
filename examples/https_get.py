"""HTTPS GET through a virtual BG96: ``http.client`` over ``Modem.create_connection``.

Everything runs on 127.0.0.1 and the certificates are made now: a throw-away CA, a loopback
HTTPS server (``http.server`` wrapped with ``ssl``), and a virtual BG96 that resolves the
server's name to 127.0.0.1. The host uploads the CA certificate into the module (AT+QFUPL)
and the module verifies the server against it (seclevel 1), as firmware does on a real one.

    python examples/https_get.py
"""

from __future__ import annotations

import http.client
import http.server
import threading

from bg96 import VirtualModule
from bg96.host import Modem
from bg96.testing import TestPki

HOST = "www.example.test"
PAGE = b"<h1>Hello through the BG96</h1>\n"
SSL_CTX = 1  # the module's SSL context (AT+QSSLCFG) the connection uses


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the connection stays open after the response

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        print("server:", format % args)


class ModemHTTPConnection(http.client.HTTPConnection):
    """``http.client`` with the modem as its network: the module does TCP and TLS."""

    def __init__(self, modem: Modem, host: str, port: int) -> None:
        super().__init__(host, port, timeout=10)
        self.modem = modem

    def connect(self) -> None:
        address = (self.host, self.port)
        self.sock = self.modem.create_connection(address, ssl_ctx=SSL_CTX, timeout=self.timeout)


def main() -> int:
    pki = TestPki("example CA")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = pki.server_ctx(HOST).wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    with VirtualModule(resolve={HOST: "127.0.0.1"}) as module, Modem.open(module.url) as modem:
        modem.sync()
        modem.configure_pdp(1, apn="internet")
        print("PDP context 1 active:", modem.activate(1))
        modem.upload("cacert.pem", pki.ca_pem)
        modem.ssl_config(SSL_CTX, version=3, seclevel=1, cacert="cacert.pem")

        conn = ModemHTTPConnection(modem, HOST, port)
        conn.request("GET", "/hello")
        response = conn.getresponse()
        body = response.read()
        conn.close()
        print("client:", response.status, response.reason, body)

    server.shutdown()
    server.server_close()
    if response.status != 200 or body != PAGE:
        print("FAILED: unexpected response")
        return 1
    print(f"OK: fetched https://{HOST}:{port}/hello through the virtual BG96")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
