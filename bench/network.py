"""What the network-emulation layer costs the foundation throughput benchmark.

    .venv/bin/python bench/network.py [--mib N] [--runs N] [--no-pin]

Three module processes, each ``python -m bg96 serve --tcp 127.0.0.1:0`` in effect:

* ``out``: the runner built with no network layer at all (``Runner(network=None)``, started
  through ``VirtualModule(network=None)``): shaping compiled out;
* ``ideal``: ``--network ideal``, the default every user gets: shaping compiled in;
* ``shaper``: ``--down 10gbit --up 10gbit``: a profile fast enough not to limit anything but
  not ideal, so every TLS byte goes through the shaper's queues and timers (what the
  machinery costs when it is in the data path).

Each moves ``--mib`` MiB through ``AT+QSSLSEND``/``AT+QSSLRECV`` against a loopback TLS echo
server exactly as ``throughput.py`` does; the runs alternate, best of ``--runs`` each.
Prints MB/s and the ratios to ``out``; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack

from bg96.testing import TestPki, ThreadedTlsEchoServer
from common import (
    AtClient,
    Server,
    add_no_pin,
    cpu_pair,
    module_cmd,
    open_ssl,
    payload,
    pin_client,
    qssl_echo,
    server,
    where,
)

_parser = argparse.ArgumentParser(description="the network layer's cost to QSSLSEND/QSSLRECV")
_parser.add_argument("--mib", type=int, default=4, help="MiB per run (default 4)")
_parser.add_argument("--runs", type=int, default=5, help="runs of each (default 5)")
add_no_pin(_parser)
ARGS = _parser.parse_args()
PLACEMENT = cpu_pair(ARGS.no_pin)

# a module with no network layer: VirtualModule(network=None) gives Runner(network=None)
NO_NETWORK = """
import asyncio, sys
from pathlib import Path
from bg96 import VirtualModule

async def main():
    module = VirtualModule(transport="tcp", files=Path(sys.argv[1]), network=None)
    await module.start()
    print(f"bg96: virtual BG96 on {module.url}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def one_run(host: AtClient, tls_port: int, data: bytes) -> float:
    """One echo of ``data`` on a fresh connection; MB/s."""
    open_ssl(host, tls_port)
    elapsed, echoed = qssl_echo(host, data)
    assert echoed == data, "echoed bytes differ"
    host.command(b"AT+QSSLCLOSE=0")
    host.command(b"AT+QIDEACT=1")
    return len(data) / elapsed / 1e6


def module_command(name: str, files: str) -> list[str]:
    if name == "out":
        return [sys.executable, "-c", NO_NETWORK, files]
    if name == "ideal":
        return [*module_cmd(files), "--network", "ideal"]
    return [*module_cmd(files), "--down", "10gbit", "--up", "10gbit"]


LABELS = {
    "out": "network layer compiled out",
    "ideal": "--network ideal (the default)",
    "shaper": "--down 10gbit --up 10gbit (shaper in path)",
}


def main() -> None:
    client_cpus, server_cpus = PLACEMENT or (None, None)
    pin_client(client_cpus)
    data = payload(ARGS.mib * 1024 * 1024, "bg96 network bench")
    pki = TestPki("bg96 bench CA")
    best: dict[str, float] = dict.fromkeys(LABELS, 0.0)
    with ExitStack() as stack:
        tls_echo = stack.enter_context(ThreadedTlsEchoServer(pki.server_ctx()))
        hosts: dict[str, AtClient] = {}
        for name in LABELS:
            files = stack.enter_context(tempfile.TemporaryDirectory())
            module: Server = stack.enter_context(server(module_command(name, files), server_cpus))
            host = AtClient(module.port, read_size=262144)
            stack.callback(host.close)
            host.ready()
            hosts[name] = host
        for _ in range(ARGS.runs):
            for name, host in hosts.items():
                best[name] = max(best[name], one_run(host, tls_echo.port, data))
    print(f"{ARGS.mib} MiB through AT+QSSLSEND / AT+QSSLRECV, TLS echo on loopback, best of "
          f"{ARGS.runs}")  # fmt: skip
    print(f"  ({where(PLACEMENT)})")
    for name, label in LABELS.items():
        print(f"  {label:46} {best[name]:7.2f} MB/s  {best[name] / best['out']:6.1%}")
    cost = 1 - best["ideal"] / best["out"]
    print(f"ideal costs {cost:+.1%} of the compiled-out throughput (target: under 5%)")


if __name__ == "__main__":
    main()
