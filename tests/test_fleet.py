"""``bg96.Fleet``: many modules on one loop, a scenario each; failures reported per device,
the run going on; stop and cancel writing partial results; nothing left open after."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bg96 import AsyncModem, CommandError, OpenFailed
from bg96.fleet import (
    DeviceContext,
    Fleet,
    Histogram,
    TemplateStore,
    device_seed,
    failure_code,
    load_scenario,
)
from bg96.fleet.report import summary_table
from bg96.host import MqttConnectRefused, MqttError, MqttLinkLost, MqttOpenFailed

from .aio import run

SCENARIO = Path(__file__).parent.parent / "examples" / "fleet_scenario.py"
QUICK = {"rounds": "3", "interval": "0.01", "fault_every": "4"}


def lines(output: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_the_starter_scenario_runs_on_every_device_and_recovers_from_the_fault() -> None:
    output = io.StringIO()

    async def main() -> None:
        fleet = Fleet(load_scenario(SCENARIO), 12, options=QUICK, output=output, seed=5)
        report = await fleet.run()
        assert dict(report.outcomes) == {"ok": 12}
        steps = report.summary["steps"]
        for name in ("boot", "register", "activate", "upload_ca", "ssl_config", "close"):
            assert steps[name]["count"] == 12, name
        assert steps["recv"]["count"] == 12 * 3 - 3  # devices 0, 4, 8 lost one round
        assert steps["recover"]["count"] == 3
        assert steps["tls_open"]["count"] == 15
        assert report.summary["failures"] == [
            {"step": "send", "code": "closed by peer", "count": 3}
        ]
        assert not report.interrupted
        assert "tls_open" in summary_table(report.summary)

    run(main)
    written = lines(output)
    devices = [line for line in written if line["type"] == "device"]
    assert sorted(d["index"] for d in devices) == list(range(12))  # type: ignore[type-var]
    assert {d["seed"] for d in devices} == {device_seed(5, i) for i in range(12)}
    assert written[-1]["type"] == "summary"


async def flaky(modem: AsyncModem, ctx: DeviceContext) -> None:
    """Device 1 gets a +CME ERROR, 2 hangs, 3 raises outside any step; the rest are fine."""
    async with ctx.step("boot"):
        await modem.sync()
    if ctx.index == 1:
        async with ctx.step("bad_command"):
            await modem.command('AT+QFDEL="no-such-file"')
    if ctx.index == 2:
        async with ctx.step("wait_forever"):
            await asyncio.Event().wait()
    if ctx.index == 3:
        raise RuntimeError("scenario bug")


def test_a_device_that_raises_or_hangs_is_reported_and_the_fleet_goes_on() -> None:
    async def main() -> None:
        report = await Fleet(flaky, 6, device_timeout=3.0).run()
        assert dict(report.outcomes) == {"ok": 3, "failed": 2, "hung": 1}
        by_index = {d.index: d for d in report.results.devices}
        assert by_index[1].status == "failed" and by_index[1].step == "bad_command"
        assert by_index[1].failure is not None and by_index[1].failure.startswith("CME ")
        assert by_index[2].status == "hung" and by_index[2].step == "wait_forever"
        assert by_index[3].failure == "RuntimeError" and by_index[3].step is None
        failures = {(f["step"], f["code"]) for f in report.summary["failures"]}
        assert ("wait_forever", "hung") in failures
        assert ("(scenario)", "RuntimeError") in failures

    run(main)


async def forever(modem: AsyncModem, ctx: DeviceContext) -> None:
    """Ticks until the run stops; odd devices ignore the stop."""
    async with ctx.step("boot"):
        await modem.sync()
    while True:
        async with ctx.step("tick"):
            await modem.command("AT")
        if not await ctx.sleep(0.02) and ctx.index % 2 == 0:
            return


def test_stop_lets_scenarios_end_cancels_the_rest_and_writes_the_summary() -> None:
    output = io.StringIO()

    async def main() -> None:
        fleet = Fleet(forever, 6, grace=1.0, output=output)
        running = asyncio.ensure_future(fleet.run())
        while fleet.results.steps.get("tick") is None or fleet.results.steps["tick"].count < 12:
            await asyncio.sleep(0.01)
        fleet.stop()
        report = await running
        assert dict(report.outcomes) == {"ok": 3, "stopped": 3}
        stopped = [d for d in report.results.devices if d.status == "stopped"]
        assert {d.index % 2 for d in stopped} == {1}
        assert report.interrupted

    run(main)
    assert lines(output)[-1]["interrupted"] is True


def test_the_collector_skips_the_devices_objects_while_they_run_and_not_after() -> None:
    frozen_during: list[int] = []

    async def until_frozen(modem: AsyncModem, ctx: DeviceContext) -> None:
        async with ctx.step("boot"):
            await modem.sync()
        for _ in range(500):  # the freeze comes a second after the last device started
            if gc.get_freeze_count():
                break
            await ctx.sleep(0.01)
        frozen_during.append(gc.get_freeze_count())

    async def main() -> None:
        report = await Fleet(until_frozen, 3).run()
        assert dict(report.outcomes) == {"ok": 3}

    run(main)
    assert len(frozen_during) == 3 and all(frozen_during), frozen_during
    assert gc.get_freeze_count() == 0  # the run ended: everything is collectable again


def test_a_program_that_froze_objects_itself_keeps_them_frozen() -> None:
    async def past_the_freeze(modem: AsyncModem, ctx: DeviceContext) -> None:
        async with ctx.step("boot"):
            await modem.sync()
        await ctx.sleep(1.2)  # the Fleet's freeze would come a second after the start

    gc.freeze()
    frozen = gc.get_freeze_count()
    try:

        async def main() -> None:
            report = await Fleet(past_the_freeze, 2).run()
            assert dict(report.outcomes) == {"ok": 2}

        run(main)
        assert gc.get_freeze_count() == frozen  # not unfrozen by the Fleet
    finally:
        gc.unfreeze()


def test_a_run_that_reaches_its_duration_is_complete_not_interrupted() -> None:
    async def main() -> None:
        report = await Fleet(forever, 4, duration=0.5, grace=2.0).run()
        assert dict(report.outcomes) == {"ok": 2, "stopped": 2}
        assert not report.interrupted and report.summary["interrupted"] is False

    run(main)


def test_a_cancelled_run_cancels_its_devices_and_still_writes_the_summary() -> None:
    output = io.StringIO()

    async def main() -> None:
        fleet = Fleet(forever, 4, output=output)
        running = asyncio.ensure_future(fleet.run())
        while fleet.results.step_count < 8:
            await asyncio.sleep(0.01)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert fleet.report is not None and fleet.report.interrupted
        assert dict(fleet.report.outcomes) == {"stopped": 4}
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(main)
    assert lines(output)[-1]["type"] == "summary"


def test_nothing_is_left_open_after_a_run_that_failed_hung_and_opened_tls() -> None:
    def open_fds() -> set[str]:
        gc.collect()
        return set(os.listdir("/proc/self/fd"))

    async def main() -> None:
        scenario = load_scenario(SCENARIO)
        await Fleet(scenario, 2, options=QUICK).run()  # warm-up: lazily opened things
        before = open_fds()
        threads = threading.active_count()
        await Fleet(scenario, 8, options=QUICK).run()
        await Fleet(flaky, 5, device_timeout=0.5).run()
        assert asyncio.all_tasks() == {asyncio.current_task()}
        assert open_fds() == before
        assert threading.active_count() == threads

    run(main)


def test_device_seeds_repeat_and_differ_and_reach_the_network_profile() -> None:
    assert device_seed(1, 0) == device_seed(1, 0)
    assert len({device_seed(1, i) for i in range(1000)}) == 1000
    assert device_seed(1, 0) != device_seed(2, 0)
    seen: dict[int, int] = {}

    async def record(modem: AsyncModem, ctx: DeviceContext) -> None:
        assert ctx.module.network is not None
        seen[ctx.index] = ctx.module.network.seed
        assert ctx.seed == device_seed(3, ctx.index)

    async def main() -> None:
        await Fleet(record, 3, seed=3, network="lte-m").run()

    run(main)
    assert seen == {i: device_seed(3, i) for i in range(3)}


def test_the_file_store_template_is_shared_until_a_device_writes() -> None:
    template = {"ca.pem": b"CA"}
    first, second = TemplateStore(template), TemplateStore(template)
    assert first.read("ca.pem") is second.read("ca.pem")
    first.write("key.pem", b"KEY")
    assert first.copied and not second.copied
    assert first.names() == ["ca.pem", "key.pem"] and second.names() == ["ca.pem"]
    assert second.delete("ca.pem") and not second.delete("ca.pem")
    assert template == {"ca.pem": b"CA"} and first.size("ca.pem") == 2


def test_histogram_percentiles_are_within_a_bucket() -> None:
    histogram = Histogram()
    for ms in range(1, 101):
        histogram.add(ms / 1000)
    assert histogram.count == 100 and histogram.maximum == 0.1
    assert 0.050 <= histogram.percentile(50) <= 0.050 * 1.05
    assert 0.099 <= histogram.percentile(99) <= 0.1
    other = Histogram()
    other.add(1.0)
    histogram.merge(other)
    assert histogram.percentile(100) == 1.0


def test_failures_are_named_by_the_modules_code() -> None:
    assert failure_code(OpenFailed('AT+QSSLOPEN=1,1,0,"h",1,0', b"", 566)) == "+QSSLOPEN 566"
    assert failure_code(OpenFailed('AT+QIOPEN=1,0,"TCP"', b"", 565)) == "+QIOPEN 565"
    assert failure_code(CommandError("AT+QFUPL", b"\r\n+CME ERROR: 407\r\n", 407)) == "CME 407"
    assert failure_code(TimeoutError()) == "step timeout"
    assert failure_code(MqttOpenFailed('AT+QMTOPEN=0,"h",1883', b"", -1)) == "+QMTOPEN -1"
    assert failure_code(MqttConnectRefused('AT+QMTCONN=0,"c"', b"", 5)) == "+QMTCONN 5"
    assert failure_code(MqttLinkLost('AT+QMTPUB=0,1,1,0,"t"', b"", 2)) == "+QMTSTAT 2"
    assert failure_code(MqttError('AT+QMTSUB=0,1,"t",1', b"", 2)) == "+QMTSUB 2"


def test_bg96_fleet_runs_a_scenario_file_and_writes_json_lines(tmp_path: Path) -> None:
    from bg96.cli.app import main

    out = tmp_path / "run.jsonl"
    options = [f"-o{k}={v}" for k, v in QUICK.items()]
    assert main(["fleet", str(SCENARIO), "-n", "3", *options, "--jsonl", str(out)]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written[-1]["type"] == "summary" and written[-1]["outcomes"] == {"ok": 3}
    assert main(["fleet", str(tmp_path / "missing.py")]) == 2


FOREVER = """
from bg96.fleet import DeviceContext


async def device(modem, ctx: DeviceContext) -> None:
    async with ctx.step("boot"):
        await modem.sync()
    while await ctx.sleep(0.02):
        async with ctx.step("tick"):
            await modem.command("AT")
"""


def test_ctrl_c_stops_bg96_fleet_with_its_partial_results_written(tmp_path: Path) -> None:
    scenario, out = tmp_path / "forever.py", tmp_path / "run.jsonl"
    scenario.write_text(FOREVER)
    command = [sys.executable, "-m", "bg96", "fleet", str(scenario), "-n", "4"]
    with subprocess.Popen(
        [*command, "--progress", "0.1", "--jsonl", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # progress lines, until the devices tick
            if "done 0" in line and "steps 0 " not in line and "steps 4 " not in line:
                break
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 130
    assert "ok 4" in rest and "(interrupted)" in rest
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written[-1]["interrupted"] is True
    assert written[-1]["outcomes"] == {"ok": 4}


def test_the_starter_scenario_over_the_modules_mqtt_client_recovers_from_the_fault() -> None:
    options = {**QUICK, "protocol": "mqtt", "fault_every": "3"}

    async def main() -> None:
        report = await Fleet(load_scenario(SCENARIO), 6, options=options, seed=3).run()
        assert dict(report.outcomes) == {"ok": 6}, report.summary
        steps = report.summary["steps"]
        assert steps["mqtt_connect"]["count"] == 6 + 2  # devices 0 and 3 connected again
        assert steps["recover"]["count"] == 2
        assert steps["publish"]["count"] == 6 * 3 - 2
        # the fault closed the client (+QMTSTAT: 0,7) before the publish: AT+QMTPUB answers ERROR
        assert report.summary["failures"] == [
            {"step": "publish", "code": "+QMTPUB ERROR", "count": 2}
        ]

    run(main)
