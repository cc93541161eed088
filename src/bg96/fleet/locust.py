"""Locust: each ``Bg96User`` is a virtual BG96 driven by a fleet scenario, and every step it
takes is a Locust request (type ``bg96``, the step's name; a failure under the module's code,
``+QSSLOPEN 566``, ``CME 407``), so Locust's statistics, web UI, CSV, ``--processes`` and
``--master``/``--worker`` carry a fleet across cores and machines.

Why a thread: Locust's workers are gevent processes (``import locust`` monkey-patches
sockets, threads and selectors), and the modules are asyncio. The modules of a worker
process run on one asyncio loop in a native thread of its own, built on the original epoll
selector. Measured here (500 QSSLSEND+QSSLRECV cycles through an attached ``AsyncModem``):
0.109 s against 0.107 s in a process without gevent, where the same loop on gevent's
patched selector takes 0.179 s (+65%). Driving asyncio from the hub instead would put every
module's timers and sockets through gevent's wrappers, and a device's whole life would
block the hub between steps. Across the thread, the loop hands finished steps to the hub
once per loop iteration (``run_callback_threadsafe``); one greenlet fires them as request
events, and a user's greenlet waits only for its device's end.

Nothing here is imported by ``bg96`` or ``bg96.fleet``: importing it imports Locust.
"""

from __future__ import annotations

import _socket
import asyncio
import concurrent.futures
import contextlib
import itertools
import selectors
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gevent
import gevent.event
import gevent.lock
from gevent import monkey
from locust import User, events, task
from locust.env import Environment
from locust.user.task import LOCUST_STATE_STOPPING

from ..network import profile
from .device import DeviceRun, DeviceSetup
from .results import DeviceResult, Step
from .scenario import Scenario, load_scenario

T = TypeVar("T")
STOP_POLL = 0.25  # s between looks at whether Locust is stopping a user gracefully
REQUEST_TYPE = "bg96"
DEVICES_PER_WORKER = 1_000_000  # device index = worker index * this + the worker's count


class StepFailed(Exception):
    """A step's failure as Locust shows it: the module's code, then what was raised."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def _selector() -> selectors.BaseSelector:
    """The original epoll selector when gevent patched ``selectors`` (the measured choice)."""
    if monkey.is_module_patched("selectors"):
        cls: type[selectors.BaseSelector] = monkey.get_original("selectors", "EpollSelector")
        return cls()
    return selectors.DefaultSelector()


class _Loop(asyncio.SelectorEventLoop):
    """The selector loop with a self-pipe of plain sockets: other threads (the hub) write to
    it to wake the loop, and gevent's sockets belong to the hub of the thread that made them
    (with gevent's, ``call_soon_threadsafe`` from the hub did not wake this loop)."""

    def _make_self_pipe(self) -> None:
        self._ssock, self._csock = _socket.socketpair()
        self._ssock.setblocking(False)
        self._csock.setblocking(False)
        self._internal_fds += 1  # type: ignore[attr-defined]
        self._add_reader(self._ssock.fileno(), self._read_from_self)  # type: ignore[attr-defined]


class _NativeExecutor(concurrent.futures.ThreadPoolExecutor):
    """Blocking calls of the loop (``getaddrinfo``) in native threads: the pool asyncio would
    make uses patched threads, greenlets of a hub that does not run in the loop's thread.
    (asyncio takes only a ``ThreadPoolExecutor``; its own threads are never started.)"""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self._start = monkey.get_original("_thread", "start_new_thread")

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)

        self._start(work, ())
        return future


class ModuleLoop:
    """This worker process's asyncio loop for modules, in a native thread, and the way
    results come back to the gevent hub."""

    _current: ClassVar[ModuleLoop | None] = None

    @classmethod
    def get(cls) -> ModuleLoop:
        if cls._current is None:
            cls._current = cls()
        return cls._current

    def __init__(self) -> None:
        self._hub = gevent.get_hub()
        self.loop = _Loop(_selector())
        self.loop.set_default_executor(_NativeExecutor())
        self._to_hub: deque[Callable[[], None]] = deque()
        self._wake_scheduled = False  # the loop thread's alone
        self._woken = gevent.event.Event()
        self._ended = gevent.event.Event()
        self._setups: dict[int, tuple[DeviceSetup, AbstractAsyncContextManager[Any]]] = {}
        self._entering = gevent.lock.Semaphore()  # the first user enters, the others wait
        self.stopped = False  # the test stopped (the loop thread's alone)
        self.devices: set[asyncio.Task[Any]] = set()
        self.device_stops: set[asyncio.Event] = set()  # each running device's own
        self._drainer = gevent.spawn(self._drain)
        monkey.get_original("_thread", "start_new_thread")(self._main, ())

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()
            self._hub.loop.run_callback_threadsafe(self._ended.set)

    # ---- the loop thread hands work to the hub -------------------------------------------

    def to_hub(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` in a greenlet soon; call on the loop thread. One wake per iteration."""
        self._to_hub.append(fn)
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self.loop.call_soon(self._wake)

    def _wake(self) -> None:
        self._wake_scheduled = False
        self._hub.loop.run_callback_threadsafe(self._woken.set)

    def _drain(self) -> None:
        while True:
            self._woken.wait()
            self._woken.clear()
            while self._to_hub:
                self._to_hub.popleft()()

    # ---- the hub asks the loop -----------------------------------------------------------

    def call(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        stopping: Callable[[], bool] | None = None,
        on_stopping: Callable[[], None] | None = None,
    ) -> T:
        """Run ``coro`` on the loop; this greenlet waits (the hub goes on). A ``GreenletExit``
        (Locust killing the user) cancels it and waits for its cleanup. ``stopping``, looked
        at while waiting: once true (Locust stopping the user gracefully, ``--stop-timeout``)
        ``on_stopping`` runs, once."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        done = gevent.event.Event()
        # the callback runs at once, in this thread, if the future is done already:
        # to_hub is the loop thread's alone, so it always goes through the loop
        future.add_done_callback(lambda _: self.loop.call_soon_threadsafe(self.to_hub, done.set))
        try:
            if stopping is None or on_stopping is None:
                done.wait()
            else:
                while not done.wait(STOP_POLL):
                    if stopping():
                        on_stopping()
                        done.wait()
        except BaseException:
            future.cancel()
            with gevent.Timeout(10, False):
                done.wait()
            raise
        return future.result()

    def setup(self, scenario: Scenario, options: Mapping[str, str]) -> DeviceSetup:
        """The scenario's shared resources, entered once per process."""
        with self._entering:
            known = self._setups.get(id(scenario))
            if known is None:
                known = self._setups[id(scenario)] = self._enter(scenario, options)
            return known[0]

    def _enter(
        self, scenario: Scenario, options: Mapping[str, str]
    ) -> tuple[DeviceSetup, AbstractAsyncContextManager[Any]]:

        async def enter() -> tuple[DeviceSetup, AbstractAsyncContextManager[Any]]:
            manager = scenario.resources(options)
            shared = await manager.__aenter__()
            network = options.get("network")
            setup = DeviceSetup(
                scenario=scenario,
                shared=shared,
                options=options,
                files=scenario.files,
                seed=int(options.get("seed", "0")),
                network=profile(network) if network else None,
                device_timeout=float(options["device_timeout"])
                if options.get("device_timeout")
                else None,
            )
            return setup, manager

        return self.call(enter())

    def stop_devices(self) -> None:
        """The test stops: scenarios see ``ctx.stopping``."""
        self.loop.call_soon_threadsafe(self._stop_all)

    def _stop_all(self) -> None:
        self.stopped = True
        for stop in self.device_stops:
            stop.set()

    def restart_devices(self) -> None:
        self.loop.call_soon_threadsafe(self._restart)

    def _restart(self) -> None:
        self.stopped = False

    def stop_device(self, stop: asyncio.Event) -> None:
        """One user stops gracefully: its scenario sees ``ctx.stopping``."""
        self.loop.call_soon_threadsafe(stop.set)

    def close(self) -> None:
        """Cancel the devices, leave the resources, end the thread (the process quits)."""

        async def shut() -> None:
            for device in list(self.devices):
                device.cancel()
            await asyncio.gather(*self.devices, return_exceptions=True)
            for _, manager in self._setups.values():
                with contextlib.suppress(Exception):
                    await manager.__aexit__(None, None, None)
            self._setups.clear()

        with contextlib.suppress(Exception):
            self.call(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        with gevent.Timeout(10, False):
            self._ended.wait()
        self._drainer.kill(block=False)
        ModuleLoop._current = None


_next_device = itertools.count()


class Bg96User(User):
    """One virtual BG96 per user: each run of its task is one device's life (a new module),
    its steps Locust requests, its end a ``device`` request (failed unless ``ok``).
    Subclasses set ``scenario`` (a ``Scenario`` or the path of a scenario file)."""

    abstract = True
    scenario: ClassVar[Scenario | str | Path | None] = None

    @classmethod
    def loaded_scenario(cls) -> Scenario:
        scenario = cls.scenario
        if scenario is None:
            raise RuntimeError(f"{cls.__name__}.scenario is not set")
        if not isinstance(scenario, Scenario):
            scenario = cls.scenario = load_scenario(scenario)
        return scenario

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        runner = environment.runner
        self.worker_index = int(getattr(runner, "worker_index", 0) or 0)

    @task
    def device(self) -> None:
        modules = ModuleLoop.get()
        setup = modules.setup(self.loaded_scenario(), options_of(self.environment))
        index = self.worker_index * DEVICES_PER_WORKER + next(_next_device)
        record = partial(_record_on_loop, modules, self.environment)
        stop = asyncio.Event()  # bound to the module loop when first waited on, there
        result = modules.call(
            _life(modules, setup, index, record, stop),
            stopping=lambda: self._state == LOCUST_STATE_STOPPING,
            on_stopping=lambda: modules.stop_device(stop),
        )
        _fire_device(self.environment, result)


async def _life(
    modules: ModuleLoop,
    setup: DeviceSetup,
    index: int,
    record: Callable[[Step], None],
    stop: asyncio.Event,
) -> DeviceResult:
    """One device's life on the loop; ``stop`` is set when the test or the user stops."""
    if modules.stopped:
        stop.set()
    device = DeviceRun(setup, index, record)
    current = asyncio.current_task()
    assert current is not None
    modules.devices.add(current)
    modules.device_stops.add(stop)
    try:
        return await device.run(stop)
    finally:
        modules.devices.discard(current)
        modules.device_stops.discard(stop)


def _record_on_loop(modules: ModuleLoop, environment: Environment, step: Step) -> None:
    modules.to_hub(partial(_fire_step, environment, step))


def _fire_step(environment: Environment, step: Step) -> None:
    environment.events.request.fire(  # type: ignore[no-untyped-call]
        request_type=REQUEST_TYPE,
        name=step.name,
        response_time=step.seconds * 1000,
        response_length=0,
        exception=StepFailed(step.failure, step.error) if step.failure is not None else None,
        context={"device": step.device},
    )


def _fire_device(environment: Environment, result: DeviceResult) -> None:
    failed = None
    if result.status != "ok":
        where = f" in {result.step}" if result.step else ""
        failed = StepFailed(f"{result.status}: {result.failure or ''}{where}", result.error)
    environment.events.request.fire(  # type: ignore[no-untyped-call]
        request_type=REQUEST_TYPE,
        name="device",
        response_time=result.seconds * 1000,
        response_length=result.steps,
        exception=failed,
        context={"device": result.index},
    )


# ---- options and life cycle ------------------------------------------------------------------


def add_options(parser: Any) -> None:
    """The bg96 options of ``locust`` (each also an environment variable)."""
    group = parser.add_argument_group("bg96", "virtual BG96 devices (bg96.fleet.locust)")
    group.add_argument(
        "--bg96-target",
        env_var="BG96_FLEET_TARGET",
        default="",
        help="HOST:PORT of the TLS server the devices talk to (default: a loopback echo "
        "server each worker starts)",
    )
    group.add_argument(
        "--bg96-ca", env_var="BG96_FLEET_CA", default="", help="its CA certificate (PEM)"
    )
    group.add_argument(
        "--bg96-options",
        env_var="BG96_FLEET_OPTIONS",
        default="",
        help="scenario options, KEY=VALUE,KEY=VALUE (rounds, interval, size, fault_every...)",
    )
    group.add_argument(
        "--bg96-network", env_var="BG96_FLEET_NETWORK", default="", help="ideal, lte-m, nb-iot"
    )
    group.add_argument("--bg96-seed", env_var="BG96_FLEET_SEED", default="0", help="fleet seed")


def options_of(environment: Environment) -> dict[str, str]:
    """The scenario's options from the command line (the master passes them to workers)."""
    parsed = environment.parsed_options
    options: dict[str, str] = {}
    if parsed is None:
        return options
    text = str(getattr(parsed, "bg96_options", "") or "")
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        options[key] = value
    for name in ("target", "ca", "network", "seed"):
        value = str(getattr(parsed, f"bg96_{name}", "") or "")
        if value:
            options[name] = value
    return options


def install() -> None:
    """Hook the bg96 options and the loop's life cycle into Locust's events (the locustfile
    calls it once)."""
    events.init_command_line_parser.add_listener(add_options)  # type: ignore[no-untyped-call]

    def _started(environment: Environment, **_: Any) -> None:
        if ModuleLoop._current is not None:
            ModuleLoop._current.restart_devices()

    def _stopped(environment: Environment, **_: Any) -> None:
        if ModuleLoop._current is not None:
            ModuleLoop._current.stop_devices()

    def _quitting(environment: Environment, **_: Any) -> None:
        if ModuleLoop._current is not None:
            ModuleLoop._current.close()

    for hook, listener in (
        (events.test_start, _started),
        (events.test_stop, _stopped),
        (events.quitting, _quitting),
    ):
        hook.add_listener(listener)  # type: ignore[no-untyped-call]
