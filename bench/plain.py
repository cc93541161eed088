"""Plain sockets against SSL ones and against a plain Python socket, same run.

    .venv/bin/python bench/plain.py [--mib N] [--transparent-mib N] [--runs N] [--no-pin]

The module runs as ``python -m bg96 serve --tcp 127.0.0.1:0``. Two measurements:

* **buffer mode**: ``--mib`` MiB through client 0 and back, per 1460-byte chunk one send
  (command, ``> ``, data, ``SEND OK``) and one read of 1500 for what has come back, then reads
  until every byte is back (``common.qssl_echo``): ``AT+QISEND``/``AT+QIRD`` on a plain TCP
  socket (``AT+QIOPEN`` ``"TCP"``) to the bare asyncio echo server, against
  ``AT+QSSLSEND``/``AT+QSSLRECV`` on an SSL socket to ``bg96.testing.TlsEchoServer`` (TLS 1.2,
  ECDHE-RSA-AES128-GCM-SHA256); each echo server is a process of its own on the module's
  CPU. Target: plain at least as fast as SSL.
* **transparent mode**: ``--transparent-mib`` MiB each way through ``AT+QIOPEN=...,2`` ->
  ``CONNECT`` (``transwaittm`` 0, ``transpktsize`` 1460) to the bare asyncio echo server
  (own process), against a plain Python socket connected straight to the same server, both
  moved with ``transparent.py``'s loop (``common.exchange``). Target: the module at least
  50%. The servers' CPU per MiB (schedstat) is shown too: the echo's alone for the plain
  socket, the module's and the echo's through the module.

Runs alternate; the best of ``--runs`` of each is reported. Asserts no timing.

Placement: pinned, the echo servers share the module's CPU, so in transparent mode that CPU
runs the module (two sockets each way) and the echo (one), against the echo alone for the
plain socket, where the client's CPU (sending, receiving and keeping 64 MiB) is the one that
is full. ``--echo-with-client`` puts the plain echo server on the client's CPU instead (then
the plain socket's client and echo share one CPU and the module has the other).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
from pathlib import Path

from bg96.testing import TestPki
from common import (
    AtClient,
    Server,
    add_loop,
    add_no_pin,
    cpu_pair,
    cpu_us,
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
_parser.add_argument(
    "--transparent-mib", type=int, default=64, help="MiB each way in transparent mode (default 64)"
)
_parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating (default 5)")
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


def transparent(module: Server, echo: Server, data: bytes) -> tuple[float, float, float]:
    """(seconds, module CPU µs, echo CPU µs) moving ``data`` each way."""
    module_port, echo_port = module.port, echo.port
    host = AtClient(module_port)
    host.command("ATE0")
    host.command('AT+QICFG="transwaittm",0')
    host.command('AT+QICFG="transpktsize",1460')
    host.command("AT+QIACT=1")
    host.command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{echo_port},0,2', final=b"CONNECT\r\n")
    assert not host.buf, host.buf
    try:
        before = cpu_us(module.pid), cpu_us(echo.pid)
        elapsed, echoed = exchange(host.sock, data)
        used = cpu_us(module.pid) - before[0], cpu_us(echo.pid) - before[1]
    finally:
        host.close()  # a DTR drop: back to command mode, the connection stays open
    assert echoed == data, "the echo differs"
    # the next host closes it and starts from an inactive PDP context
    host = AtClient(module_port)
    host.command("ATE0")
    host.command("AT+QICLOSE=0")
    host.command("AT+QIDEACT=1")
    host.close()
    return elapsed, *used


def direct(echo: Server, data: bytes) -> tuple[float, float]:
    """(seconds, echo CPU µs) moving ``data`` each way."""
    sock = socket.create_connection(("127.0.0.1", echo.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with sock:
        before = cpu_us(echo.pid)
        elapsed, echoed = exchange(sock, data)
        used = cpu_us(echo.pid) - before
    assert echoed == data, "the echo differs"
    return elapsed, used


def measure(
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    servers: tuple[Server, int, Server],
    data: bytes,
    big: bytes,
) -> None:
    """Alternating runs into ``times`` (seconds) and ``cpu`` (server CPU µs per MiB each way:
    the echo's for the plain socket, the module's and the echo's through the module)."""
    module, tls_echo, echo = servers
    host = AtClient(module.port, read_size=262144)
    host.ready()
    for _ in range(ARGS.runs):
        times["ssl"].append(buffer_mode(host, tls_echo, data, plain=False))
        times["tcp"].append(buffer_mode(host, echo.port, data, plain=True))
    host.close()
    mib = len(big) / (1 << 20)
    for _ in range(ARGS.runs):
        elapsed, echo_cpu = direct(echo, big)
        times["python"].append(elapsed)
        cpu["python echo"].append(echo_cpu / mib)
        elapsed, module_cpu, echo_cpu = transparent(module, echo, big)
        times["transparent"].append(elapsed)
        cpu["module"].append(module_cpu / mib)
        cpu["module echo"].append(echo_cpu / mib)


def main() -> None:
    client_cpus, server_cpus = PLACEMENT or (None, None)
    pin_client(client_cpus)
    data = payload(TOTAL, "bg96 plain")
    big = payload(ARGS.transparent_mib << 20, "bg96 plain transparent")
    leaf = TestPki("bg96 bench CA").server_cert()
    times: dict[str, list[float]] = {"ssl": [], "tcp": [], "python": [], "transparent": []}
    cpu: dict[str, list[float]] = {"python echo": [], "module": [], "module echo": []}
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
            measure(times, cpu, (module, tls_echo.port, echo), data, big)
    best = {name: (len(big) if name in ("python", "transparent") else TOTAL) / min(t) / 1e6
            for name, t in times.items()}  # fmt: skip
    print(f"Plain sockets ({where(PLACEMENT)}; {ARGS.runs} runs each, alternating; best shown)")
    print(f"  buffer mode, {ARGS.mib} MiB through an echo server (a process of its own):")
    print(f"    {'AT+QSSLSEND / AT+QSSLRECV (TLS)':40} {best['ssl']:8.2f} MB/s")
    print(f"    {'AT+QISEND / AT+QIRD (plain TCP)':40} {best['tcp']:8.2f} MB/s")
    print(
        f"  transparent mode, {ARGS.transparent_mib} MiB each way"
        " through a bare asyncio echo server:"
    )
    print(f"    {'plain Python socket':40} {best['python']:8.1f} MB/s")
    print(f"    {'AT+QIOPEN ... ,2 through the module':40} {best['transparent']:8.1f} MB/s")
    med = {name: statistics.median(values) for name, values in cpu.items()}
    print("  server CPU per MiB each way (median):")
    print(f"    {'plain Python socket: the echo':40} {med['python echo']:8.0f} µs")
    print(
        f"    {'through the module: module + echo':40} {med['module']:8.0f} µs"
        f" + {med['module echo']:.0f} µs"
    )
    print(f"ratio QISEND/QIRD / QSSLSEND/QSSLRECV: {best['tcp'] / best['ssl']:.2f}x (target >= 1)")
    ratio = best["transparent"] / best["python"]
    print(f"ratio transparent TCP / plain Python socket: {ratio:.0%} (target >= 50%)")


if __name__ == "__main__":
    main()
