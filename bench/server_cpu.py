"""The server's CPU per operation, read from the kernel (``/proc/<pid>/schedstat``).

    .venv/bin/python bench/server_cpu.py [-n 3000] [--mib 2] [--runs 3]
                                         [--against SRC_DIR] [--no-pin]

Wall-clock round trips on two cores measure the scheduler as much as the server; the CPU
time the server process spends per operation does not depend on who waits for whom. This
reads the module process's CPU time (every thread, kernel time included) before and after:

* ``AT``: N x ``AT\\r`` -> ``\\r\\nOK\\r\\n`` (after ``ATE0``);
* **cycle**: ``--mib`` MiB through ``AT+QSSLSEND=0,1460`` / ``AT+QSSLRECV=0,1500`` against a TLS
  echo server (a thread of this process), as ``throughput.py``: per 1460-byte chunk one send
  (command, prompt, data, ``SEND OK``) and one read;
* **plain cycle**: the same with ``AT+QISEND`` / ``AT+QIRD`` to the bare asyncio echo server.

The baseline in the same run is the bare asyncio echo server's CPU per echoed ``AT\\r``
(what any asyncio server pays per request); a cycle is compared with three of them, its three
round trips. ``--against DIR`` also runs another source tree
(``DIR/src`` on ``PYTHONPATH``, e.g. a ``git worktree`` of an older commit) the same way,
alternating with this one, and prints this tree's cost relative to it (plain cycles only where
both trees have AT+QIOPEN). Asserts no timing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from bg96.testing import TestPki, ThreadedTlsEchoServer
from common import (
    CHUNK,
    AtClient,
    add_loop,
    add_no_pin,
    cpu_pair,
    cpu_us,
    echo_cmd,
    module_cmd,
    open_ssl,
    open_tcp,
    payload,
    pin_client,
    qssl_echo,
    server,
    where,
)

_parser = argparse.ArgumentParser(description="the module's CPU per AT and per send/read cycle")
_parser.add_argument("-n", type=int, default=3000, help="AT commands per run (default 3000)")
_parser.add_argument("--mib", type=int, default=2, help="MiB per cycle run (default 2)")
_parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating (default 3)")
_parser.add_argument("--against", help="another source tree to measure the same way")
add_no_pin(_parser)
add_loop(_parser)
ARGS = _parser.parse_args()
PLACEMENT = cpu_pair(ARGS.no_pin)


def per_op(pid: int, ops: int, work: Callable[[], object]) -> float:
    before = cpu_us(pid)
    work()
    return (cpu_us(pid) - before) / ops


def echo_at(pid: int, port: int, n: int) -> float:
    """The bare echo server's CPU per echoed ``AT\\r``."""
    client = AtClient(port)

    def run(count: int) -> None:
        for _ in range(count):
            client.sock.sendall(b"AT\r")
            client.read_exactly(3)

    run(200)  # warm up
    cost = per_op(pid, n, lambda: run(n))
    client.close()
    return cost


def measure(src: str | None, tls_port: int, echo_port: int, data: bytes) -> dict[str, float]:
    """One module process from ``src`` (None: this tree): its CPU per AT and per cycle."""
    with (
        tempfile.TemporaryDirectory() as files,
        server(
            module_cmd(files, ARGS.loop, src), PLACEMENT[1] if PLACEMENT else None, src
        ) as module,
    ):
        return measure_module(module.pid, module.port, tls_port, echo_port, data, src)


def has_qiopen(src: str | None) -> bool:
    root = Path(src, "src") if src is not None else Path(__file__).parent.parent / "src"
    return (root / "bg96" / "engine" / "commands" / "tcpip.py").exists()


def measure_module(
    pid: int, port: int, tls_port: int, echo_port: int, data: bytes, src: str | None
) -> dict[str, float]:
    host = AtClient(port, read_size=262144)
    host.ready()
    for _ in range(200):
        host.command(b"AT")
    out = {"AT": per_op(pid, ARGS.n, lambda: [host.command(b"AT") for _ in range(ARGS.n)])}
    chunks = -(-len(data) // CHUNK)
    open_ssl(host, tls_port)
    out["cycle"] = per_op(pid, chunks, lambda: qssl_echo(host, data))
    host.command(b"AT+QSSLCLOSE=0")
    if has_qiopen(src):
        host.command(b"AT+QIDEACT=1")
        open_tcp(host, echo_port)
        out["plain cycle"] = per_op(pid, chunks, lambda: qssl_echo(host, data, plain=True))
        host.command(b"AT+QICLOSE=0")
    host.close()
    return out


def main() -> None:
    pin_client(PLACEMENT[0] if PLACEMENT else None)
    data = payload(ARGS.mib * 1024 * 1024, "bg96 server cpu")
    pki = TestPki("bg96 bench CA")
    trees: list[str | None] = [None] if ARGS.against is None else [ARGS.against, None]
    results: dict[str | None, dict[str, list[float]]] = {t: {} for t in trees}
    echo_costs: list[float] = []
    with (
        ThreadedTlsEchoServer(pki.server_ctx()) as tls_echo,
        server(echo_cmd(), PLACEMENT[1] if PLACEMENT else None) as echo,
    ):
        for _ in range(ARGS.runs):
            echo_costs.append(echo_at(echo.pid, echo.port, ARGS.n))
            for tree in trees:
                for name, value in measure(tree, tls_echo.port, echo.port, data).items():
                    results[tree].setdefault(name, []).append(value)
    echo_us = statistics.median(echo_costs)
    print(f"Server CPU per operation, microseconds (schedstat; {where(PLACEMENT)};")
    print(f"  {ARGS.runs} runs each, alternating; median shown)")
    print(f"  {'bare asyncio echo of AT<CR> (baseline)':44} {echo_us:8.1f}")
    for tree in trees:
        label = "this tree" if tree is None else f"--against {tree}"
        for name, values in results[tree].items():
            med = statistics.median(values)
            # a cycle is three round trips (command -> prompt, data -> SEND OK, read -> data)
            trips = 1 if name == "AT" else 3
            extra = f"  ({med / (trips * echo_us):.2f}x the echo's {trips} round trip(s))"
            print(f"  {label + ': ' + name:44} {med:8.1f}{extra}")
    if ARGS.against is not None:
        base, ours = results[ARGS.against], results[None]
        for name in base:
            if name in ours:
                change = statistics.median(ours[name]) / statistics.median(base[name]) - 1
                print(f"this tree against --against, {name}: {change:+.1%}")


if __name__ == "__main__":
    main()
