"""What a fleet run measured: each step's latency and failures, each device's outcome.

``Results`` is fed by every device's steps (``record``) and ends (``device_done``); it keeps a
histogram per step, failures by step and module code, and calls its listeners with each
step (the JSON-lines writer, Locust's request events).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .histogram import Histogram


@dataclass(slots=True)
class Step:
    """One step of one device: its name, how long it took, and its failure code if any."""

    device: int
    name: str
    seconds: float
    failure: str | None = None
    error: str = ""


@dataclass(slots=True)
class DeviceResult:
    """How one device's scenario ended: ``ok``, ``failed`` (it raised), ``hung`` (it
    outlived ``device_timeout``) or ``stopped`` (the run ended first)."""

    index: int
    seed: int
    status: str
    seconds: float
    steps: int
    failure: str | None = None
    error: str = ""
    step: str | None = None  # where it was when it failed, hung or stopped

    def to_json(self) -> dict[str, Any]:
        return {"type": "device", **{k: getattr(self, k) for k in self.__slots__}}


StepListener = Callable[[Step], None]


@dataclass
class Results:
    """The whole run's figures, merged as steps come."""

    started: float = field(default_factory=time.monotonic)
    steps: dict[str, Histogram] = field(default_factory=dict)
    failed_steps: dict[str, Histogram] = field(default_factory=dict)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (step, code)
    devices: list[DeviceResult] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    listeners: list[StepListener] = field(default_factory=list)
    step_count: int = 0

    def record(self, step: Step) -> None:
        self.step_count += 1
        table = self.steps if step.failure is None else self.failed_steps
        histogram = table.get(step.name)
        if histogram is None:
            histogram = table[step.name] = Histogram()
        histogram.add(step.seconds)
        if step.failure is not None:
            self.failures[step.name, step.failure] += 1
        for listener in self.listeners:
            listener(step)

    def device_done(self, result: DeviceResult) -> None:
        self.devices.append(result)
        self.outcomes[result.status] += 1
        if result.status == "hung":  # a step that never ended was not recorded
            self.failures[result.step or "(scenario)", "hung"] += 1
        elif result.status == "failed" and result.failure is not None and result.step is None:
            self.failures["(scenario)", result.failure] += 1  # raised outside any step

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def summary(self, *, devices: int, interrupted: bool = False) -> dict[str, Any]:
        """The run as one JSON object (the last line of the JSON-lines output)."""
        return {
            "type": "summary",
            "devices": devices,
            "finished": len(self.devices),
            "outcomes": dict(self.outcomes),
            "interrupted": interrupted,
            "seconds": round(self.elapsed, 3),
            "steps": {name: h.to_json() for name, h in self.steps.items()},
            "failed_steps": {name: h.to_json() for name, h in self.failed_steps.items()},
            "failures": [
                {"step": step, "code": code, "count": n}
                for (step, code), n in self.failures.most_common()
            ],
        }
