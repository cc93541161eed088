"""Start-up: ``import bg96``, the host driver alone, and ``bg96 serve`` to the first ``RDY``.

    .venv/bin/python bench/startup.py [--runs 5] [--against SRC_DIR]

Each figure is the median of ``--runs`` fresh interpreters (wall clock, this machine):

* ``import bg96``: the package itself (its names load on first use);
* ``from bg96 import Modem``: the host driver and pyserial, not the engine;
* ``bg96 serve --tcp`` to ``RDY``: from starting ``python -m bg96 serve --tcp 127.0.0.1:0``
  until a host that connects as soon as the port is printed has read ``RDY``.

``--against DIR`` measures another source tree (``DIR/src`` on ``PYTHONPATH``) the same way,
alternating. Asserts no timing.
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
from pathlib import Path

_parser = argparse.ArgumentParser(description="start-up times")
_parser.add_argument("--runs", type=int, default=5, help="fresh processes each (default 5)")
_parser.add_argument("--against", help="another source tree to measure the same way")
ARGS = _parser.parse_args()
LOOPBACK = "127.0.0.1"


def _env(src: str | None) -> dict[str, str] | None:
    return None if src is None else {**os.environ, "PYTHONPATH": str(Path(src, "src"))}


def python_c(code: str, src: str | None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(src))
    return time.perf_counter() - start


def serve_to_rdy(src: str | None) -> float:
    with tempfile.TemporaryDirectory() as files:
        args = [sys.executable, "-m", "bg96", "serve", "--tcp", f"{LOOPBACK}:0", "--files", files]
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=_env(src))
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            port = int(line.split(f"socket://{LOOPBACK}:")[1].split()[0])
            with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
                got = b""
                while b"RDY\r\n" not in got:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError(f"closed before RDY: {got!r}")
                    got += chunk
            return time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(10)


MEASURES = {
    "python -c pass (the interpreter)": lambda src: python_c("pass", src),
    "import bg96": lambda src: python_c("import bg96", src),
    "from bg96 import Modem": lambda src: python_c("from bg96 import Modem", src),
    "bg96 serve --tcp, to RDY": serve_to_rdy,
}


def main() -> None:
    trees: list[str | None] = [None] if ARGS.against is None else [ARGS.against, None]
    results: dict[tuple[str, str | None], list[float]] = {}
    for _ in range(ARGS.runs):
        for name, measure in MEASURES.items():
            for tree in trees:
                results.setdefault((name, tree), []).append(measure(tree))
    print(f"Start-up, median of {ARGS.runs} fresh processes, ms")
    for name in MEASURES:
        row = [f"{statistics.median(results[(name, t)]) * 1000:7.0f}" for t in trees]
        print(f"  {name:36} {'  '.join(row)}")
    if ARGS.against is not None:
        print(f"  (columns: --against {ARGS.against}, this tree)")


if __name__ == "__main__":
    main()
