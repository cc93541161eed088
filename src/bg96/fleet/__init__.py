"""Fleets: thousands of virtual BG96 devices on one event loop, each driven by a scenario
coroutine ``async def device(modem, ctx)``; ``bg96 fleet`` and the Locust user are faces
over it."""

from .codes import failure_code
from .context import DeviceContext
from .device import DeviceRun, DeviceSetup, device_seed
from .fleet import Fleet, Progress, Report
from .histogram import Histogram
from .results import DeviceResult, Results, Step
from .scenario import Scenario, ScenarioError, load_scenario
from .store import TemplateStore

__all__ = [
    "DeviceContext",
    "DeviceResult",
    "DeviceRun",
    "DeviceSetup",
    "Fleet",
    "Histogram",
    "Progress",
    "Report",
    "Results",
    "Scenario",
    "ScenarioError",
    "Step",
    "TemplateStore",
    "device_seed",
    "failure_code",
    "load_scenario",
]
