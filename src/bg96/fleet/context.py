"""``DeviceContext``: what a scenario knows about its device besides the modem.

Its index and seed (and a generator seeded with it), the fleet's shared resources and
options, the virtual module itself (for faults), ``step`` to time and name what it does,
and ``sleep``/``stopping`` so a periodic loop ends when the run does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from ..module.faults import Faults
from ..module.virtual import VirtualModule
from .codes import failure_code
from .results import Step


class DeviceContext:
    """One device's view of the fleet; ``step`` records into the fleet's results."""

    def __init__(
        self,
        index: int,
        seed: int,
        module: VirtualModule,
        *,
        shared: Mapping[str, Any],
        options: Mapping[str, str],
        record: Callable[[Step], None],
        stop: asyncio.Event,
    ) -> None:
        self.index = index
        self.seed = seed
        self.rng = random.Random(seed)
        self.module = module
        self.shared = shared
        self.options = options
        self._record = record
        self._stop = stop
        self.current: str | None = None  # the step under way
        self.last_failure: tuple[str, BaseException] | None = None  # the step that raised last
        self.steps = 0

    @property
    def faults(self) -> Faults:
        """The device's fault injector (``docs/faults.md``)."""
        return self.module.faults

    @property
    def stopping(self) -> bool:
        """The run is ending: a periodic loop should finish."""
        return self._stop.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep, or less if the run ends meanwhile; whether the run goes on."""
        if not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
        return not self._stop.is_set()

    def option(self, name: str, default: str) -> str:
        return self.options.get(name, default)

    @contextlib.asynccontextmanager
    async def step(self, name: str, *, timeout: float | None = None) -> AsyncIterator[None]:
        """Time what the block does as step ``name``; a failure is recorded under the
        module's code and raised on. ``timeout``: the step fails with ``TimeoutError``."""
        self.current = name
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                yield
        except asyncio.CancelledError:
            raise  # the run cancelled the device: it reports where it was
        except BaseException as exc:
            self.steps += 1
            self._record(
                Step(self.index, name, time.perf_counter() - started, failure_code(exc), str(exc))
            )
            self.current = None
            self.last_failure = (name, exc)
            raise
        self.steps += 1
        self._record(Step(self.index, name, time.perf_counter() - started))
        self.current = None
