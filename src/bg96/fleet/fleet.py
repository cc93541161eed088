"""``Fleet``: N virtual modules on one event loop, each driven in-process by a scenario.

Each device is a ``VirtualModule`` on an in-memory port with an ``AsyncModem`` attached (no
socket, no thread), its own seed (network jitter and loss, ``ctx.rng``), the fleet's fault
script, and a file store copied on write from one template. TLS contexts and the parsed
certificates behind them are shared by every module already (``tls.openssl_backend`` keeps
them by offer and CA). A scenario that raises is reported for its device and the others go
on; one that outlives ``device_timeout`` is cancelled and reported ``hung``; ``stop()`` (the
CLI's Ctrl-C, the end of ``duration``) lets the scenarios finish their loops for ``grace``
seconds, cancels the rest, and the summary is written either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..engine import ModuleConfig
from ..module.faults import FaultScript
from ..network import NetworkProfile, profile
from .device import DeviceRun, DeviceSetup
from .results import DeviceResult, Results, Step
from .scenario import DeviceFn, Scenario


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run is, for the progress line."""

    elapsed: float
    devices: int
    started: int
    running: int
    finished: int
    outcomes: Mapping[str, int]
    steps: int
    steps_per_second: float
    failures: int


@dataclass(frozen=True, slots=True)
class Report:
    """A finished (or interrupted) run: the summary written last, and the figures."""

    summary: dict[str, Any]
    results: Results
    interrupted: bool

    @property
    def outcomes(self) -> Mapping[str, int]:
        return self.results.outcomes


class Fleet:
    """Run ``scenario`` on ``devices`` virtual modules: ``report = await fleet.run()``."""

    def __init__(
        self,
        scenario: Scenario | DeviceFn,
        devices: int,
        *,
        seed: int = 0,
        options: Mapping[str, str] | None = None,
        network: NetworkProfile | str | None = None,
        faults: FaultScript | str | Path | None = None,
        files: Mapping[str, bytes] | None = None,
        config: ModuleConfig | None = None,
        resolve: dict[str, str] | None = None,
        duration: float | None = None,
        ramp: float = 0.0,
        device_timeout: float | None = None,
        grace: float = 5.0,
        min_timeout: float = 1.0,
        output: TextIO | None = None,
        step_lines: bool = False,
        progress: Callable[[Progress], None] | None = None,
        progress_every: float = 1.0,
        freeze_gc: bool = True,
    ) -> None:
        """``options``: ``ctx.options`` and the scenario's ``resources``. ``duration``: the
        run stops then (``stop()``). ``ramp``: devices start evenly over this many seconds.
        ``output``: JSON lines (a line per device as it ends, progress, with ``step_lines``
        a line per step, and the summary last). ``freeze_gc``: once every device has started
        (and a second more for their boots), the objects alive then (modules, drivers,
        connections) leave the garbage collector's view until the run ends (``gc.freeze``):
        at N=1000 its walks over them cost about 7% of the CPU per command. Not done when
        something else has frozen objects already (the program, another Fleet)."""
        if devices < 0:
            raise ValueError("devices must be 0 or more")
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario(scenario)
        self.devices = devices
        self.seed = seed
        self.options = dict(options or {})
        self.network = profile(network) if isinstance(network, str) else network
        self.faults = faults if isinstance(faults, FaultScript | None) else FaultScript.load(faults)
        self.files = dict(files or {})
        self.config = config
        self.resolve = resolve
        self.duration = duration
        self.ramp = ramp
        self.device_timeout = device_timeout
        self.grace = grace
        self.min_timeout = min_timeout
        self.output = output
        self.step_lines = step_lines
        self.progress = progress
        self.progress_every = progress_every
        self.freeze_gc = freeze_gc
        self.results = Results()
        self.report: Report | None = None  # set when a run ends, even an interrupted one
        self._stop: asyncio.Event | None = None
        self._interrupted = False  # stop() came before the end (not ``duration``'s)
        self._started = 0
        self._running = 0
        self._frozen = False  # gc.freeze() in effect (freeze_gc)

    def stop(self) -> None:
        """End the run: scenarios see ``ctx.stopping``; after ``grace`` s the rest are
        cancelled. Call on the run's loop."""
        if self._stop is not None:
            self._interrupted = True
            self._stop.set()

    async def run(self) -> Report:
        """Run every device to its end (or the run's); the report of what happened. If the
        run itself is cancelled the devices are cancelled, the partial summary written, and
        the cancellation goes on."""
        self._stop = stop = asyncio.Event()
        self.results = results = Results()
        self._started = self._running = 0
        if self.output is not None and self.step_lines:
            results.listeners.append(self._write_step)
        loop = asyncio.get_running_loop()
        interrupted = False
        tasks: list[asyncio.Task[None]] = []
        ticker: asyncio.Task[None] | None = None
        freezer: asyncio.Task[None] | None = None
        self._interrupted = False
        timer = loop.call_later(self.duration, stop.set) if self.duration is not None else None
        try:
            async with self.scenario.resources(self.options) as shared:
                setup = DeviceSetup(
                    scenario=self.scenario,
                    shared=shared,
                    options=self.options,
                    files={**self.scenario.files, **self.files},
                    seed=self.seed,
                    network=self.network,
                    faults=self.faults,
                    config=self.config,
                    resolve=self.resolve,
                    min_timeout=self.min_timeout,
                    device_timeout=self.device_timeout,
                )
                tasks = [
                    loop.create_task(self._device(setup, i), name=f"bg96-device-{i}")
                    for i in range(self.devices)
                ]
                if self.progress is not None or self.output is not None:
                    ticker = loop.create_task(self._tick())
                if self.freeze_gc:
                    freezer = loop.create_task(self._freeze_when_started(stop))
                await self._finish(tasks, stop)
        except asyncio.CancelledError:
            interrupted = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            # everything that must happen comes before the first await here: a cancel that
            # lands on that await must not leave the collector frozen or the report unwritten
            if timer is not None:
                timer.cancel()
            helpers = [h for h in (ticker, freezer) if h is not None]
            for helper in helpers:
                helper.cancel()
            if self._frozen:
                self._frozen = False
                gc.unfreeze()
            interrupted = interrupted or self._interrupted
            summary = results.summary(devices=self.devices, interrupted=interrupted)
            self._write(summary)
            self.report = Report(summary, results, interrupted)
            await asyncio.gather(*helpers, return_exceptions=True)
        return self.report

    async def _finish(self, tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
        """Until every device ended; once stopping, ``grace`` s more, then cancel."""
        if not tasks:
            return
        all_done = asyncio.Event()
        remaining = len(tasks)

        def ended(_: asyncio.Task[None]) -> None:
            nonlocal remaining
            remaining -= 1
            if not remaining:
                all_done.set()

        for task in tasks:
            task.add_done_callback(ended)
        waiters = [asyncio.ensure_future(all_done.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if not all_done.is_set():
            pending = [t for t in tasks if not t.done()]
            await asyncio.wait(pending, timeout=self.grace)
            for task in pending:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _freeze_when_started(self, stop: asyncio.Event) -> None:
        """``freeze_gc``: once every device has started, and a second later."""
        while self._started < self.devices and not stop.is_set():
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        if not stop.is_set() and not gc.get_freeze_count():
            # (not when something else froze objects already, the program or another Fleet:
            # the unfreeze at the end would undo theirs)
            gc.collect()
            gc.freeze()
            self._frozen = True

    async def _device(self, setup: DeviceSetup, index: int) -> None:
        stop = self._stop
        assert stop is not None
        device = DeviceRun(setup, index, self.results.record)
        try:
            if self.ramp and self.devices > 1:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.ramp * index / self.devices)
            if stop.is_set():
                device.result = DeviceResult(index, device.seed, "stopped", 0.0, 0)
                return
            self._started += 1
            self._running += 1
            try:
                await device.run(stop)
            finally:
                self._running -= 1
        finally:
            result = device.result or DeviceResult(index, device.seed, "stopped", 0.0, 0)
            self.results.device_done(result)
            self._write(result.to_json())

    # ---- progress and output ---------------------------------------------------------------

    def snapshot(self) -> Progress:
        results = self.results
        elapsed = results.elapsed
        return Progress(
            elapsed=elapsed,
            devices=self.devices,
            started=self._started,
            running=self._running,
            finished=len(results.devices),
            outcomes=dict(results.outcomes),
            steps=results.step_count,
            steps_per_second=results.step_count / elapsed if elapsed > 0 else 0.0,
            failures=sum(results.failures.values()),
        )

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.progress_every)
            progress = self.snapshot()
            if self.progress is not None:
                self.progress(progress)
            self._write({"type": "progress", **_progress_json(progress)})

    def _write_step(self, step: Step) -> None:
        self._write({"type": "step", **{k: getattr(step, k) for k in step.__slots__}})

    def _write(self, line: Mapping[str, Any]) -> None:
        if self.output is not None:
            self.output.write(json.dumps(line, separators=(",", ":")) + "\n")
            self.output.flush()


def _progress_json(progress: Progress) -> dict[str, Any]:
    values = {k: getattr(progress, k) for k in progress.__slots__}
    values["elapsed"] = round(progress.elapsed, 3)
    values["steps_per_second"] = round(progress.steps_per_second, 1)
    values["outcomes"] = dict(progress.outcomes)
    return values
