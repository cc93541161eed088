"""An over-the-air update as BG96 firmware does it: the module's own HTTPS client downloads a
1 MiB image into its files (AT+QHTTPREADFILE), the host reads it out (AT+QFDWL) and checks
its SHA-256 against the one the update server publishes.

Everything runs on 127.0.0.1 with certificates made now: a throw-away CA, a loopback HTTPS
update server (``bg96.testing.http_server``), and a virtual BG96 on the ``nb-iot`` network
profile that resolves the server's name to 127.0.0.1. The host uploads the CA into the
module and points SSL context 1 at it (seclevel 1: the server is verified).

    python examples/ota_update.py            # nb-iot as it is: 1 MiB at 32 kbit/s, ~5 min
    python examples/ota_update.py --quick    # nb-iot's latency, a fast downlink (CI)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable

from bg96 import VirtualModule
from bg96.host import Modem
from bg96.network import profile
from bg96.testing import TestPki
from bg96.testing.http_server import HttpServer, payload

HOST = "updates.example.test"
IMAGE = "bg96-app-1.2.0.bin"
SIZE = 1024 * 1024
SSL_CTX = 1


def bar(label: str) -> Callable[[int, int], None]:
    """A progress callback printing a line each 10%."""
    shown = [-1]

    def progress(done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if tenth != shown[0]:
            shown[0] = tenth
            print(f"{label}: {done:>8} / {total} bytes ({tenth * 10}%)", flush=True)

    return progress


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a fast downlink, no attach wait")
    args = parser.parse_args()
    network = profile("nb-iot")
    if args.quick:
        network = network.with_values(
            down=50_000_000, up=50_000_000, attach_time=0.2, pdp_activation_time=0.1
        )
    print(network.describe())

    pki = TestPki("example update CA")
    image = payload(SIZE)
    digest = hashlib.sha256(image).hexdigest()
    with (
        HttpServer(pki.server_ctx(HOST)) as server,
        VirtualModule(resolve={HOST: "127.0.0.1"}, network=network) as module,
        Modem.open(module.url) as modem,
    ):
        server.add_blob(IMAGE, image)
        server.add_blob(IMAGE + ".sha256", digest.encode())
        base = server.url("/blob/", host=HOST)

        modem.sync()
        modem.wait_registered(timeout=60)
        modem.configure_pdp(1, apn="iot.example")
        print("PDP context 1 active:", modem.activate(1))
        modem.upload("update-ca.pem", pki.ca_pem)
        modem.ssl_config(SSL_CTX, version=4, ciphersuite=0xFFFF, seclevel=1, cacert="update-ca.pem")

        manifest = modem.http_get(base + IMAGE + ".sha256", ssl_ctx=SSL_CTX)
        published = manifest.body.decode()
        print(f"manifest: HTTP {manifest.status}, SHA-256 {published}")

        got = modem.http_download(
            base + IMAGE, IMAGE, ssl_ctx=SSL_CTX, timeout=600, progress=bar("into UFS")
        )
        print(f"image: HTTP {got.status}, {got.content_length} bytes stored as {IMAGE}")
        print("files:", modem.list_files())
        data = modem.download(IMAGE, progress=bar("AT+QFDWL"))
        modem.delete(IMAGE)

    if hashlib.sha256(data).hexdigest() != published or len(data) != SIZE:
        print("FAILED: the image does not match its published SHA-256")
        return 1
    print(f"OK: {SIZE} bytes downloaded over HTTPS into the module, SHA-256 verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
