"""The scripts in ``examples/`` run as a user runs them, and say they succeeded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "success"),
    [
        ("https_get.py", "OK: fetched https://www.example.test:"),
        ("ota_update.py --quick", "OK: 1048576 bytes downloaded over HTTPS into the module"),
        ("mqtt_publish.py", "OK: received bg96/example/temperature = 21.5 back from the broker"),
        ("mutual_tls.py", "OK: mutual TLS with the client certificate; refused (566) without it"),
        ("mqtt_plain.py", "OK: received bg96/example/temperature = 21.5 back over plain TCP"),
        (
            "aws_iot_shaped.py",
            "OK: mutual TLS to the broker, telemetry published, command received",
        ),
        (
            "ntp_then_tls.py",
            "OK: TLS refused before the NTP sync (the module's clock said 1980), accepted after",
        ),
    ],
)
def test_example_runs(script: str, success: str) -> None:
    name, *args = script.split()
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=30,  # each takes about a second
        check=False,
        cwd=EXAMPLES.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith(success) for line in result.stdout.splitlines()), result.stdout
