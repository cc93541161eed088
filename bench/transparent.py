"""16 MiB each way through transparent access mode versus a plain ``ssl`` socket, same run.

    .venv/bin/python bench/transparent.py [--mib N] [--waittm T] [--pktsize N] [--runs N]
                                          [--no-pin | --echo-with-client]

The module runs as ``python -m bg96 serve --tcp 127.0.0.1:0``; the TLS echo server
(``bg96.testing.TlsEchoServer``) runs in a process of its own, TLS 1.2 with
ECDHE-RSA-AES128-GCM-SHA256 only, so that both clients negotiate the same suite.

* **module**: a host socket on the module's TCP port: ``ATE0``,
  ``AT+QICFG="transwaittm",<T>``, ``AT+QICFG="transpktsize",<N>``, ``AT+QIACT=1``,
  ``AT+QSSLOPEN=1,0,0,"127.0.0.1",<port>,2`` -> ``CONNECT``; then the payload goes in and the
  echo comes back through the transparent connection.
* **baseline**: a Python ``ssl`` socket connected straight to the same echo server.

Both move the data with the same single-threaded, non-blocking ``selectors`` loop (64 KiB
writes, reads as they come, both directions at once) and check the echo byte for byte.
Baseline and module alternate (baseline, module, baseline, ...); the best run of each is
reported, in MB/s of payload each way, and the ratio module / baseline. Asserts no timing.

With two CPUs the client is pinned to one and the module and the echo server to the other
(see ``placement``). The module's cost is per packet: ``transpktsize`` 1460, the most, and
``transwaittm`` 0 (a short packet goes at once instead of 200 ms later) are its best settings.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from bg96.testing import TestPki
from common import (
    AtClient,
    Cpus,
    Server,
    add_loop,
    add_no_pin,
    cpu_pair,
    cpu_us,
    exchange,
    module_cmd,
    pin_client,
    server,
    tls_echo_cmd,
)

_parser = argparse.ArgumentParser(description="transparent mode throughput versus plain ssl")
_parser.add_argument("--mib", type=int, default=16, help="MiB each way (default 16)")
_parser.add_argument(
    "--waittm", type=int, default=0, help='AT+QICFG="transwaittm" in 100 ms (default 0)'
)
_parser.add_argument(
    "--pktsize", type=int, default=1460, help='AT+QICFG="transpktsize" (default 1460, the most)'
)
_parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating (default 5)")
_parser.add_argument("--against", help="another source tree's module, measured the same way")
add_no_pin(_parser)
add_loop(_parser)
_parser.add_argument(
    "--echo-with-client",
    action="store_true",
    help="pin the TLS echo server to the client's CPU instead of the module's",
)
ARGS = _parser.parse_args()
TOTAL = ARGS.mib * 1024 * 1024
SUITE = "ECDHE-RSA-AES128-GCM-SHA256"


def placement() -> tuple[Cpus, Cpus, Cpus] | None:
    """(client, module, echo server CPUs) when there are two CPUs or more.

    As in ``throughput.py`` the servers go on another CPU than the client, so the echo server
    shares the module's CPU: the plain ssl client then has a CPU to itself and the echo server
    the other, while the module path squeezes the module and the echo server onto one. That
    is the harder case for the module; ``--echo-with-client`` is the opposite one (the plain
    ssl client then shares its CPU with the echo server, the module has one to itself).
    """
    pair = cpu_pair(ARGS.no_pin)
    if pair is None:
        return None
    client, other = pair
    return client, other, client if ARGS.echo_with_client else other


PLACEMENT = placement()


def through_module(module: Server, echo_port: int, data: bytes) -> tuple[float, bytes, float]:
    """(seconds, the echo, the module process's CPU microseconds) for one transparent run."""
    host = AtClient(module.port)
    host.command("ATE0")
    # the previous run's host left in transparent mode: like a DTR drop (AT&D1), the
    # connection stayed open; close it and start from an inactive PDP context
    host.command("AT+QSSLCLOSE=0")
    host.command("AT+QIDEACT=1")
    host.command(f'AT+QICFG="transwaittm",{ARGS.waittm}')
    host.command(f'AT+QICFG="transpktsize",{ARGS.pktsize}')
    host.command("AT+QIACT=1")
    host.command(f'AT+QSSLOPEN=1,0,0,"127.0.0.1",{echo_port},2', final=b"CONNECT\r\n")
    assert not host.buf, host.buf
    try:
        before = cpu_us(module.pid)
        elapsed, echoed = exchange(host.sock, data)
        return elapsed, echoed, cpu_us(module.pid) - before
    finally:
        host.close()  # a DTR drop: the module goes back to command mode
        time.sleep(0.1)


def direct(echo_port: int, data: bytes) -> tuple[float, bytes]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # as the module at seclevel 0
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(SUITE)
    raw = socket.create_connection(("127.0.0.1", echo_port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with ctx.wrap_socket(raw) as sock:
        cipher = sock.cipher()
        assert cipher is not None and cipher[0] == SUITE, cipher
        return exchange(sock, data)


def where() -> str:
    if PLACEMENT is None:
        return "CPU placement left to the OS"
    client, module, echo = (min(cpus) for cpus in PLACEMENT)
    return f"client on CPU {client}, module on CPU {module}, TLS echo server on CPU {echo}"


def main() -> None:
    pin_client(PLACEMENT[0] if PLACEMENT else None)
    data = random.Random("bg96 transparent").randbytes(TOTAL)
    pki = TestPki("bg96 bench CA")
    leaf = pki.server_cert()
    trees: list[str | None] = [None] if ARGS.against is None else [ARGS.against, None]
    times: dict[str | None, list[float]] = {"baseline": [], **{t: [] for t in trees}}
    cpu: dict[str | None, list[float]] = {t: [] for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_bytes(leaf.cert_pem)
        key.write_bytes(leaf.key_pem)
        with contextlib.ExitStack() as stack:
            echo_cpus, module_cpus = (PLACEMENT[2], PLACEMENT[1]) if PLACEMENT else (None, None)
            echo = stack.enter_context(server(tls_echo_cmd(str(cert), str(key), SUITE), echo_cpus))
            modules: dict[str | None, Server] = {}
            for tree in trees:
                files = Path(tmp, f"files{len(modules)}")
                files.mkdir()
                modules[tree] = stack.enter_context(
                    server(
                        module_cmd(str(files), ARGS.loop, tree),
                        module_cpus,
                        tree,
                    )
                )
            for _ in range(ARGS.runs):
                elapsed, echoed = direct(echo.port, data)
                assert echoed == data, "baseline: the echo differs"
                times["baseline"].append(elapsed)
                for tree, module in modules.items():
                    elapsed, echoed, used = through_module(module, echo.port, data)
                    assert echoed == data, f"module {tree or ''}: the echo differs"
                    times[tree].append(elapsed)
                    cpu[tree].append(used / ARGS.mib)
    best = {name: TOTAL / min(runs) / 1e6 for name, runs in times.items()}
    print(f"{ARGS.mib} MiB each way through a loopback TLS echo server (TLS 1.2, {SUITE})")
    print(f"  ({where()}; {ARGS.runs} runs each, alternating; best shown)")
    print(
        f'  module: transparent mode, AT+QICFG="transwaittm",{ARGS.waittm} and '
        f'"transpktsize",{ARGS.pktsize}; its CPU per MiB each way is the median'
    )
    labels: dict[str | None, str] = {"baseline": "plain Python ssl socket"}
    labels.update({t: "through the module" if t is None else f"--against {t}" for t in trees})
    for name, label in labels.items():
        runs = ", ".join(f"{t:.3f}" for t in times[name])
        extra = "" if name == "baseline" else f", {statistics.median(cpu[name]):.0f} µs CPU/MiB"
        print(f"  {label:28} {best[name]:8.1f} MB/s each way{extra}   (runs: {runs} s)")
    print(f"ratio module / baseline: {best[None] / best['baseline']:.0%} (target >= 50%)")
    if ARGS.against is not None:
        old, new = statistics.median(cpu[ARGS.against]), statistics.median(cpu[None])
        speed = best[None] / best[ARGS.against] - 1
        print(f"this tree against --against: {speed:+.1%} MB/s, {new / old - 1:+.1%} CPU per MiB")


if __name__ == "__main__":
    main()
