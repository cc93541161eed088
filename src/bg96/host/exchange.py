"""One command and its answer, as procedures: the line out, its response, prompt or CONNECT
back, the data phase served, failures turned into exceptions that name the command, the raw
answer and the module's code (``AT+QIGETERROR`` for the TCP/IP and SSL commands).

Everything else the driver does is built from ``command`` and ``exchange``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from .answers import cme_error, explained_by_qigeterror, parse_qigeterror, response_timeout
from .core import SETTLE, TRANSPARENT, Link, ModemCore
from .errors import CommandError, ModemError, ModemReset, ModemTimeout, UnexpectedResponse
from .parser import Connect, DataPhase, Prompt, Response
from .requests import CLAIM, RELEASE, Procedure, Sleep, Wait, Write

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in all) as a data phase goes on."""

BLOCK = 1024  # bytes of an upload written at a time (progress is reported per block)
DATA_TIME = 5.0  # s a module may take to answer once a data phase's bytes are through


def check_carrier(link: Link) -> Procedure[None]:
    """In transparent mode, before a command: did the connection end (NO CARRIER)?"""
    if link.access_mode != TRANSPARENT:
        return
    core = link.core
    yield Wait(0.0)
    link.pull_transparent()
    if link.tail and core.parser.transparent:
        yield Sleep(SETTLE)
        yield Wait(0.0)
        link.pull_transparent()


def exchange(
    core: ModemCore,
    line: str,
    timeout: float | None = None,
    *,
    check: bool = False,
    phase: DataPhase | None = None,
    download: int = 0,
    payload: bytes | None = None,
    progress: Progress | None = None,
    block: int | None = None,
    data_time: float = DATA_TIME,
) -> Procedure[Response]:
    """Send ``line`` and wait for its answer (with ``check``, a failed one raises).

    At a ``>`` prompt or a ``CONNECT``: with ``payload`` it is written (``block`` bytes at a
    time, or at once; ``progress`` told after each) and the answer after it is waited for;
    without, the answer is that prompt (final ``>`` or ``CONNECT``). A download (``phase``
    DOWNLOAD, ``download`` bytes, ``progress`` told as they come) is read to its final
    result. After a data phase the module has the time its bytes take at the baud rate plus
    ``data_time`` s to answer.
    """
    if core.parser.transparent:
        for link in list(core.links.values()):
            yield from check_carrier(link)
        if core.parser.transparent:
            raise ModemError(f"{line!r}: the port is in transparent mode (leave it first)")
    data = line.encode("latin-1")
    wait = response_timeout(line, core.min_timeout) if timeout is None else timeout
    shared = core.shared  # one thread alone has nothing to claim (the sync hot path)
    if shared:
        yield CLAIM
    core.begin(data, phase, download, payload or b"")
    boots = core.boots
    events = core.events
    yield Write(data + b"\r")
    deadline = core.clock() + wait
    served = False  # the data phase is over: another prompt or CONNECT makes no sense
    shown = 0  # bytes of a download reported to ``progress``
    while True:
        while not events:
            if core.boots != boots:
                raise ModemReset(f"{line!r}: the module restarted (RDY)")
            left = deadline - core.clock()
            if left <= 0:
                raise ModemTimeout(line, wait, core.parser.unparsed)
            yield Wait(left)
            if served and core.parser.block_received > shown:
                shown = core.parser.block_received
                if progress is not None:
                    progress(shown, download)
                if phase is DataPhase.HTTP_READ:
                    deadline = core.clock() + wait  # a response of any length: a gap ends it
        event = events.popleft()
        if isinstance(event, Response):
            if shared:
                yield RELEASE
            if check and not event.ok:
                yield from fail(core, line, event)
            return event
        if isinstance(event, Prompt):
            final = b">"
        elif isinstance(event, Connect):
            if phase is None:
                raise UnexpectedResponse(line, b"CONNECT", None, "no data phase expected")
            final = b"CONNECT"
        else:  # pragma: no cover - the core keeps URCs and data apart
            continue
        if served:
            raise UnexpectedResponse(line, final, None, "a second data phase")
        served = True
        if phase in (DataPhase.DOWNLOAD, DataPhase.HTTP_READ):
            size = download
        elif payload is None or phase is DataPhase.TRANSPARENT:
            return Response(data, (), final)
        else:
            size = len(payload)
            step = block or size
            for start in range(0, size, step):
                yield Write(payload[start : start + step])
                if progress is not None:
                    progress(min(size, start + step), size)
            progress = None
        wait = max(core.min_timeout, size * 10 / core.baudrate + data_time)
        deadline = core.clock() + wait


def command(
    core: ModemCore,
    line: str,
    timeout: float | None = None,
    *,
    check: bool = True,
    phase: DataPhase | None = None,
    download: int = 0,
    payload: bytes | None = None,
) -> Procedure[Response]:
    """Send ``line`` and return its answer; ``ERROR`` and ``+CME ERROR`` raise
    ``CommandError`` (with ``check``), carrying the code AT+QIGETERROR gives for TCP/IP and
    SSL commands.

    A ``> `` prompt or ``CONNECT`` ends the wait (the final is then ``>`` or ``CONNECT``)
    unless ``payload`` is given: then it is written there and the answer after it returned
    (``SEND OK``, ``+QFUPL: ...``). A ``phase`` says what a ``CONNECT`` starts; a download
    (``download`` bytes) is read to its end. ``timeout``: the manual's maximum response time
    for the command by default (at least ``min_timeout``)."""
    return exchange(
        core, line, timeout, check=check, phase=phase, download=download, payload=payload
    )


def fail(core: ModemCore, line: str, response: Response) -> Procedure[NoReturn]:
    """Raise the ``CommandError`` for a failed answer (its code from AT+QIGETERROR for a
    TCP/IP or SSL command, from ``+CME ERROR`` otherwise)."""
    cme = cme_error(line, response)
    if cme is not None:
        raise cme
    code: int | None = None
    text = ""
    if explained_by_qigeterror(line):
        code, text = yield from last_error(core)
    raise CommandError(line, response.raw(), code, text)


def last_error(core: ModemCore) -> Procedure[tuple[int, str]]:
    """AT+QIGETERROR: the code and text of the last TCP/IP or SSL command."""
    return parse_qigeterror((yield from command(core, "AT+QIGETERROR", check=False)))
