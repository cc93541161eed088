"""Locust users that are virtual BG96 devices, running ``fleet_scenario.py``.

    locust -f examples/locustfile.py                                   # web UI on :8089
    locust -f examples/locustfile.py --headless -u 200 -r 50 -t 60s --csv run
    locust -f examples/locustfile.py --bg96-target broker.example:8883 --bg96-ca ca.pem \\
        --bg96-options rounds=20,interval=5 --bg96-network lte-m
    locust -f examples/locustfile.py --master        # and on each machine, per core:
    locust -f examples/locustfile.py --worker --master-host MASTER

Each user is one device: boot, registration, AT+QFUPL of the CA, AT+QSSLOPEN, periodic
send and echo, a PDP fault on one device in ten and its recovery; each step is a Locust
request of type ``bg96`` named after it. With no ``--bg96-target`` (or ``BG96_FLEET_TARGET``)
each worker process starts a loopback TLS echo server and a CA of its own.
"""

from __future__ import annotations

from pathlib import Path

from locust import constant

from bg96.fleet.locust import Bg96User, install

install()


class Device(Bg96User):
    scenario = Path(__file__).with_name("fleet_scenario.py")
    wait_time = constant(0)  # a device's life ends with its scenario; the next starts at once
