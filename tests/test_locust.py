"""Locust: a master and two local workers, headless, run examples/locustfile.py's virtual
BG96 devices against a loopback TLS echo server; the CSV totals say what every step did."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bg96.testing import TestPki, ThreadedTlsEchoServer
from bg96.testing.mqtt_broker import free_port

# not imported here: importing locust monkey-patches this whole process with gevent
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="locust is not installed (bg96[fleet])"
)

LOCUSTFILE = Path(__file__).parent.parent / "examples" / "locustfile.py"
STEPS = ("boot", "register", "activate", "upload_ca", "ssl_config", "tls_open", "send", "recv")


def test_a_master_and_two_workers_drive_devices_and_the_csv_totals_add_up(tmp_path: Path) -> None:
    pki = TestPki("bg96 locust CA")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca_pem)
    port = str(free_port())
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    with ThreadedTlsEchoServer(pki.server_ctx()) as echo:
        common = [
            "--bg96-target",
            f"127.0.0.1:{echo.port}",
            "--bg96-ca",
            str(ca),
            "--bg96-options",
            "rounds=100000,interval=0.05,fault_every=0",  # no device ends before the run
        ]
        master = subprocess.Popen(
            [
                *locust,
                "--master",
                "--headless",
                "--master-bind-host=127.0.0.1",
                f"--master-bind-port={port}",
                "--expect-workers=2",
                "-u",
                "20",
                "-r",
                "20",
                "-t",
                "6s",
                "--stop-timeout",
                "20",  # then each user's device is asked to stop (ctx.stopping) and ends
                "--csv",
                str(tmp_path / "run"),
                *common,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        logs = [(tmp_path / f"worker{i}.log").open("w") for i in range(2)]
        workers = [
            subprocess.Popen(
                [*locust, "--worker", "--master-host=127.0.0.1", f"--master-port={port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for log in logs
        ]
        try:
            out, _ = master.communicate(timeout=60)
            for worker in workers:
                worker.wait(timeout=20)
        finally:
            for log in logs:
                log.close()
            procs: list[subprocess.Popen[Any]] = [master, *workers]
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert master.returncode == 0, out[-3000:]
    worker_out = [(tmp_path / f"worker{i}.log").read_text()[-2000:] for i in range(2)]
    assert all(w.returncode == 0 for w in workers), worker_out
    with (tmp_path / "run_stats.csv").open(newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    counts = {name: int(row["Request Count"]) for name, row in rows.items()}
    failures = {name: int(row["Failure Count"]) for name, row in rows.items()}
    assert set(STEPS) | {"device", "close", "Aggregated"} <= set(rows)
    assert failures["Aggregated"] == 0, failures
    assert counts["Aggregated"] == sum(n for name, n in counts.items() if name != "Aggregated")
    lives = counts["device"]
    assert lives == 20  # every user's device ended when asked to, and said so
    for name in STEPS:
        assert counts[name] >= lives, name
    assert counts["send"] >= 2 * lives and counts["recv"] >= 2 * lives
    assert counts["close"] >= lives
