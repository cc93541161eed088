"""``VirtualModule``: a virtual BG96 in this process, on a loopback port (or a pty, or an
in-memory port for a host driver on the same loop: ``AsyncModem.attach(module)``).

As a sync context manager it runs its own event loop in a thread; as an async one it runs in
the caller's loop. Either way ``.url`` is what a host opens (``socket://127.0.0.1:<port>``).
The same options as ``bg96 serve``. ``.faults`` injects faults (``bg96.module.faults``), and
``faults=`` takes a fault script that is armed when the module first powers on.
"""

from __future__ import annotations

import asyncio
import calendar
import concurrent.futures
import dataclasses
import datetime as dt
import ipaddress
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar

from ..engine import Engine, FileStore, MemoryStore, ModuleConfig
from ..engine.state import Service
from ..network import Network, NetworkProfile, profile
from .faults import Faults, FaultScript
from .filestore import DirStore
from .resolve import Resolver
from .runner import Runner
from .trace import TeeTrace, Trace, open_trace
from .transports.base import Transport
from .transports.memory import MemoryTransport
from .transports.pty import PtyTransport
from .transports.tcp import TcpTransport

T = TypeVar("T")
TransportKind = Literal["tcp", "rfc2217", "pty", "memory"]


class RemoteBindError(ValueError):
    """The AT port would listen off loopback, and ``allow_remote`` was not given."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address) reaches this machine only: ``localhost`` or a
    loopback address. Anything else, ``0.0.0.0``, ``""`` or a name, counts as remote."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(transport: TransportKind, host: str, *, allow_remote: bool) -> None:
    """``RemoteBindError`` unless the AT port would listen on loopback (or ``allow_remote``)."""
    if transport in ("pty", "memory") or allow_remote or is_loopback(host):
        return
    raise RemoteBindError(
        f"the AT port on {host or 'every interface'!r} would be reachable from other "
        "machines, with no authentication, and whoever reaches it can read, write and "
        "delete the module's files and open TLS connections from this machine: bind a "
        "loopback address (127.0.0.1), or pass allow_remote=True "
        "(bg96 serve --allow-remote) to serve it to the network anyway"
    )


def exposed_ports(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Module port -> host port from ``(module, host)`` pairs (``--expose``); ValueError
    when a module port is given two host ports or two module ports one host port (the second
    listener could never take it)."""
    mapping: dict[int, int] = {}
    owner: dict[int, int] = {}
    for module_port, host_port in pairs:
        if mapping.get(module_port, host_port) != host_port:
            raise ValueError(
                f"module port {module_port} is exposed on host ports "
                f"{mapping[module_port]} and {host_port}"
            )
        if owner.get(host_port, module_port) != module_port:
            raise ValueError(
                f"host port {host_port} is given to module ports {owner[host_port]} and "
                f"{module_port}"
            )
        mapping[module_port] = host_port
        owner[host_port] = module_port
    return mapping


class VirtualModule:
    """A virtual BG96 served on ``transport`` (tcp, rfc2217, pty or memory)."""

    def __init__(
        self,
        *,
        transport: TransportKind = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        link: Path | None = None,
        files: Path | None = None,
        store: FileStore | None = None,
        resolve: dict[str, str] | None = None,
        system_resolver: bool = True,
        trace: Trace | str | None = None,
        pace: bool = False,
        config: ModuleConfig | None = None,
        keylog: Callable[[str], None] | None = None,
        faults: FaultScript | str | Path | None = None,
        network: NetworkProfile | str | None = None,
        allow_remote: bool = False,
        expose: Mapping[int, int] | Iterable[int] | None = None,
    ) -> None:
        """``faults``: a fault script, or the path of one (``FaultScriptError`` at once
        when it does not parse). ``network``: a profile or its name (``ideal``, ``lte-m``,
        ``nb-iot``); it shapes the TLS traffic and sets the attach and AT+QIACT times (those
        ``config`` leaves at their defaults). ``host``: a loopback address unless
        ``allow_remote`` (``RemoteBindError`` otherwise): the AT port has no authentication,
        and whoever reaches it reads, writes and deletes the files and opens TLS anywhere.
        ``store``: the UFS file store itself (``files`` is a directory for one); a memory
        store when neither is given. ``expose``: module ports (or module port -> host port)
        a ``"TCP LISTENER"`` or ``"UDP SERVICE"`` takes on this machine's loopback; any other
        listener gets a free port (``host_port`` tells which)."""
        check_bind(transport, host, allow_remote=allow_remote)
        if expose is None:
            self.expose: dict[int, int] = {}
        elif isinstance(expose, Mapping):
            self.expose = exposed_ports(expose.items())
        else:
            self.expose = exposed_ports((port, port) for port in expose)
        if store is None:
            store = DirStore(files) if files is not None else MemoryStore()
        self.store: FileStore = store
        self.network = profile(network) if isinstance(network, str) else network
        self.config = config or ModuleConfig()
        if self.network is not None:  # its times, unless ``config`` sets its own
            default = ModuleConfig()
            times = {
                name: getattr(self.network, name)
                for name in ("attach_time", "pdp_activation_time")
                if getattr(self.config, name) == getattr(default, name)
            }
            self.config = dataclasses.replace(self.config, **times)
        self._kind = transport
        self._host, self._port, self._link = host, port, link
        self._resolver = Resolver(resolve, system=system_resolver)
        # also to listeners (trace.listen): the control endpoint's trace op, bg96 monitor
        self.trace = TeeTrace(open_trace(trace) if isinstance(trace, str) else trace)
        self._pace = pace
        self._keylog = keylog
        self._script = (
            faults if isinstance(faults, FaultScript | None) else FaultScript.load(faults)
        )
        self.faults = Faults(self)
        self.engine: Engine | None = None
        self.runner: Runner | None = None
        self.transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    # ---- where hosts connect -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``socket://...``, ``rfc2217://...`` or the pty's device path."""
        transport = self.transport
        if isinstance(transport, TcpTransport):  # also RFC 2217
            return transport.url
        if isinstance(transport, PtyTransport):
            return transport.path
        if isinstance(transport, MemoryTransport):
            raise RuntimeError("an in-memory port has no URL: use AsyncModem.attach(module)")
        raise RuntimeError("the module is not running")

    def memory_port(self) -> MemoryTransport:
        """The module's end of its in-memory port (``transport="memory"``), for
        ``AsyncModem.attach``; the module runs on the caller's loop."""
        transport = self.transport
        if not isinstance(transport, MemoryTransport):
            raise RuntimeError("the module is not running on an in-memory port")
        return transport

    # ---- async life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.engine = Engine(store=self.store, config=self.config, now=loop.time())
        if self._script is not None:
            self.engine.load_faults(self._script.pairs())
        transport: Transport
        if self._kind == "tcp":
            transport = TcpTransport(self._host, self._port)
        elif self._kind == "rfc2217":
            from .transports.rfc2217 import Rfc2217Transport  # pyserial loads for it only

            transport = Rfc2217Transport(self._host, self._port)
        elif self._kind == "memory":
            transport = MemoryTransport()
        else:
            transport = PtyTransport(link=self._link)
        self.transport = transport
        self.runner = Runner(
            self.engine,
            transport,
            resolver=self._resolver,
            trace=self.trace,
            pace=self._pace,
            keylog=self._keylog,
            network=Network(self.network) if self.network is not None else None,
            expose=self.expose,
        )
        await self.runner.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None

    async def __aenter__(self) -> VirtualModule:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- sync life cycle: the module's loop runs in a thread ----------------------------------

    def __enter__(self) -> VirtualModule:
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            await self._stop.wait()
            await self.stop()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self._thread.start()
        started.result(timeout=30)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the module's loop (the engine is not thread-safe) and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the module is not running")
        try:
            if asyncio.get_running_loop() is loop:
                return fn()
        except RuntimeError:
            pass
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def with_engine(self, fn: Callable[[Engine], T]) -> T:
        """``fn(engine)`` in the module's loop with the engine's clock brought to now, and
        what the engine produced (output, intents, timers) carried out after."""
        runner = self.runner
        if runner is None:
            raise RuntimeError("the module is not running")
        return self.call(lambda: runner.act(fn))

    def host_port(self, module_port: int, protocol: str = "tcp") -> int | None:
        """Where a listener (``"tcp"``) or UDP service (``"udp"``) on the module's
        ``module_port`` is reached on this machine (127.0.0.1), or None while there is none."""
        service = Service.TCP_LISTENER if protocol == "tcp" else Service.UDP_SERVICE

        def find(engine: Engine) -> int | None:
            for sock in engine.sockets.values():
                if sock.service is service and sock.local_port == module_port and sock.host_port:
                    return sock.host_port
            return None

        return self.with_engine(find)

    # ---- the module's clock ------------------------------------------------------------------

    @property
    def clock(self) -> dt.datetime:
        """The module's own clock (AT+CCLK), in UTC."""
        posix = self.with_engine(lambda engine: engine.module_time())
        return dt.datetime.fromtimestamp(posix, dt.UTC)

    def set_clock(self, when: dt.datetime, tz_quarters: int = 0) -> None:
        """Set the module's clock as AT+CCLK would (``when`` is UTC if naive)."""
        aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
        posix = float(calendar.timegm(aware.utctimetuple()))
        self.with_engine(lambda engine: engine.set_module_time(posix, tz_quarters))
