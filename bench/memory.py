"""Resident memory of ``bg96 serve`` holding 12 TLS connections, against its idle size.

    .venv/bin/python bench/memory.py

Starts ``python -m bg96 serve --tcp 127.0.0.1:0`` and a loopback TLS echo server (a thread of
this process), attaches a host, reads the server's VmRSS from ``/proc/<pid>/status`` (the
baseline), opens 12 TLS connections (client IDs 0-11 over SSL contexts 0-5, seclevel 1 with an
uploaded CA), echoes 20 KiB on each, and reads VmRSS and VmHWM again. Asserts nothing.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import tempfile
import time

from bg96.testing import TestPki, ThreadedTlsEchoServer

CONNECTIONS = 12
PER_CONNECTION = 20 * 1024
CHUNK = 1460


class Host:
    """A blocking AT host on the module's TCP port (ATE0 assumed after ``start``)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the module hung up")
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

    def command(self, line: str) -> bytes:
        self.sock.sendall(line.encode() + b"\r")
        response = self.read_until(b"OK\r\n")
        if b"ERROR" in response:
            raise RuntimeError(f"{line}: {response!r}")
        return response

    def upload(self, name: str, data: bytes) -> None:
        self.sock.sendall(f'AT+QFUPL="{name}",{len(data)},5\r'.encode())
        self.read_until(b"CONNECT\r\n")
        self.sock.sendall(data)
        self.read_until(b"OK\r\n")

    def send(self, cid: int, data: bytes) -> None:
        self.sock.sendall(f"AT+QSSLSEND={cid},{len(data)}\r".encode())
        self.read_until(b"> ")
        self.sock.sendall(data)
        self.read_until(b"SEND OK\r\n")

    def recv(self, cid: int) -> bytes:
        self.sock.sendall(f"AT+QSSLRECV={cid},1500\r".encode())
        self.read_until(b"+QSSLRECV: ")
        count = int(self.read_until(b"\r\n")[:-2])
        data = self.read_exactly(count)
        self.read_exactly(8 if count else 6)
        return data


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def main() -> None:
    pki = TestPki("bg96 bench CA")
    with (
        tempfile.TemporaryDirectory() as files,
        ThreadedTlsEchoServer(pki.server_ctx()) as echo,
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "bg96", "serve", "--tcp", "127.0.0.1:0", "--files", files],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "socket://127.0.0.1:" not in line:
                raise RuntimeError(f"bg96 serve did not start: {line!r}")
            port = int(line.split("socket://127.0.0.1:")[1].split()[0])
            started = status(proc.pid)
            host = Host(port)
            host.read_until(b"APP RDY\r\n")
            host.command("ATE0")
            time.sleep(0.2)
            idle = status(proc.pid)
            host.command("AT+QIACT=1")
            host.upload("ca.pem", pki.ca_pem)
            for ctx in range(6):
                host.command(f'AT+QSSLCFG="seclevel",{ctx},1')
                host.command(f'AT+QSSLCFG="cacert",{ctx},"ca.pem"')
            seen = b""  # the +QSSLOPEN URCs may come before the next command's OK
            for cid in range(CONNECTIONS):
                seen += host.command(f'AT+QSSLOPEN=1,{cid % 6},{cid},"127.0.0.1",{echo.port},0')
            while seen.count(b"\r\n+QSSLOPEN: ") < CONNECTIONS:
                seen += host.read_until(b"\r\n+QSSLOPEN: ") + host.read_until(b"\r\n")
            for cid in range(CONNECTIONS):
                if f"+QSSLOPEN: {cid},0\r\n".encode() not in seen:
                    raise RuntimeError(f"open {cid} failed: {seen!r}")
            payloads = {c: random.Random(c).randbytes(PER_CONNECTION) for c in range(CONNECTIONS)}
            echoed = {c: bytearray() for c in payloads}
            for offset in range(0, PER_CONNECTION, CHUNK):
                for cid, data in payloads.items():
                    chunk = bytearray(data[offset : offset + CHUNK])
                    if chunk[0] == 0x0A:  # leading LF: a line-end question, not a memory one
                        chunk[0] = 0x0B
                    host.send(cid, bytes(chunk))
                    echoed[cid] += host.recv(cid)
            deadline = time.monotonic() + 10
            while any(len(e) < PER_CONNECTION for e in echoed.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("echo incomplete")
                for cid in payloads:
                    echoed[cid] += host.recv(cid)
            state = host.command("AT+QSSLSTATE")
            assert state.count(b"+QSSLSTATE: ") == CONNECTIONS, state
            time.sleep(0.2)
            loaded = status(proc.pid)
            host.sock.close()
        finally:
            proc.terminate()
            proc.wait(10)
    mb = 1024
    print(f"bg96 serve resident memory (MB = 2^20 bytes), {CONNECTIONS} TLS connections")
    print(f"  {'just started (no host)':44} {started['VmRSS'] / mb:7.1f} MB")
    print(f"  {'idle, host attached (baseline)':44} {idle['VmRSS'] / mb:7.1f} MB")
    loaded_label = f"{CONNECTIONS} connections open, 20 KiB echoed on each"
    print(f"  {loaded_label:44} {loaded['VmRSS'] / mb:7.1f} MB   (target < 80 MB)")
    print(f"  {'peak (VmHWM)':44} {loaded['VmHWM'] / mb:7.1f} MB")
    grown = (loaded["VmRSS"] - idle["VmRSS"]) / mb
    print(
        f"ratio loaded / idle: {loaded['VmRSS'] / idle['VmRSS']:.2f}x "
        f"(+{grown:.1f} MB, {grown / CONNECTIONS * 1024:.0f} KiB per connection)"
    )


if __name__ == "__main__":
    main()
