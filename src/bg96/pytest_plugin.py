"""pytest fixtures for code that drives a BG96: a fresh virtual module per test, or real hardware.

Installed with bg96 (entry point ``pytest11``), so any test in the environment can ask for:

``bg96_modem``
    a :class:`~bg96.host.Modem` on ``bg96_url``, ``sync()``-ed and registered on the network
    (``wait_registered()``); closed after the test.
``bg96_url``
    the serial URL a host opens: the virtual module's ``socket://127.0.0.1:<port>``, or
    ``--bg96-url``. For code that brings its own driver.
``bg96_module``
    a :class:`~bg96.VirtualModule` started for this test only: TCP on 127.0.0.1, files in
    memory, host names resolve only through ``resolve`` overrides (no DNS). Its ``store``,
    ``clock`` and ``engine`` are there to inspect.
``bg96_module_options``
    keyword arguments for that ``VirtualModule`` (default none). Override the fixture in a
    module or conftest, or per test with
    ``@pytest.mark.parametrize("bg96_module_options", [{"resolve": {...}}])``.
``bg96_tls_server``
    a :class:`~bg96.testing.loopback.LoopbackTlsServer`: a TLS echo server on 127.0.0.1 with
    ``host``, ``port``, ``ca_pem`` (its throw-away RSA CA) and ``received``.
``bg96_pki``
    the session's :class:`~bg96.testing.TestPki` that ``bg96_tls_server`` uses.

``pytest --bg96-url URL`` runs the same tests against another module: real hardware
(``/dev/ttyUSB2``) or ``bg96 serve --tcp HOST:PORT`` (``socket://HOST:PORT``). Then no
virtual module starts: tests that ask for ``bg96_module`` or are marked
``@pytest.mark.bg96_virtual_only`` are skipped, and ``bg96_tls_server`` is skipped unless
the URL is a ``socket://`` or ``rfc2217://`` one on this machine's loopback (a module
elsewhere cannot reach 127.0.0.1 here). The module outlives each test there, so
``bg96_modem`` closes the sockets a test left open.

``pytest --bg96-network nb-iot`` (or ``lte-m``) runs every virtual module over that network
profile (docs/network.md), unless a test's ``bg96_module_options`` names its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import pytest

from .host import Modem, ModemError, StreamConnection
from .host.core import TRANSPARENT
from .module.faults import FaultScript
from .module.virtual import TransportKind, VirtualModule
from .network import PROFILES, NetworkProfile
from .testing import TestPki
from .testing.loopback import LoopbackTlsServer

if TYPE_CHECKING:
    from .engine import ModuleConfig
    from .module.trace import Trace

VIRTUAL_ONLY = "bg96_virtual_only"


class VirtualModuleOptions(TypedDict, total=False):
    """The keyword arguments of :class:`~bg96.VirtualModule`, for ``bg96_module_options``."""

    transport: TransportKind
    host: str
    port: int
    link: Path | None
    files: Path | None
    resolve: dict[str, str] | None
    system_resolver: bool
    trace: Trace | str | None
    pace: bool
    config: ModuleConfig | None
    keylog: Callable[[str], None] | None
    faults: str | Path | FaultScript | None
    network: NetworkProfile | str | None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bg96", "BG96 module under test")
    group.addoption(
        "--bg96-url",
        metavar="URL",
        default=None,
        help="run bg96_modem against this serial URL (/dev/ttyUSB2, socket://HOST:PORT of "
        "'bg96 serve --tcp') instead of a virtual module per test",
    )
    group.addoption(
        "--bg96-network",
        metavar="PROFILE",
        choices=sorted(PROFILES),
        default=None,
        help="the network profile of every virtual module (ideal, lte-m, nb-iot) unless a "
        "test's bg96_module_options names one",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{VIRTUAL_ONLY}: needs the virtual module's internals; skipped with --bg96-url"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    url = _external_url(config)
    if url is None:
        return
    skip = pytest.mark.skip(reason=f"{VIRTUAL_ONLY}: running against --bg96-url {url}")
    for item in items:
        if item.get_closest_marker(VIRTUAL_ONLY) is not None:
            item.add_marker(skip)


def _external_url(config: pytest.Config) -> str | None:
    url = config.getoption("bg96_url")
    return str(url) if url else None


def _on_loopback(url: str) -> bool:
    """Whether a module at ``url`` runs on this machine and reaches its 127.0.0.1."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("socket", "rfc2217") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


@pytest.fixture
def bg96_module_options() -> VirtualModuleOptions:
    return {}


@pytest.fixture
def bg96_module(
    request: pytest.FixtureRequest, bg96_module_options: VirtualModuleOptions
) -> Iterator[VirtualModule]:
    url = _external_url(request.config)
    if url is not None:
        pytest.skip(f"bg96_module: running against --bg96-url {url}, no virtual module")
    options: VirtualModuleOptions = {
        "transport": "tcp",
        "host": "127.0.0.1",
        "system_resolver": False,
    }
    network = request.config.getoption("bg96_network")
    if network is not None:
        options["network"] = network
    options.update(bg96_module_options)
    with VirtualModule(**options) as module:
        yield module


@pytest.fixture
def bg96_url(request: pytest.FixtureRequest, bg96_module_options: VirtualModuleOptions) -> str:
    # bg96_module_options is asked for only so that tests can parametrize it
    url = _external_url(request.config)
    if url is not None:
        return url
    module: VirtualModule = request.getfixturevalue("bg96_module")
    return module.url


@pytest.fixture
def bg96_modem(request: pytest.FixtureRequest, bg96_url: str) -> Iterator[Modem]:
    modem = Modem.open(bg96_url)
    try:
        modem.sync()
        modem.wait_registered()  # at once, unless a network profile makes attaching take time
        yield modem
        if _external_url(request.config) is not None:
            _close_connections(modem)
    finally:
        modem.close()


def _close_connections(modem: Modem) -> None:
    """Close what a test left open (connections, UDP sockets, listeners), so the next test
    finds its client IDs free."""
    for conn in list(modem.connections.values()):
        with contextlib.suppress(ModemError):
            transparent = conn.access_mode == TRANSPARENT and not conn.closed_by_peer
            if transparent and isinstance(conn, StreamConnection):
                conn.leave_transparent()
            conn.close()


@pytest.fixture(scope="session")
def bg96_pki() -> TestPki:
    return TestPki("bg96 pytest CA")


@pytest.fixture
def bg96_tls_server(request: pytest.FixtureRequest) -> Iterator[LoopbackTlsServer]:
    url = _external_url(request.config)
    if url is not None and not _on_loopback(url):
        pytest.skip(f"bg96_tls_server listens on 127.0.0.1, which the module at {url} cannot reach")
    pki: TestPki = request.getfixturevalue("bg96_pki")  # after the skip: a new CA takes time
    with LoopbackTlsServer(pki) as server:
        yield server
