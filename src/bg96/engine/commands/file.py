"""FILE commands (BG96 FILE AT Commands Manual): the UFS store that holds certificates."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cmdline import Command, Kind
from ..codes import FileError, Result
from ..escape import GuardedEscape
from ..files import checksum, format_checksum, normalize_name
from ..outcome import ERROR, OK, Error, Outcome, cme
from ..params import Param, ParamError, arity
from ..registry import WRITE, command
from ..timers import Timer

if TYPE_CHECKING:
    from ..core import Engine

ACK_BLOCK = 1024
DEFAULT_UPLOAD_SIZE = 10240
DEFAULT_UPLOAD_TIMEOUT = 5


def _sizes(engine: Engine) -> dict[str, int]:
    """Every file and its size, those being written (AT+QHTTPREADFILE) as far as they are."""
    store = engine.store
    sizes = {name: store.size(name) or 0 for name in store.names()}
    sizes.update(engine.files_writing)
    return sizes


def _used(engine: Engine) -> int:
    return sum(_sizes(engine).values())


def _free(engine: Engine) -> int:
    return max(0, engine.config.file_capacity - _used(engine))


def _name(param: Param) -> str | Error:
    """A valid UFS name from a quoted parameter, or the FILE error for it."""
    raw = param.string(255)
    name = normalize_name(raw)
    if name is None:
        return cme(FileError.INVALID_NAME)
    return name


@command("+QFLDS", test="")
def qflds(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.EXEC:
        engine.info(f"+QFLDS: {_used(engine)},{len(_sizes(engine))}")
        return OK
    if cmd.kind is Kind.WRITE:
        arity(cmd.params, 1, 1)
        if cmd.params[0].string(8).upper() != "UFS":
            return cme(FileError.INVALID_PARAMETER)
        engine.info(f"+QFLDS: {_free(engine)},{engine.config.file_capacity}")
        return OK
    return ERROR


@command("+QFLST", test="")
def qflst(engine: Engine, cmd: Command) -> Outcome:
    pattern = "*"
    if cmd.kind is Kind.WRITE:
        arity(cmd.params, 1, 1)
        raw = cmd.params[0].string(255)
        pattern = raw[4:] if raw[:4].upper() == "UFS:" else raw
    elif cmd.kind is not Kind.EXEC:
        return ERROR
    for name, size in _sizes(engine).items():
        if fnmatch.fnmatchcase(name, pattern):
            engine.info(f'+QFLST: "{name}",{size}')
    return OK


@command("+QFDEL", test="+QFDEL: <filename>", forms=WRITE)
def qfdel(engine: Engine, cmd: Command) -> Outcome:
    arity(cmd.params, 1, 1)
    raw = cmd.params[0].string(255)
    if raw in ("*", "UFS:*"):
        for each in engine.store.names():
            engine.store.delete(each)
        return OK
    name = _name(cmd.params[0])
    if isinstance(name, Error):
        return name
    if not engine.store.delete(name):
        return cme(FileError.NOT_FOUND)
    engine.note(f"file {name} deleted")
    return OK


@dataclass
class _UploadPhase:
    """QFUPL's data phase: exactly ``size`` raw bytes, an idle timeout, optional acks.

    ``+++`` with its guard times, or a DTR drop with AT&D1/2, ends it early (FILE manual
    1.2, 2.4): what arrived so far is kept as the file, and the answer is ``OK``."""

    engine: Engine
    name: str
    size: int
    timeout: int
    ackmode: bool
    data: bytearray = field(default_factory=bytearray)
    timer: Timer | None = None
    fed: int = 0  # bytes taken from the host (the escape watch may hold a few back)
    escape: GuardedEscape | None = None

    def start(self) -> None:
        self.escape = GuardedEscape(self.engine, self._take, self.interrupt)
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.engine.call_later(float(self.timeout), self._timed_out)

    def feed(self, data: bytes) -> int:
        take = min(len(data), self.size - self.fed)
        self.fed += take
        assert self.escape is not None
        self._arm()
        self.escape.feed(data[:take])
        return take

    def _take(self, data: bytes) -> None:
        """File bytes (the escape watch has let them through)."""
        before = len(self.data)
        self.data += data
        if self.ackmode:
            acks = len(self.data) // ACK_BLOCK - before // ACK_BLOCK
            if len(self.data) == self.size and self.size % ACK_BLOCK == 0:
                acks -= 1  # the final block is answered by +QFUPL, not by an A
            self.engine.raw(b"A" * max(0, acks))
        if len(self.data) == self.size:
            self._done()

    def _store(self) -> bool:
        if self.timer is not None:
            self.timer.cancel()
        if self.escape is not None:
            self.escape.stop()
        engine = self.engine
        try:
            engine.store.write(self.name, bytes(self.data))
        except OSError as exc:
            engine.note(f"QFUPL {self.name}: could not store the file: {exc}")
            engine.finish(cme(FileError.WRITE_FAILED))
            return False
        engine.note(f"file {self.name} stored, {len(self.data)} bytes")
        return True

    def _done(self) -> None:
        if self._store():
            data = bytes(self.data)
            self.engine.info(f"+QFUPL: {len(data)},{format_checksum(checksum(data))}")
            self.engine.finish(OK)

    def interrupt(self) -> None:
        """``+++`` or DTR: the upload ends now, the bytes so far are the file."""
        self.engine.note(
            f"QFUPL {self.name}: data mode left after {len(self.data)} of {self.size} bytes; "
            "they are kept"
        )
        if self._store():
            self.engine.finish(OK)

    def _timed_out(self) -> None:
        if self.escape is not None:
            self.escape.stop()
        self.engine.note(
            f"QFUPL {self.name}: no byte for {self.timeout} s after {len(self.data)} of "
            f"{self.size} bytes; nothing stored"
        )
        self.engine.finish(cme(FileError.TIMEOUT))

    def abort(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.escape is not None:
            self.escape.stop()
        self.engine.note(
            f"QFUPL {self.name}: host left after {len(self.data)} bytes; nothing stored"
        )


@command("+QFUPL", forms=frozenset({Kind.TEST, Kind.WRITE}))
def qfupl(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.TEST:
        engine.info(f"+QFUPL: <filename>[,(1-{_free(engine)})[,(1-65535)[,(0,1)]]]")
        return OK
    params = cmd.params
    try:
        arity(params, 1, 4)
        checked = _name(params[0])
        size = DEFAULT_UPLOAD_SIZE
        if len(params) > 1 and not params[1].omitted:
            size = params[1].num(1, 2**31)
        timeout = params[2].num(1, 65535) if len(params) > 2 else DEFAULT_UPLOAD_TIMEOUT
        ackmode = params[3].num(0, 1) if len(params) > 3 else 0
    except ParamError as exc:
        engine.note(f"QFUPL: {exc}")
        return cme(FileError.INVALID_INPUT)
    if isinstance(checked, Error):
        return checked
    name = checked
    if engine.store.size(name) is not None:
        return cme(FileError.EXISTS)
    if size > engine.config.max_file_size:
        return cme(FileError.TOO_LARGE)
    if size > _free(engine):
        return cme(FileError.DRIVE_FULL)
    engine.intermediate(Result.CONNECT)
    phase = _UploadPhase(engine, name, size, timeout, bool(ackmode))
    phase.start()
    return engine.enter_data_phase(phase)


@command("+QFDWL", test="+QFDWL: <filename>", forms=WRITE)
def qfdwl(engine: Engine, cmd: Command) -> Outcome:
    arity(cmd.params, 1, 1)
    name = _name(cmd.params[0])
    if isinstance(name, Error):
        return name
    data = engine.store.read(name)
    if data is None:
        return cme(FileError.NOT_FOUND)
    engine.intermediate(Result.CONNECT)

    def done() -> None:
        engine.info(f"+QFDWL: {len(data)},{format_checksum(checksum(data))}")
        engine.finish(OK)

    return engine.stream(data, done)
