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
import statistics
import tempfile

from common import (
    AtClient,
    add_loop,
    add_no_pin,
    cpu_pair,
    echo_cmd,
    module_cmd,
    p90,
    pin_client,
    round_trips,
    server,
    where,
)

_parser = argparse.ArgumentParser(description="AT round trip versus a bare asyncio echo")
_parser.add_argument("-n", type=int, default=2000, help="round trips each (default 2000)")
add_no_pin(_parser)
add_loop(_parser)
ARGS = _parser.parse_args()
N: int = ARGS.n
WARMUP = 200
BLOCK = 250
PLACEMENT = cpu_pair(ARGS.no_pin)


def main() -> None:
    client_cpus, server_cpus = PLACEMENT or (None, None)
    pin_client(client_cpus)
    with (
        tempfile.TemporaryDirectory() as files,
        server(module_cmd(files, ARGS.loop), server_cpus) as module_server,
        server(echo_cmd(), server_cpus) as echo_server,
    ):
        module = AtClient(module_server.port)
        module.ready()
        echo = AtClient(echo_server.port)
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
    print(f"AT round trip, N={N} each (microseconds); {where(PLACEMENT)}")
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
