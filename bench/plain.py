"""Plain sockets against SSL ones and against a plain Python socket, same run.

    .venv/bin/python bench/plain.py [--mib N] [--runs N] [--no-pin]

The module runs as ``python -m bg96 serve --tcp 127.0.0.1:0``. Two measurements:

* **buffer mode**: ``--mib`` MiB through client 0 and back, per 1460-byte chunk one send
  (command, ``> ``, data, ``SEND OK``) and one read of 1500 for what has come back, then reads
  until every byte is back (``common.qssl_echo``): ``AT+QISEND``/``AT+QIRD`` on a plain TCP
  socket (``AT+QIOPEN`` ``"TCP"``) to the bare asyncio echo server, against
  ``AT+QSSLSEND``/``AT+QSSLRECV`` on an SSL socket to ``bg96.testing.TlsEchoServer`` (TLS 1.2,
  ECDHE-RSA-AES128-GCM-SHA256); each echo server is a process of its own on the module's
  CPU. Target: plain at least as fast as SSL.
* **transparent mode**: ``4 x --mib`` MiB each way through ``AT+QIOPEN=...,2`` -> ``CONNECT``
  (``transwaittm`` 0, ``transpktsize`` 1460) to the bare asyncio echo server (own process),
  against a plain Python socket connected straight to the same server, both moved with
  ``transparent.py``'s loop (``common.exchange``). Target: the module at least 50%.

Runs alternate; the best of ``--runs`` of each is reported. Asserts no timing.

Placement: pinned, the echo servers share the module's CPU, so in transparent mode that CPU
runs the module (two sockets each way) and the echo (one), against the echo alone for the
plain socket: a module exactly as cheap per byte as the bare echo would read about 33%.
``--echo-with-client`` puts the plain echo server on the client's CPU instead (then the plain
socket's client and echo share one CPU and the module has the other), the opposite case.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

from bg96.testing import TestPki
from common import (
    AtClient,
    add_loop,
    add_no_pin,
    cpu_pair,
    echo_cmd,
    exchange,
    module_cmd,
    open_ssl,
    open_tcp,
    payload,
    pin_client,
    qssl_echo,
    server,
    tls_echo_cmd,
    where,
)

_parser = argparse.ArgumentParser(description="plain sockets versus SSL and plain Python")
_parser.add_argument("--mib", type=int, default=4, help="MiB in buffer mode (default 4)")
_parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating (default 3)")
add_no_pin(_parser)
add_loop(_parser)
_parser.add_argument(
    "--echo-with-client",
    action="store_true",
    help="pin the plain echo server to the client's CPU instead of the module's",
)
ARGS = _parser.parse_args()
TOTAL = ARGS.mib * 1024 * 1024
PLACEMENT = cpu_pair(ARGS.no_pin)


def buffer_mode(host: AtClient, port: int, data: bytes, *, plain: bool) -> float:
    (open_tcp if plain else open_ssl)(host, port)
    elapsed, echoed = qssl_echo(host, data, plain=plain)
    host.command(b"AT+QICLOSE=0" if plain else b"AT+QSSLCLOSE=0")
    host.command(b"AT+QIDEACT=1")
    assert echoed == data, "the echo differs"
    return elapsed


def transparent(module_port: int, echo_port: int, data: bytes) -> float:
    host = AtClient(module_port)
    host.command("ATE0")
    host.command('AT+QICFG="transwaittm",0')
    host.command('AT+QICFG="transpktsize",1460')
    host.command("AT+QIACT=1")
    host.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{echo_port},0,2', final=b"CONNECT\r\n")
    assert not host.buf, host.buf
    try:
        elapsed, echoed = exchange(host.sock, data)
    finally:
        host.close()  # a DTR drop: back to command mode, the connection stays open
    assert echoed == data, "the echo differs"
    # the next host closes it and starts from an inactive PDP context
    host = AtClient(module_port)
    host.command("ATE0")
    host.command("AT+QICLOSE=0")
    host.command("AT+QIDEACT=1")
    host.close()
    return elapsed


def direct(echo_port: int, data: bytes) -> float:
    sock = socket.create_connection(("127.0.0.1", echo_port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with sock:
        elapsed, echoed = exchange(sock, data)
    assert echoed == data, "the echo differs"
    return elapsed


def measure(
    times: dict[str, list[float]], module: int, tls_echo: int, echo: int, data: bytes, big: bytes
) -> None:
    host = AtClient(module, read_size=262144)
    host.ready()
    for _ in range(ARGS.runs):
        times["ssl"].append(buffer_mode(host, tls_echo, data, plain=False))
        times["tcp"].append(buffer_mode(host, echo, data, plain=True))
    host.close()
    for _ in range(ARGS.runs):
        times["python"].append(direct(echo, big))
        times["transparent"].append(transparent(module, echo, big))


def main() -> None:
    client_cpus, server_cpus = PLACEMENT or (None, None)
    pin_client(client_cpus)
    data = payload(TOTAL, "bg96 plain")
    big = payload(4 * TOTAL, "bg96 plain transparent")
    leaf = TestPki("bg96 bench CA").server_cert()
    times: dict[str, list[float]] = {"ssl": [], "tcp": [], "python": [], "transparent": []}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key, files = Path(tmp, "cert.pem"), Path(tmp, "key.pem"), Path(tmp, "files")
        cert.write_bytes(leaf.cert_pem)
        key.write_bytes(leaf.key_pem)
        files.mkdir()
        tls = tls_echo_cmd(str(cert), str(key), "ECDHE-RSA-AES128-GCM-SHA256")
        with (
            server(tls, server_cpus) as tls_echo,
            server(module_cmd(str(files), ARGS.loop), server_cpus) as module,
            server(echo_cmd(), client_cpus if ARGS.echo_with_client else server_cpus) as echo,
        ):
            measure(times, module.port, tls_echo.port, echo.port, data, big)
    best = {name: (len(big) if name in ("python", "transparent") else TOTAL) / min(t) / 1e6
            for name, t in times.items()}  # fmt: skip
    print(f"Plain sockets ({where(PLACEMENT)}; {ARGS.runs} runs each, alternating; best shown)")
    print(f"  buffer mode, {ARGS.mib} MiB through an echo server (a process of its own):")
    print(f"    {'AT+QSSLSEND / AT+QSSLRECV (TLS)':40} {best['ssl']:8.2f} MB/s")
    print(f"    {'AT+QISEND / AT+QIRD (plain TCP)':40} {best['tcp']:8.2f} MB/s")
    print(f"  transparent mode, {4 * ARGS.mib} MiB each way through a bare asyncio echo server:")
    print(f"    {'plain Python socket':40} {best['python']:8.1f} MB/s")
    print(f"    {'AT+QIOPEN ... ,2 through the module':40} {best['transparent']:8.1f} MB/s")
    print(f"ratio QISEND/QIRD / QSSLSEND/QSSLRECV: {best['tcp'] / best['ssl']:.2f}x (target >= 1)")
    ratio = best["transparent"] / best["python"]
    print(f"ratio transparent TCP / plain Python socket: {ratio:.0%} (target >= 50%)")


if __name__ == "__main__":
    main()
