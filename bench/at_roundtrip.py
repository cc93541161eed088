"""AT round trip over the TCP transport versus a bare asyncio TCP echo, in the same run.

    .venv/bin/python bench/at_roundtrip.py [-n N] [--no-pin]

The module runs as ``python -m bg96 serve --tcp 127.0.0.1:0`` and the baseline as a bare
asyncio echo server (a ``Protocol`` that writes back what it reads), each in its own process.
One blocking client socket with TCP_NODELAY times ``AT\\r`` -> ``\\r\\nOK\\r\\n`` (after
``ATE0``) against the module and ``AT\\r`` -> ``AT\\r`` against the echo, alternating blocks so
drift hits both alike. Prints medians, p90 and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

_parser = argparse.ArgumentParser(description="AT round trip versus a bare asyncio echo")
_parser.add_argument("-n", type=int, default=2000, help="round trips each (default 2000)")
_parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")
ARGS = _parser.parse_args()
N: int = ARGS.n
WARMUP = 200
BLOCK = 250

# The first lines put glibc malloc where a long-running process such as ``bg96 serve`` already
# is: freeing a large block raises its mmap threshold, so asyncio's 256 KiB read buffer comes
# from the heap instead of costing mmap + mremap + munmap on every read.
ECHO_SERVER = """
del_me = bytearray(4 << 20)
del del_me

import asyncio, socket

class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(f"echo on socket://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


class Client:
    """A blocking socket with a read buffer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def read_until(self, marker: bytes) -> bytes:
        while (i := self.buf.find(marker)) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out = bytes(self.buf[: i + len(marker)])
        del self.buf[: i + len(marker)]
        return out

    def close(self) -> None:
        self.sock.close()


def placement() -> tuple[set[int], set[int]] | None:
    """(client CPUs, server CPUs): servers on another CPU than the client, when there are two.

    On one shared CPU the scheduler decides who preempts whom, and a server that does more
    work per request can even come out faster than a bare echo; apart, both pay the same
    cross-CPU wake-up and the comparison is about the servers.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or ARGS.no_pin:
        return None
    return {cpus[0]}, {cpus[1]}


PLACEMENT = placement()


@contextmanager
def server(args: list[str]) -> Iterator[int]:
    """Start a server process; yields the port from its ``socket://127.0.0.1:<port>`` line."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        if PLACEMENT is not None:
            os.sched_setaffinity(proc.pid, PLACEMENT[1])
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "socket://127.0.0.1:" not in line:
            raise RuntimeError(f"{args[1:4]} did not start: {line!r}")
        yield int(line.split("socket://127.0.0.1:")[1].split()[0])
    finally:
        proc.terminate()
        proc.wait(10)


def round_trips(client: Client, send: bytes, reply: bytes, n: int) -> list[float]:
    times: list[float] = []
    sock = client.sock
    for _ in range(n):
        start = time.perf_counter_ns()
        sock.sendall(send)
        got = client.read_until(reply)
        times.append((time.perf_counter_ns() - start) / 1000)
        assert got == reply, got
    return times


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def where() -> str:
    if PLACEMENT is None:
        return "CPU placement left to the OS"
    return f"client on CPU {min(PLACEMENT[0])}, servers on CPU {min(PLACEMENT[1])}"


def main() -> None:
    if PLACEMENT is not None:
        os.sched_setaffinity(0, PLACEMENT[0])
    with tempfile.TemporaryDirectory() as files:
        module_cmd = [sys.executable, "-m", "bg96", "serve", "--tcp", "127.0.0.1:0"]
        with (
            server([*module_cmd, "--files", files]) as module_port,
            server([sys.executable, "-c", ECHO_SERVER]) as echo_port,
        ):
            module = Client(module_port)
            module.read_until(b"APP RDY\r\n")
            module.sock.sendall(b"ATE0\r")
            module.read_until(b"OK\r\n")
            echo = Client(echo_port)
            round_trips(module, b"AT\r", b"\r\nOK\r\n", WARMUP)
            round_trips(echo, b"AT\r", b"AT\r", WARMUP)
            module_times: list[float] = []
            echo_times: list[float] = []
            while len(module_times) < N:
                n = min(BLOCK, N - len(module_times))
                echo_times += round_trips(echo, b"AT\r", b"AT\r", n)
                module_times += round_trips(module, b"AT\r", b"\r\nOK\r\n", n)
            module.close()
            echo.close()
    m_med, e_med = statistics.median(module_times), statistics.median(echo_times)
    print(f"AT round trip, N={N} each (microseconds); {where()}")
    print(f"{'':34} {'median':>9} {'p90':>9} {'min':>9}")
    rows = (
        ("bg96 serve --tcp: AT\\r -> OK", module_times),
        ("bare asyncio echo: AT\\r -> AT\\r", echo_times),
    )
    for name, times in rows:
        print(f"{name:34} {statistics.median(times):9.1f} {p90(times):9.1f} {min(times):9.1f}")
    print(f"ratio (median bg96 / median echo): {m_med / e_med:.2f}x   (target: within 1.5x)")
    print(f"ratio (p90 bg96 / p90 echo):       {p90(module_times) / p90(echo_times):.2f}x")


if __name__ == "__main__":
    main()
