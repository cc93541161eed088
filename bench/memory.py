"""Resident memory of ``bg96 serve`` holding 12 TLS connections, against its idle size.

    .venv/bin/python bench/memory.py

Starts ``python -m bg96 serve --tcp 127.0.0.1:0`` and a loopback TLS echo server (a thread of
this process), attaches a host, reads the server's VmRSS from ``/proc/<pid>/status`` (the
baseline), opens 12 TLS connections (client IDs 0-11 over SSL contexts 0-5, seclevel 1 with an
uploaded CA), echoes 20 KiB on each, and reads VmRSS and VmHWM again. Asserts nothing.
"""

from __future__ import annotations

import random
import tempfile
import time

from bg96.testing import TestPki, ThreadedTlsEchoServer
from common import CHUNK, AtClient, module_cmd, server

CONNECTIONS = 12
PER_CONNECTION = 20 * 1024


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
        server(module_cmd(files)) as module,
    ):
        started = status(module.pid)
        host = AtClient(module.port)
        host.ready()
        time.sleep(0.2)
        idle = status(module.pid)
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
                host.qsslsend(cid, bytes(chunk))
                echoed[cid] += host.qsslrecv(cid)
        deadline = time.monotonic() + 10
        while any(len(e) < PER_CONNECTION for e in echoed.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("echo incomplete")
            for cid in payloads:
                echoed[cid] += host.qsslrecv(cid)
        state = host.command("AT+QSSLSTATE")
        assert state.count(b"+QSSLSTATE: ") == CONNECTIONS, state
        time.sleep(0.2)
        loaded = status(module.pid)
        host.close()
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
