"""4 MiB through AT+QSSLSEND / AT+QSSLRECV against a loopback TLS echo, versus the protocol's bound.

    .venv/bin/python bench/throughput.py [--mib N] [--no-pin]

The module runs as ``python -m bg96 serve --tcp 127.0.0.1:0``; a TLS echo server
(``ThreadedTlsEchoServer``) and a bare asyncio TCP echo server run alongside. The host is one
blocking socket with TCP_NODELAY that behaves like a real driver: ``ATE0``; per 1460-byte chunk
``AT+QSSLSEND=0,1460``, wait for ``> ``, the data, wait for ``SEND OK``, then one
``AT+QSSLRECV=0,1500`` for what has come back; at the end it reads until every byte is back.

Each chunk needs three AT round trips (command -> prompt, data -> SEND OK, QSSLRECV -> data),
so no host can beat ``1460 B / (3 x RTT)``, with RTT the bare echo round trip measured in this
run. Prints MB/s, that bound and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from bg96.testing import TestPki, ThreadedTlsEchoServer
from common import (
    CHUNK,
    RECV,
    AtClient,
    add_loop,
    add_no_pin,
    cpu_pair,
    echo_cmd,
    module_cmd,
    open_ssl,
    payload,
    pin_client,
    qssl_echo,
    server,
    where,
)

_parser = argparse.ArgumentParser(description="QSSLSEND/QSSLRECV throughput versus its bound")
_parser.add_argument("--mib", type=int, default=4, help="MiB to send (default 4)")
add_no_pin(_parser)
add_loop(_parser)
ARGS = _parser.parse_args()
MIB: int = ARGS.mib
TOTAL = MIB * 1024 * 1024
ROUND_TRIPS_PER_CHUNK = 3
ECHO_SAMPLES = 2000
PLACEMENT = cpu_pair(ARGS.no_pin)


def echo_rtt(port: int, size: int) -> float:
    """Median round trip (seconds) of ``size`` bytes through the bare echo server."""
    client = AtClient(port, read_size=262144)
    message = b"x" * size
    times: list[float] = []
    for i in range(ECHO_SAMPLES + 200):
        start = time.perf_counter()
        client.sock.sendall(message)
        client.read_exactly(size)
        if i >= 200:
            times.append(time.perf_counter() - start)
    client.close()
    return statistics.median(times)


def main() -> None:
    client_cpus, server_cpus = PLACEMENT or (None, None)
    pin_client(client_cpus)
    data = payload(TOTAL, "bg96 throughput")
    pki = TestPki("bg96 bench CA")
    with (
        tempfile.TemporaryDirectory() as files,
        ThreadedTlsEchoServer(pki.server_ctx()) as tls_echo,
        server(module_cmd(files, ARGS.loop), server_cpus) as module_server,
        server(echo_cmd(), server_cpus) as echo_server,
    ):
        before = echo_rtt(echo_server.port, 6), echo_rtt(echo_server.port, CHUNK)
        host = AtClient(module_server.port, read_size=262144)
        host.ready()
        open_ssl(host, tls_echo.port)
        elapsed, echoed = qssl_echo(host, data)
        trips = host.at_round_trips
        host.command(b"AT+QSSLCLOSE=0")
        host.close()
        received = len(tls_echo.received)
        after = echo_rtt(echo_server.port, 6), echo_rtt(echo_server.port, CHUNK)
    # the faster of the two measurements gives the stricter bound
    rtt_small, rtt_chunk = min(before[0], after[0]), min(before[1], after[1])
    assert echoed == data, "echoed bytes differ"
    assert received == TOTAL
    chunks = -(-TOTAL // CHUNK)
    mbps = TOTAL / elapsed / 1e6
    bound = CHUNK / (ROUND_TRIPS_PER_CHUNK * rtt_small) / 1e6
    bound_chunk = CHUNK / (2 * rtt_small + rtt_chunk) / 1e6
    print(f"{MIB} MiB through AT+QSSLSEND ({CHUNK}) / AT+QSSLRECV ({RECV}), TLS echo on loopback")
    print(f"  ({where(PLACEMENT)}; the TLS echo server is a thread of the client process)")
    print(f"  {'elapsed':40} {elapsed:9.3f} s")
    print(f"  {'AT round trips per chunk (used)':40} {trips / chunks:9.2f}")
    for label, i in (("6 B", 0), ("1460 B", 1)):
        name = f"bare echo RTT {label}, median before/after"
        print(f"  {name:40} {before[i] * 1e6:9.1f} / {after[i] * 1e6:.1f} us")
    print(f"  {'throughput (payload, each way)':40} {mbps:9.2f} MB/s")
    print(f"  {'bound: 1460 B / (3 x 6 B RTT)':40} {bound:9.2f} MB/s")
    print(f"  {'bound: 1460 B / (2 x 6 B + 1460 B RTT)':40} {bound_chunk:9.2f} MB/s")
    print(
        f"ratio to the bound: {mbps / bound:.0%} (target >= 50%); to the 1460 B bound: "
        f"{mbps / bound_chunk:.0%}"
    )


if __name__ == "__main__":
    main()
