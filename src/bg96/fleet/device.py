"""One device's life: a virtual module on an in-memory port, an ``AsyncModem`` attached, the
scenario run to its end (or the run's), and everything closed after, whatever happened.

``Fleet`` runs thousands of these on one loop; the Locust user runs one per user.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine import ModuleConfig
from ..host import AsyncModem
from ..module.faults import FaultScript
from ..module.virtual import VirtualModule
from ..network import NetworkProfile
from .codes import failure_code
from .context import DeviceContext
from .results import DeviceResult, Step
from .scenario import Scenario
from .store import TemplateStore


def device_seed(seed: int, index: int) -> int:
    """Device ``index``'s own seed, from the fleet's: the same run after run."""
    return random.Random(f"bg96-fleet/{seed}/{index}").getrandbits(32)


@dataclass(frozen=True)
class DeviceSetup:
    """What every device of a run shares: the scenario, its resources and options, the
    module's settings, the file-store template."""

    scenario: Scenario
    shared: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)
    seed: int = 0
    network: NetworkProfile | None = None
    faults: FaultScript | None = None
    config: ModuleConfig | None = None
    resolve: dict[str, str] | None = None
    min_timeout: float = 1.0
    device_timeout: float | None = None


class DeviceRun:
    """One device's run; ``result`` is set when it ended, however it ended."""

    def __init__(self, setup: DeviceSetup, index: int, record: Callable[[Step], None]) -> None:
        self.setup = setup
        self.index = index
        self.seed = device_seed(setup.seed, index)
        self.record = record
        self.result: DeviceResult | None = None
        self.ctx: DeviceContext | None = None
        self.started = False  # the module was made

    async def run(self, stop: asyncio.Event) -> DeviceResult:
        """Until the scenario ends; a cancellation stops the module and goes on (``result``
        says ``stopped`` then)."""
        setup = self.setup
        began = time.perf_counter()
        module: VirtualModule | None = None
        modem: AsyncModem | None = None
        status, failure, error, where = "ok", None, "", None
        try:
            self.started = True
            network = setup.network.with_values(seed=self.seed) if setup.network else None
            module = VirtualModule(
                transport="memory",
                store=TemplateStore(setup.files),
                network=network,
                faults=setup.faults,
                config=setup.config,
                resolve=setup.resolve,
            )
            await module.start()
            modem = await AsyncModem.attach(module, min_timeout=setup.min_timeout)
            ctx = self.ctx = DeviceContext(
                self.index,
                self.seed,
                module,
                shared=setup.shared,
                options=setup.options,
                record=self.record,
                stop=stop,
            )
            deadline = asyncio.timeout(setup.device_timeout)
            try:
                async with deadline:
                    await setup.scenario.device(modem, ctx)
            except TimeoutError:
                if not deadline.expired():
                    raise
                status, failure, where = "hung", "hung", ctx.current
                error = f"no end after {setup.device_timeout:g} s"
        except asyncio.CancelledError:
            status, where = "stopped", self.ctx.current if self.ctx is not None else None
            raise
        except Exception as exc:
            status, failure, error = "failed", failure_code(exc), f"{type(exc).__name__}: {exc}"
            last = self.ctx.last_failure if self.ctx is not None else None
            where = last[0] if last is not None and last[1] is exc else None
        finally:
            await _cleanup(modem, module)
            self.result = DeviceResult(
                index=self.index,
                seed=self.seed,
                status=status,
                seconds=round(time.perf_counter() - began, 6),
                steps=self.ctx.steps if self.ctx is not None else 0,
                failure=failure,
                error=error,
                step=where,
            )
        return self.result


async def _cleanup(modem: AsyncModem | None, module: VirtualModule | None) -> None:
    """Close the modem and stop the module, even while being cancelled."""

    async def close() -> None:
        if modem is not None:
            with contextlib.suppress(Exception):
                await modem.close()
        if module is not None:
            await module.stop()

    task = asyncio.ensure_future(close())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task  # the module's sockets must not outlive the device
        raise
