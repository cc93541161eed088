"""What the benchmark scripts share: CPU placement, server processes, a blocking AT host.

Not a benchmark: the scripts next to it import it (``python bench/<script>.py`` puts ``bench/``
first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import random
import selectors
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bg96.module.loops import LOOPS

LOOPBACK = "127.0.0.1"
CHUNK = 1460  # QSSLSEND payload per command
RECV = 1500  # QSSLRECV length asked for (the most)

Cpus = set[int]


# ---- CPU placement ---------------------------------------------------------------------------


def add_no_pin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")


def cpu_pair(no_pin: bool) -> tuple[Cpus, Cpus] | None:
    """(client CPUs, server CPUs): servers on another CPU than the client, when there are two.

    On one shared CPU the scheduler decides who preempts whom, and a server that does more
    work per request can even come out faster than a bare echo; apart, both pay the same
    cross-CPU wake-up and the comparison is about the servers.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or no_pin:
        return None
    return {cpus[0]}, {cpus[1]}


def pin_client(cpus: Cpus | None) -> None:
    """Pin this (the client) process to ``cpus``; None leaves it to the OS."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def where(placement: tuple[Cpus, Cpus] | None) -> str:
    if placement is None:
        return "CPU placement left to the OS"
    return f"client on CPU {min(placement[0])}, servers on CPU {min(placement[1])}"


EXCHANGE_WRITE = 65536  # bytes per write of exchange()


def cpu_us(pid: int) -> float:
    """A process's CPU time so far (schedstat), all threads, in microseconds."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1000


# ---- server processes --------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A running server process and the port from its ``socket://127.0.0.1:<port>`` line."""

    pid: int
    port: int


@contextmanager
def server(args: list[str], cpus: Cpus | None = None, src: str | None = None) -> Iterator[Server]:
    """Start a server process (on ``cpus`` if given; with ``src``, another source tree's
    ``src`` on ``PYTHONPATH``) and wait for its ``socket://`` line."""
    env = None if src is None else {**os.environ, "PYTHONPATH": str(Path(src, "src"))}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    try:
        if cpus is not None:
            os.sched_setaffinity(proc.pid, cpus)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if f"socket://{LOOPBACK}:" not in line:
            raise RuntimeError(f"{args[1:4]} did not start: {line!r}")
        yield Server(proc.pid, int(line.split(f"socket://{LOOPBACK}:")[1].split()[0]))
    finally:
        proc.terminate()
        proc.wait(10)


def module_cmd(files: str, loop: str = "asyncio", src: str | None = None) -> list[str]:
    """The module under test: the real command, with a throw-away ``--files`` directory
    (``loop``: its ``--loop``; asyncio unless asked, what the README's figures are for). For
    another source tree (``src``, see ``server``) older than the option it is left out (such
    a tree runs on asyncio's loop)."""
    args = [sys.executable, "-m", "bg96", "serve", "--tcp", f"{LOOPBACK}:0", "--files", files]
    if src is not None and not Path(src, "src", "bg96", "module", "loops.py").exists():
        return args
    return [*args, "--loop", loop]


def add_loop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default="asyncio",
        help="the module's event loop (bg96 serve --loop; default asyncio, what the figures "
        "in README.md are for)",
    )


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


def echo_cmd() -> list[str]:
    """The baseline server: a bare asyncio ``Protocol`` that writes back what it reads."""
    return [sys.executable, "-c", ECHO_SERVER]


TLS_ECHO_SERVER = """
import asyncio, ssl, sys
from bg96.testing import TlsEchoServer

async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(sys.argv[3])
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with TlsEchoServer(ctx) as server:
        print(f"tls echo on socket://127.0.0.1:{server.port}", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def tls_echo_cmd(cert: str, key: str, suite: str) -> list[str]:
    """A TLS echo server in its own process (``bg96.testing.TlsEchoServer``): TLS 1.2 with
    ``suite`` only, the certificate and key from these PEM files."""
    return [sys.executable, "-c", TLS_ECHO_SERVER, cert, key, suite]


# ---- the host side -------------------------------------------------------------------------


class AtClient:
    """A blocking socket with TCP_NODELAY and a read buffer, speaking AT to the module.

    ``read_size`` is what one ``recv`` asks for. ``at_round_trips`` counts the AT round trips
    that ``command``, ``qsslsend`` (two) and ``qsslrecv`` made.
    """

    def __init__(self, port: int, read_size: int = 65536) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.read_size = read_size
        self.buf = bytearray()
        self.at_round_trips = 0

    def close(self) -> None:
        self.sock.close()

    def ready(self) -> None:
        """The first host after the module started: wait for ``APP RDY``, then ``ATE0``."""
        self.read_until(b"APP RDY\r\n")
        self.command(b"ATE0")

    def _fill(self) -> None:
        chunk = self.sock.recv(self.read_size)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def read_until(self, marker: bytes) -> bytes:
        while (i := self.buf.find(marker)) < 0:
            self._fill()
        out = bytes(self.buf[: i + len(marker)])
        del self.buf[: i + len(marker)]
        return out

    def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def command(self, line: str | bytes, final: bytes = b"OK\r\n") -> bytes:
        """Send ``line`` and read up to ``final``; raises if the answer holds an ERROR."""
        raw = line.encode() if isinstance(line, str) else line
        self.sock.sendall(raw + b"\r")
        self.at_round_trips += 1
        response = self.read_until(final)
        if b"ERROR" in response:
            raise RuntimeError(f"{line!r}: {response!r}")
        return response

    def upload(self, name: str, data: bytes) -> None:
        """AT+QFUPL, then the bytes."""
        self.sock.sendall(f'AT+QFUPL="{name}",{len(data)},5\r'.encode())
        self.read_until(b"CONNECT\r\n")
        self.sock.sendall(data)
        self.read_until(b"OK\r\n")

    def qsslsend(self, cid: int, data: bytes, command: bytes = b"AT+QSSLSEND") -> None:
        """``AT+QSSLSEND=<cid>,<len>``, wait for ``> ``, the data, wait for ``SEND OK``
        (``command`` ``AT+QISEND`` for a plain socket)."""
        self.sock.sendall(b"%s=%d,%d\r" % (command, cid, len(data)))
        self.read_until(b"> ")
        self.sock.sendall(data)
        self.read_until(b"SEND OK\r\n")
        self.at_round_trips += 2

    def qsslrecv(self, cid: int, command: bytes = b"AT+QSSLRECV") -> bytes:
        """One ``AT+QSSLRECV=<cid>,1500``: what the module holds, maybe nothing (``command``
        ``AT+QIRD`` for a plain socket)."""
        self.sock.sendall(b"%s=%d,%d\r" % (command, cid, RECV))
        self.at_round_trips += 1
        self.read_until(command[2:] + b": ")  # URCs before it are skipped
        count = int(self.read_until(b"\r\n")[:-2])
        data = self.read_exactly(count)
        tail = self.read_exactly(8 if count else 6)
        assert tail == (b"\r\n\r\nOK\r\n" if count else b"\r\nOK\r\n"), tail
        return data


def round_trips(client: AtClient, send: bytes, reply: bytes, n: int) -> list[float]:
    """``n`` times: send, read up to ``reply``; the round trips in microseconds."""
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


# ---- QSSLSEND / QSSLRECV throughput (throughput.py's method) ------------------------------


def payload(total: int, seed: str) -> bytes:
    """``total`` random bytes; no ``CHUNK``-sized piece starts with LF."""
    data = bytearray(random.Random(seed).randbytes(total))
    # A chunk that starts with LF tests line-end handling, not speed: keep them out.
    for i in range(0, total, CHUNK):
        if data[i] == 0x0A:
            data[i] = 0x0B
    return bytes(data)


def open_ssl(host: AtClient, tls_port: int) -> None:
    """``AT+QIACT=1`` and ``AT+QSSLOPEN`` of client 0 to ``tls_port``, in buffer access mode."""
    host.command(b"AT+QIACT=1")
    host.command(b'AT+QSSLOPEN=1,0,0,"127.0.0.1",%d,0' % tls_port)
    assert b"+QSSLOPEN: 0,0" in host.read_until(b"+QSSLOPEN: 0,") + host.read_exactly(1)


def open_tcp(host: AtClient, port: int) -> None:
    """``AT+QIACT=1`` and ``AT+QIOPEN`` of a plain TCP client 0 to ``port``, buffer mode."""
    host.command(b"AT+QIACT=1")
    host.command(b'AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,0' % port)
    assert b"+QIOPEN: 0,0" in host.read_until(b"+QIOPEN: 0,") + host.read_exactly(1)


def qssl_echo(host: AtClient, data: bytes, *, plain: bool = False) -> tuple[float, bytes]:
    """Move ``data`` through client 0 and back: per ``CHUNK`` one QSSLSEND and one QSSLRECV
    for what has come back, then QSSLRECV until every byte is back; (seconds, echo).
    ``plain``: QISEND and QIRD, on a plain TCP socket.

    ``host.at_round_trips`` counts from 0 the round trips it made.
    """
    send, recv = (b"AT+QISEND", b"AT+QIRD") if plain else (b"AT+QSSLSEND", b"AT+QSSLRECV")
    host.at_round_trips = 0
    echoed = bytearray()
    start = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        host.qsslsend(0, data[i : i + CHUNK], send)
        echoed += host.qsslrecv(0, recv)
    while len(echoed) < len(data):
        got = host.qsslrecv(0, recv)
        if not got:
            time.sleep(0.0002)
        echoed += got
    return time.perf_counter() - start, bytes(echoed)


def exchange(sock: socket.socket, data: bytes) -> tuple[float, bytes]:
    """Write ``data`` and read as many bytes back, both at once; (seconds, what came back)."""
    sock.setblocking(False)
    total = len(data)
    view = memoryview(data)
    got = bytearray()
    sent = 0
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    writing = True
    start = time.perf_counter()
    while len(got) < total:
        if writing and sent >= total:
            sel.modify(sock, selectors.EVENT_READ)
            writing = False
        events = sel.select(timeout=10)
        if not events:
            raise TimeoutError(f"stalled at {sent} sent, {len(got)} received")
        mask = events[0][1]
        if mask & selectors.EVENT_WRITE and sent < total:
            with suppress(BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent += sock.send(view[sent : sent + EXCHANGE_WRITE])
        if mask & selectors.EVENT_READ:
            while True:  # an SSL socket may hold decrypted bytes the selector cannot see
                try:
                    chunk = sock.recv(262144)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not chunk:
                    raise ConnectionError(f"closed after {len(got)} bytes")
                got += chunk
    elapsed = time.perf_counter() - start
    sel.close()
    sock.setblocking(True)
    return elapsed, bytes(got)
