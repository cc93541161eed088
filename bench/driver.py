"""The host driver (``bg96.Modem``) versus raw AT on a socket, to the same module, same run.

    .venv/bin/python bench/driver.py [-n N] [--mib N] [--runs N] [--no-pin]

The module runs once as ``python -m bg96 serve --tcp 127.0.0.1:0``. Its TCP port takes one
host at a time, so the raw socket and the driver (``Modem.open("socket://...")`` and
``sync()``) take turns, each with a connection of its own:

* **command round trip**: ``Modem.command("AT")`` against ``AT\\r`` -> ``\\r\\nOK\\r\\n`` on a
  blocking socket with TCP_NODELAY (after ``ATE0``), as in ``at_roundtrip.py``; blocks of
  each alternate. Prints medians, p90 and the ratio.
* **throughput**: the payload through ``modem.create_connection((host, port), ssl_ctx=0)`` to
  a loopback TLS echo server (``ThreadedTlsEchoServer``, a thread of this process, as in
  ``throughput.py``): ``sendall`` of each 1460-byte chunk, then a non-blocking ``recv`` for
  what has come back, then blocking ``recv`` until every byte is back. The baseline is
  ``throughput.py``'s raw AT (per chunk ``AT+QSSLSEND`` and one ``AT+QSSLRECV``, then
  ``AT+QSSLRECV`` until all is back) to the same module and echo server. Runs alternate,
  best of each shown. Prints MB/s and the ratio.
* **plain TCP throughput**: the same through ``modem.create_connection((host, port))``
  without an SSL context (AT+QIOPEN ``"TCP"``) to a loopback TCP echo server (a thread,
  ``bg96.testing.EchoServer``), against raw ``AT+QISEND``/``AT+QIRD`` the same way.

Asserts no timing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress

from bg96 import Modem, SocketLike, StreamConnection
from bg96.testing import EchoServer, TestPki, ThreadedTlsEchoServer
from common import (
    CHUNK,
    LOOPBACK,
    RECV,
    AtClient,
    add_no_pin,
    cpu_pair,
    module_cmd,
    open_ssl,
    open_tcp,
    p90,
    payload,
    pin_client,
    qssl_echo,
    round_trips,
    server,
    where,
)

_parser = argparse.ArgumentParser(description="the host driver versus raw AT on a socket")
_parser.add_argument("-n", type=int, default=2000, help="command round trips each (default 2000)")
_parser.add_argument("--mib", type=int, default=4, help="MiB through the connection (default 4)")
_parser.add_argument("--runs", type=int, default=3, help="throughput runs each (default 3)")
add_no_pin(_parser)
ARGS = _parser.parse_args()
if ARGS.n < 1 or ARGS.mib < 1 or ARGS.runs < 1:
    _parser.error("-n, --mib and --runs must be 1 or more")
N: int = ARGS.n
TOTAL = ARGS.mib * 1024 * 1024
BLOCK = 500  # round trips per turn (one host connection)
WARMUP = 50  # untimed round trips at the start of each turn
HANDOVER = 0.1  # s after a host hangs up, before the next connects (the module takes one)
PLACEMENT = cpu_pair(ARGS.no_pin)


class CountingModem(Modem):
    """``Modem`` that counts its writes: each (a command line, or the data after a prompt)
    starts one AT round trip."""

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


def open_modem(port: int) -> CountingModem:
    modem = CountingModem.open(f"socket://{LOOPBACK}:{port}")
    assert isinstance(modem, CountingModem)
    modem.sync()
    return modem


def raw_host(port: int, read_size: int = 65536) -> AtClient:
    host = AtClient(port, read_size)
    host.command(b"ATE0")
    return host


def hang_up(close: Callable[[], None]) -> None:
    close()
    time.sleep(HANDOVER)


# ---- command round trip --------------------------------------------------------------------


def raw_round_trips(port: int, n: int) -> list[float]:
    host = raw_host(port)
    try:
        round_trips(host, b"AT\r", b"\r\nOK\r\n", WARMUP)
        return round_trips(host, b"AT\r", b"\r\nOK\r\n", n)
    finally:
        hang_up(host.close)


def driver_round_trips(port: int, n: int) -> list[float]:
    modem = open_modem(port)
    try:
        for _ in range(WARMUP):
            modem.command("AT")
        times: list[float] = []
        for _ in range(n):
            start = time.perf_counter_ns()
            response = modem.command("AT")
            times.append((time.perf_counter_ns() - start) / 1000)
            assert response.final == b"OK" and not response.lines, response
        return times
    finally:
        hang_up(modem.close)


# ---- throughput ----------------------------------------------------------------------------


def raw_throughput(
    port: int, echo_port: int, data: bytes, plain: bool
) -> tuple[float, bytes, float]:
    """throughput.py's method (``plain``: QISEND/QIRD); (seconds, echo, AT round trips per
    chunk)."""
    host = raw_host(port, read_size=262144)
    try:
        if plain:
            open_tcp(host, echo_port)
        else:
            open_ssl(host, echo_port)
        elapsed, echoed = qssl_echo(host, data, plain=plain)
        trips = host.at_round_trips
        host.command(b"AT+QICLOSE=0" if plain else b"AT+QSSLCLOSE=0")
        host.command(b"AT+QIDEACT=1")
    finally:
        hang_up(host.close)
    return elapsed, echoed, trips / -(-len(data) // CHUNK)


def socket_echo(sock: SocketLike[StreamConnection], data: bytes) -> tuple[float, bytes]:
    """``data`` through ``sock`` and back, chunk by chunk like ``common.qssl_echo``."""
    echoed = bytearray()
    start = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        sock.sendall(data[i : i + CHUNK])
        sock.settimeout(0.0)  # what has come back, without waiting
        with suppress(TimeoutError):
            echoed += sock.recv(RECV)
        sock.settimeout(10.0)
    while len(echoed) < len(data):
        echoed += sock.recv(RECV)
    return time.perf_counter() - start, bytes(echoed)


def driver_throughput(
    port: int, echo_port: int, data: bytes, plain: bool
) -> tuple[float, bytes, float]:
    """``create_connection`` (``plain``: without an SSL context) and ``socket_echo``;
    (seconds, echo, AT round trips per chunk)."""
    modem = open_modem(port)
    try:
        modem.activate()
        ssl_ctx = None if plain else 0
        sock = modem.create_connection((LOOPBACK, echo_port), ssl_ctx=ssl_ctx, timeout=10.0)
        modem.writes = 0
        elapsed, echoed = socket_echo(sock, data)
        trips = modem.writes
        sock.close()
        modem.deactivate()
    finally:
        hang_up(modem.close)
    return elapsed, echoed, trips / -(-len(data) // CHUNK)


def main() -> None:
    client_cpus, server_cpus = PLACEMENT or (None, None)
    pin_client(client_cpus)
    data = payload(TOTAL, "bg96 driver")
    pki = TestPki("bg96 bench CA")
    raw_times: list[float] = []
    driver_times: list[float] = []
    kinds = (("raw", raw_throughput), ("driver", driver_throughput))
    runs: dict[tuple[str, bool], list[tuple[float, float]]] = {
        (name, plain): [] for name, _ in kinds for plain in (False, True)
    }
    with (
        tempfile.TemporaryDirectory() as files,
        ThreadedTlsEchoServer(pki.server_ctx()) as tls_echo,
        EchoServer() as tcp_echo,
        server(module_cmd(files), server_cpus) as module,
    ):
        first = AtClient(module.port)
        first.ready()
        hang_up(first.close)
        while len(raw_times) < N:
            n = min(BLOCK, N - len(raw_times))
            raw_times += raw_round_trips(module.port, n)
            driver_times += driver_round_trips(module.port, n)
        for _ in range(ARGS.runs):
            for plain, echo_port in ((False, tls_echo.port), (True, tcp_echo.port)):
                for name, run in kinds:
                    elapsed, echoed, per_chunk = run(module.port, echo_port, data, plain)
                    assert echoed == data, f"{name}: the echo differs"
                    runs[name, plain].append((elapsed, per_chunk))
    r_med, d_med = statistics.median(raw_times), statistics.median(driver_times)
    print("Host driver (bg96.Modem over socket://) versus raw AT, same bg96 serve --tcp process")
    print(f"  ({where(PLACEMENT)}; the echo servers are threads of the client process)")
    print(f"command round trip, N={N} each (microseconds)")
    print(f"  {'':32} {'median':>9} {'p90':>9} {'min':>9}")
    rows = (("raw socket: AT\\r -> OK", raw_times), ('Modem.command("AT")', driver_times))
    for label, times in rows:
        med, tail, low = statistics.median(times), p90(times), min(times)
        print(f"  {label:32} {med:9.1f} {tail:9.1f} {low:9.1f}")
    print(f"ratio (median driver / median raw): {d_med / r_med:.2f}x   (target: within 1.3x)")
    print(f"ratio (p90 driver / p90 raw):       {p90(driver_times) / p90(raw_times):.2f}x")
    labels = {
        False: {"raw": "raw AT (throughput.py)", "driver": "modem.create_connection()"},
        True: {"raw": "raw AT+QISEND/AT+QIRD", "driver": "create_connection(), no ssl_ctx"},
    }
    for plain, what in ((False, "a TLS"), (True, "a plain TCP")):
        print(
            f"{ARGS.mib} MiB through {what} connection to a loopback echo, {CHUNK}-byte sends "
            f"({ARGS.runs} runs each, alternating; best shown)"
        )
        best: dict[str, float] = {}
        for name, label in labels[plain].items():
            done = runs[name, plain]
            best[name] = TOTAL / min(t for t, _ in done) / 1e6
            seconds = ", ".join(f"{t:.3f}" for t, _ in done)
            per_chunk = statistics.median(p for _, p in done)
            print(
                f"  {label:31} {best[name]:6.2f} MB/s each way   "
                f"({per_chunk:.2f} AT round trips per chunk; runs: {seconds} s)"
            )
        print(f"ratio driver / raw AT: {best['driver'] / best['raw']:.0%} (target >= 80%)")


if __name__ == "__main__":
    main()
