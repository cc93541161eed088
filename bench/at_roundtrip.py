"""AT round trip over the TCP transport versus a bare asyncio TCP echo, in the same run.

    .venv/bin/python bench/at_roundtrip.py [N]

The module runs as ``python -m bg96 serve --tcp 127.0.0.1:0`` and the baseline as a bare
asyncio echo server (a ``Protocol`` that writes back what it reads), each in its own process.
One blocking client socket with TCP_NODELAY times ``AT\\r`` -> ``\\r\\nOK\\r\\n`` (after
``ATE0``) against the module and ``AT\\r`` -> ``AT\\r`` against the echo, alternating blocks so
drift hits both alike. Prints medians, p90 and the ratio; asserts nothing.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
WARMUP = 200
BLOCK = 250

ECHO_SERVER = """
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


@contextmanager
def server(args: list[str]) -> Iterator[int]:
    """Start a server process; yields the port from its ``socket://127.0.0.1:<port>`` line."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
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


def main() -> None:
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
    print(f"AT round trip, N={N} each (microseconds)")
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
