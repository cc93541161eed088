"""A scenario: the coroutine each device runs, and what the devices share.

A scenario file (``examples/fleet_scenario.py``) defines::

    async def device(modem: AsyncModem, ctx: DeviceContext) -> None: ...    # required
    def resources(options) -> AbstractAsyncContextManager[Mapping[str, Any]]: ...  # optional
    FILES: Mapping[str, bytes]                                              # optional

``resources`` is entered once before the first device starts (a server, a PKI, a
target from the options) and what it yields is every device's ``ctx.shared``; ``FILES`` is
the file-store template every device starts with (copied on a device's first write).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..host import AsyncModem
from .context import DeviceContext

DeviceFn = Callable[[AsyncModem, DeviceContext], Awaitable[None]]
ResourcesFn = Callable[[Mapping[str, str]], AbstractAsyncContextManager[Mapping[str, Any]]]


@contextlib.asynccontextmanager
async def no_resources(options: Mapping[str, str]) -> AsyncIterator[Mapping[str, Any]]:
    yield {}


@dataclass(frozen=True)
class Scenario:
    device: DeviceFn
    resources: ResourcesFn = no_resources
    files: Mapping[str, bytes] = field(default_factory=dict)
    name: str = "scenario"


class ScenarioError(ValueError):
    """The scenario file cannot be loaded or has no ``device`` coroutine."""


def load_scenario(spec: str | Path) -> Scenario:
    """The scenario in a file: ``path.py`` (its ``device``) or ``path.py:name``."""
    text = str(spec)
    path_text, _, attr = text.partition(":") if text.count(":") == 1 else (text, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise ScenarioError(f"no scenario file {path}")
    module_name = f"bg96_scenario_{path.stem}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise ScenarioError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module  # dataclasses and pickling look it up
    try:
        loader.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ScenarioError(f"{path}: {type(exc).__name__}: {exc}") from exc
    device = getattr(module, attr or "device", None)
    if device is None or not callable(device):
        raise ScenarioError(f"{path} has no coroutine {attr or 'device'!r}")
    return Scenario(
        device=device,
        resources=getattr(module, "resources", no_resources),
        files=dict(getattr(module, "FILES", {})),
        name=path.stem,
    )
