"""The module's HTTPS client against ``http.client`` fetching the same file from the same server.

    .venv/bin/python bench/https_download.py [--mib N] [--runs N] [--no-pin]

(Not ``bench/http.py``: run as a script, that name would hide the standard library's
``http`` package from everything the script imports.)

A loopback HTTPS server (``bg96.testing.http_server``, its own process) serves ``--mib`` MiB.
Three ways to get it, alternating, best of ``--runs`` each:

* ``GET+READ``: ``AT+QHTTPGET``, its ``+QHTTPGET: 0,200,<n>``, ``AT+QHTTPREAD`` (CONNECT, the
  body, OK, ``+QHTTPREAD: 0``) to the host over the module's AT port;
* ``READFILE+QFDWL``: ``AT+QHTTPGET``, ``AT+QHTTPREADFILE`` into UFS, its
  ``+QHTTPREADFILE: 0``, then ``AT+QFDWL`` to the host (and ``AT+QFDEL``);
* ``http.client``: an ``HTTPSConnection`` from this process straight to the server (the
  baseline).

Prints MB/s (10^6 bytes per second, from the GET to the last byte on the host) and the
ratios to the baseline; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import re
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bg96.testing import TestPki
from common import LOOPBACK, AtClient, add_no_pin, cpu_pair, module_cmd, pin_client, server, where

_parser = argparse.ArgumentParser(description="HTTPS through the module vs http.client")
_parser.add_argument("--mib", type=int, default=4, help="MiB per download (default 4)")
_parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
add_no_pin(_parser)
ARGS = _parser.parse_args()
PLACEMENT = cpu_pair(ARGS.no_pin)

HTTPS_SERVER = """
import sys, ssl, threading
from bg96.testing.http_server import HttpServer
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
with HttpServer(ctx) as server:
    print(f"https on socket://127.0.0.1:{server.port}", flush=True)
    threading.Event().wait()
"""


def fetch_at(at: AtClient, path: str, size: int) -> float:
    """GET through the module, read to the host; seconds."""
    start = time.perf_counter()
    at.command("AT+QHTTPGET=60")
    at.read_until(b"+QHTTPGET: ")
    result = at.read_until(b"\r\n")
    assert result.startswith(f"0,200,{size}".encode()), result
    at.sock.sendall(b"AT+QHTTPREAD=60\r")
    at.read_until(b"CONNECT\r\n")
    body = at.read_exactly(size)
    at.read_until(b"+QHTTPREAD: 0\r\n")
    elapsed = time.perf_counter() - start
    assert len(body) == size
    return elapsed


def fetch_file(at: AtClient, size: int) -> float:
    """GET through the module into UFS, then AT+QFDWL to the host; seconds."""
    start = time.perf_counter()
    at.command("AT+QHTTPGET=60")
    at.read_until(b"+QHTTPGET: 0,200,")
    at.read_until(b"\r\n")
    at.command('AT+QHTTPREADFILE="bench.bin",60')
    at.read_until(b"+QHTTPREADFILE: 0\r\n")
    at.sock.sendall(b'AT+QFDWL="bench.bin"\r')
    at.read_until(b"CONNECT\r\n")
    body = at.read_exactly(size)
    tail = at.read_until(b"OK\r\n")
    elapsed = time.perf_counter() - start
    assert re.search(rb"\+QFDWL: %d," % size, tail), tail
    assert len(body) == size
    at.command('AT+QFDEL="bench.bin"')
    return elapsed


def fetch_direct(port: int, ca: Path, path: str, size: int) -> float:
    ctx = ssl.create_default_context(cafile=str(ca))
    start = time.perf_counter()
    conn = http.client.HTTPSConnection(LOOPBACK, port, context=ctx, timeout=60)
    conn.request("GET", path)
    body = conn.getresponse().read()
    elapsed = time.perf_counter() - start
    conn.close()
    assert len(body) == size
    return elapsed


def main() -> int:
    size = ARGS.mib * 1024 * 1024
    path = f"/fixed/{size}"
    pki = TestPki("bench http CA")
    leaf = pki.server_cert()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cert.pem").write_bytes(leaf.cert_pem)
        (root / "key.pem").write_bytes(leaf.key_pem)
        (root / "ca.pem").write_bytes(pki.ca_pem)
        (root / "files").mkdir()
        client_cpus, server_cpus = PLACEMENT if PLACEMENT is not None else (None, None)
        pin_client(client_cpus)
        https_cmd = [
            sys.executable,
            "-c",
            HTTPS_SERVER,
            str(root / "cert.pem"),
            str(root / "key.pem"),
        ]
        with (
            server(https_cmd, server_cpus) as web,
            server(module_cmd(str(root / "files")), server_cpus) as module,
        ):
            at = AtClient(module.port)
            at.ready()
            at.command("AT+QIACT=1")
            at.upload("ca.pem", pki.ca_pem)
            for line in (
                'AT+QSSLCFG="cacert",1,"ca.pem"',
                'AT+QSSLCFG="seclevel",1,1',
                'AT+QHTTPCFG="sslctxid",1',
            ):
                at.command(line)
            url = f"https://{LOOPBACK}:{web.port}{path}"
            at.sock.sendall(f"AT+QHTTPURL={len(url)},10\r".encode())
            at.read_until(b"CONNECT\r\n")
            at.sock.sendall(url.encode())
            at.read_until(b"OK\r\n")
            best: dict[str, float] = {}
            ways: dict[str, Callable[[], float]] = {
                "http.client": lambda: fetch_direct(web.port, root / "ca.pem", path, size),
                "GET+READ": lambda: fetch_at(at, path, size),
                "READFILE+QFDWL": lambda: fetch_file(at, size),
            }
            for _ in range(ARGS.runs):
                for name, run in ways.items():
                    seconds = run()
                    best[name] = min(best.get(name, seconds), seconds)
            at.close()
    print(f"{ARGS.mib} MiB over HTTPS, best of {ARGS.runs}; {where(PLACEMENT)}")
    base = size / best["http.client"] / 1e6
    for name, seconds in best.items():
        rate = size / seconds / 1e6
        print(f"  {name:<16} {rate:8.1f} MB/s   {rate / base:6.2f}x http.client")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
