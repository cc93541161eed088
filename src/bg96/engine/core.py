"""The virtual BG96: a sans-IO AT state machine.

Bytes from the host go in with ``receive_data``; bytes for the host come out of
``data_to_send``; network intents come out of ``intents`` and network events go in with
``network_event``; time goes in with ``advance(now)`` and ``next_deadline()`` says when it
next matters. Nothing here reads a clock, opens a socket or touches a file directly.
"""

from __future__ import annotations

import calendar
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from . import commands as _commands  # also fills the command table
from . import hints
from .cmdline import Command, Kind, LineError, split_commands
from .codes import CME_TEXT, QiError, Result
from .events import (
    Incoming,
    Intent,
    Listening,
    NetEvent,
    Note,
    NtpAnswer,
    Pinged,
    Received,
    Resolve,
    Resolved,
    Send,
    SetReading,
    SocketEvent,
)
from .faults import Fault, ModuleFaults, Trigger
from .files import FileStore, MemoryStore
from .outcome import ERROR, OK, Error, Final, Outcome, Pending, Transparent
from .params import ParamError
from .registry import COMMANDS
from .state import (
    GPS_EPOCH,
    AccessMode,
    Mode,
    ModuleConfig,
    PdpContext,
    QiConfig,
    Settings,
    Socket,
    SocketState,
    SslContext,
)
from .timers import Timer, Timers
from .transparent import TransparentLink
from .urcs import PushBlock, UrcQueue

if TYPE_CHECKING:
    from .commands.nettools import NtpRun, PingRun

LF = 10
LF_WAIT = 0.02  # s a prompt waits for the LF of a CR LF host's command line
OUT_HIGH = 16384
"""Bytes waiting for the host (the UART's transmit side) above which the module moves no more
socket data towards it and takes no more commands: a host that does not read holds the
module up, and the data waits in the socket buffers, which stop the network."""


_TAKES_INPUT = (Mode.COMMAND, Mode.TRANSPARENT)


class DataPhase(Protocol):
    """A phase in which a command owns the host's bytes (a ``>`` prompt, QFUPL upload)."""

    def feed(self, data: bytes) -> int:
        """Take bytes from ``data``; return how many were consumed."""
        ...

    def abort(self) -> None:
        """The host went away or the module restarts: end without an answer."""
        ...


class OutputSource(Protocol):
    """Bytes for the host that arrive over time (an HTTP response being read): ``fill``
    writes up to ``room`` bytes with ``Engine.raw`` as the UART takes them, and ends the
    command with ``Engine.finish`` once its last byte is out."""

    def fill(self, room: int) -> None: ...


@runtime_checkable
class Interruptible(Protocol):
    """A data phase that DTR (AT&D1/2) can end, as data mode (FILE uploads)."""

    def interrupt(self) -> None: ...


class Engine:
    """One virtual BG96 module."""

    transparent: TransparentLink | None  # the port's connection in transparent mode
    last_transparent: int | None  # the connection ATO returns to

    def __init__(
        self,
        *,
        store: FileStore | None = None,
        config: ModuleConfig | None = None,
        now: float = 0.0,
    ) -> None:
        self.config = config or ModuleConfig()
        self.store: FileStore = store if store is not None else MemoryStore()
        self.now = now
        self._out = bytearray()
        self._intents: list[Intent] = []
        self._urcs = UrcQueue()
        self.uart_overruns = 0  # host bytes dropped: the UART input buffer was full (AT+IFC)
        self.uart_paced = False  # the port runs at the AT+IPR rate (the runner's --pace)
        self._timers = Timers()
        self._inbuf = bytearray()
        self._line = bytearray()
        self._line_overflow = False
        self._last_line = b""
        self._lf_may_follow_cr = False  # a LF now would end the last command line (CR LF)
        self._host_crlf = False  # the host ended its last command line with CR LF
        self._lf_timer: Timer | None = None
        self._queue: deque[Command] = deque()
        self._current: Command | None = None
        self._block_open = False
        self._phase: DataPhase | None = None
        self._stream: tuple[memoryview, Callable[[], None]] | None = None  # a QFDWL file
        self._source: OutputSource | None = None  # an HTTP response being read
        self._processing = False
        self._after_line: list[Callable[[], None]] = []
        self.dtr = True
        self.mode = Mode.BOOTING
        self.profile = Settings()
        self.ipr = 115200
        self.saved_ipr = 115200
        self.ctzr = 0  # AT+CTZR and AT+CTZU save themselves (NV): a restart keeps them
        self.ctzu = 1
        self.qcfg: dict[str, tuple[str, ...]] = {}  # AT+QCFG values set (NV: kept on restart)
        self.urcport = self.config.at_port
        self._conn_seq = 0
        self.attach_seq = 0  # which attach a pending registration timer belongs to
        self.faults = ModuleFaults(self)  # injected faults outlive restarts
        self.hints = hints.Hints()  # trace hints at host-driver mistakes (engine/hints.py)
        self._urcs_held = 0  # URCs queued before the running command went pending
        self._reset_volatile()

    # ---- public API ------------------------------------------------------------------

    def power_on(self) -> None:
        """Boot: the boot URCs, then commands are accepted."""
        self._reset_volatile()
        self.mode = Mode.COMMAND
        # the order a registered BG96 was logged printing (FIELD_NOTES)
        self._urc_now("RDY", "+CFUN: 1")
        self.call_later(
            self.config.app_ready_time,
            lambda: self._urc_now("APP RDY", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"),
        )
        _commands.general.start_attach(self)
        self.faults.powered_on()

    def receive_data(self, data: bytes) -> None:
        """Bytes from the host.

        The host should send no more than ``input_room`` allows: the runner stops reading
        the port when it is 0 (flow control). What comes anyway is kept, unless the port is a
        paced UART without flow control (``AT+IFC`` <dte_by_dce> 0), where it is dropped and
        counted (``uart_overruns``), as a real module's UART overruns.
        """
        if self.mode is Mode.BOOTING:
            return
        if self.uart_paced and self.ifc[1] == 0:
            room = self.input_room
            if len(data) > room:
                lost = len(data) - room
                self.uart_overruns += lost
                self.note(
                    f"UART overrun: {lost} bytes from the host dropped, the input buffer "
                    f"({self.config.uart_buffer} bytes) was full and AT+IFC has no flow control"
                )
                data = data[:room]
                if not data:
                    return
        if self.mode is Mode.TRANSPARENT and self.transparent is not None and not self._inbuf:
            self.transparent.feed(data)  # the data path: no copy through the line buffer
            self._after_activity()
            return
        self._inbuf += data
        self._process()

    @property
    def input_held(self) -> bool:
        """Host bytes wait in the UART input buffer (``input_room`` is below the whole)."""
        return bool(self._inbuf) or (self.transparent is not None and self.transparent.waiting > 0)

    @property
    def input_room(self) -> int:
        """Bytes of host input the module can take now (its UART input buffer's free space)."""
        held = len(self._inbuf)
        if self.transparent is not None:
            held += self.transparent.waiting
        return max(0, self.config.uart_buffer - held)

    @property
    def input_pending(self) -> bool:
        """Host bytes received but not processed yet (``input_waiting`` without the copy)."""
        return bool(self._inbuf)

    def input_waiting(self) -> bytes:
        """Host bytes received but not processed yet (after the command line now running)."""
        return bytes(self._inbuf)

    def data_to_send(self, limit: int | None = None) -> bytes:
        """Bytes for the host: at most ``limit`` (what the port can take now; data waiting for
        the UART is moved up to that much), or with no limit everything there is, the answers
        of command lines held while the host was not reading included.

        A prompt (``>``, ``CONNECT``) after a line a CR LF host ended with a bare CR so far
        waits for that LF (up to ``LF_WAIT`` s): on a real module the LF, one byte time
        behind the CR, is always in before the prompt, so it is never taken for data.
        """
        out = self._take(limit)
        if limit is not None:
            if out and self._inbuf and self._may_resume():
                self._process()  # commands held while the host was not reading go on
            return out
        parts = [out]
        while self._may_resume():
            held = len(self._inbuf)
            self._process()
            more = self._take(None)
            parts.append(more)
            if not more and len(self._inbuf) == held:
                break
        return b"".join(parts)

    def _may_resume(self) -> bool:
        return bool(self._inbuf) and not self._processing and len(self._out) < OUT_HIGH

    def _take(self, limit: int | None) -> bytes:
        """Up to ``limit`` bytes of output (all with None), filled from what waits first."""
        if (
            not self._out
            and self._stream is None
            and self._source is None
            and not self._urcs.items
            and self.mode is not Mode.TRANSPARENT
        ):
            return b""  # the common case: nothing there
        if self.mode is Mode.DATA and self._lf_may_follow_cr and self._host_crlf:
            if self._lf_timer is None or self._lf_timer.cancelled:
                self._lf_timer = self.call_later(LF_WAIT, self._lf_wait_over)
            return b""
        if self.mode is Mode.TRANSPARENT and not self._out:
            out = self._take_transparent(limit)
            if out:
                return out
        if (
            self._stream is not None
            or self._source is not None
            or self.mode is Mode.TRANSPARENT
            or self._urcs.items
        ):
            self._fill(float("inf") if limit is None else limit)
        if limit is None or len(self._out) <= limit:
            out = bytes(self._out)
            self._out.clear()
        else:
            out = bytes(self._out[:limit])
            del self._out[:limit]
        if out and self.mode is Mode.DATA:
            # the host may now have seen the prompt: a LF from here on is data
            self._lf_may_follow_cr = False
        return out

    def _take_transparent(self, limit: int | None) -> bytes:
        """The data path of transparent mode: server bytes straight from the socket's buffer
        to the host, whole chunks as they came (``_fill`` handles the carrier's loss)."""
        link = self.transparent
        if link is None or link.sock.carrier_lost:
            return b""
        sock = link.sock
        recv = sock.recv
        out = recv.take(len(recv) if limit is None else limit)
        if out:
            self._pushed(sock, len(out))
        return out

    @property
    def urc_drops(self) -> int:
        """URCs dropped because the queue was full (a host that did not read for long)."""
        return self._urcs.dropped

    @property
    def urcs_waiting(self) -> int:
        """URCs queued and not yet written for the host."""
        return len(self._urcs)

    @property
    def output_waiting(self) -> int:
        """Bytes ready for the host now (socket data not yet moved to the UART aside)."""
        return len(self._out)

    def _fill(self, target: float) -> None:
        """Move data waiting for the UART (a file being downloaded, transparent data,
        push-mode URCs) into the output until it holds ``target`` bytes."""
        if self._source is not None:
            room = target - len(self._out)
            if room > 0:
                self._source.fill(int(min(room, 1 << 30)))
            return
        if self._stream is not None:
            data, then = self._stream
            room = target - len(self._out)
            if room > 0:
                n = len(data) if room >= len(data) else int(room)
                self._out += data[:n]
                data = data[n:]
                self._stream = (data, then)
                if not data:
                    self._stream = None
                    then()
            return
        link = self.transparent
        if self.mode is Mode.TRANSPARENT and link is not None:
            sock = link.sock
            room = target - len(self._out)
            if sock.recv and room > 0:
                n = len(sock.recv) if room >= len(sock.recv) else int(room)
                self._out += sock.recv.take(n)
                self._pushed(sock, n)
            if sock.carrier_lost and not sock.recv:
                self.last_transparent = None
                self.leave_transparent("NO CARRIER")
            return
        if self._urcs.items and self.mode is Mode.COMMAND and self._current is None:
            self._urcs.flush(self._out, self.settings.verbose, target, self._pushed)

    def _pushed(self, sock: Socket, n: int) -> None:
        """``n`` bytes of ``sock``'s buffer went to the host (push or transparent mode)."""
        _commands.sockets.consumed(sock, n)
        if not sock.reading:
            _commands.sockets.update_reading(self, sock)

    def _lf_wait_over(self) -> None:
        self._lf_may_follow_cr = False  # no LF came: the prompt goes out, bytes are data

    def intents(self) -> list[Intent]:
        """Network intents produced so far (the list is emptied)."""
        out = self._intents
        self._intents = []
        return out

    def network_event(self, event: NetEvent) -> None:
        """Something happened on a connection."""
        if isinstance(event, Received):  # the data path first
            if self.faults.watches(event.client_id, "received"):
                self.faults.receive(event, self._socket_event)
            else:
                self._socket_event(event)
        elif isinstance(event, Resolved):
            then = self.lookups.pop(event.request, None)
            if then is not None:
                then(event)
        elif isinstance(event, (Pinged, NtpAnswer)):
            _commands.nettools.on_event(self, event)
        elif isinstance(event, (Listening, Incoming)):
            _commands.tcpip.incoming_event(self, event)
        else:
            self._socket_event(event)
        self._after_activity()

    def _socket_event(self, event: SocketEvent) -> None:
        if _commands.http.owns(event):
            _commands.http.on_event(self, event)  # the HTTP client's connection
        elif _commands.mqtt.owns(event):
            _commands.mqtt.on_event(self, event)  # an MQTT client's link
        else:
            _commands.sockets.on_event(self, event)

    def inject_fault(self, fault: Fault, trigger: Trigger | None = None) -> None:
        """Inject ``fault`` now, or arm it for ``trigger`` (see ``faults.ModuleFaults``).

        Now: ``FaultError`` when there is nothing for it to act on, and nothing changes.
        """
        self.faults.inject(fault, trigger)
        self._after_activity()

    def load_faults(self, entries: list[tuple[Trigger | None, Fault]]) -> None:
        """A fault script: armed at the first power-on (now if it has been)."""
        self.faults.load(entries)
        self._after_activity()

    def advance(self, now: float) -> None:
        """Time is now ``now`` (seconds, monotonic): run what is due."""
        # each timer runs at its own deadline, so the timers it sets count from there
        while (timer := self._timers.pop_due(now)) is not None:
            self.now = max(self.now, timer.when)
            timer.callback()
        self.now = max(self.now, now)
        self._after_activity()

    def next_deadline(self) -> float | None:
        """When ``advance`` next has something to do."""
        return self._timers.next_deadline()

    def host_disconnected(self) -> None:
        """The host closed the port: a prompt or upload in progress ends, unanswered.

        In transparent mode this is a DTR drop (a host closing a serial port drops DTR).
        """
        if self.mode is Mode.TRANSPARENT:
            self.set_dtr(False)
            self.dtr = True
        if self.mode is Mode.DATA and self._phase is not None:
            phase = self._phase
            self._phase = None
            phase.abort()
            self._queue.clear()
            self._current = None
            self.mode = Mode.COMMAND
        self._source = None
        if self._stream is not None:
            self._stream = None  # a download under way ends: nobody is there for it
            self.note("host left during a download: the rest is not sent")
            self._queue.clear()
            self._current = None
            self.mode = Mode.COMMAND
        self._line.clear()
        self._inbuf.clear()
        self._line_overflow = False

    def set_dtr(self, on: bool) -> None:
        """The host's DTR line; ON to OFF in data mode acts as AT&D says."""
        was, self.dtr = self.dtr, on
        if on or not was:
            return
        phase = self._phase
        if self.mode is Mode.DATA and isinstance(phase, Interruptible) and self.settings.amp_d:
            self.note(f"DTR dropped with AT&D{self.settings.amp_d}: data mode ends")
            phase.interrupt()
            self._after_activity()
            return
        if self.mode is not Mode.TRANSPARENT or self.transparent is None:
            return
        if self.settings.amp_d == 1:
            self.note("DTR dropped with AT&D1: command mode, the connection stays open")
            self.leave_transparent("OK")
        elif self.settings.amp_d == 2:
            sock = self.transparent.sock
            self.note(f"DTR dropped with AT&D2: connection {sock.client_id} closed")
            self.leave_transparent("NO CARRIER")
            _commands.sockets.release(self, sock, abort=False)
        self._after_activity()

    @property
    def dcd(self) -> bool:
        """The DCD line: always on with AT&C0; with AT&C1 while a transparent connection is up."""
        if self.settings.amp_c == 0:
            return True
        if self.transparent is not None:
            return True
        sock = (
            self.sockets.get(self.last_transparent) if self.last_transparent is not None else None
        )
        return sock is not None and sock.state is SocketState.CONNECTED

    # ---- services for command handlers ----------------------------------------------

    def info(self, line: str | bytes) -> None:
        """An information line of the current command's response."""
        data = line.encode("latin-1") if isinstance(line, str) else line
        if self.settings.verbose:
            if not self._block_open:
                self._out += b"\r\n"
                self._block_open = True
            self._out += data + b"\r\n"
        else:
            self._out += data + b"\r\n"

    def raw(self, data: bytes) -> None:
        """Bytes straight to the host (QFUPL's acks)."""
        self._out += data
        self._block_open = False

    def stream(self, data: bytes, then: Callable[[], None]) -> Pending:
        """``data`` (a QFDWL file) goes to the host as the UART takes it, not all at once;
        ``then`` finishes the command once the last byte is out."""
        self._block_open = False
        self._stream = (memoryview(data), then)
        return self.wait()

    def prompt(self) -> None:
        """The ``>`` prompt of QSSLSEND: CR LF, ``>``, a space, no line end."""
        self._out += b"\r\n> "

    def intermediate(self, result: Result) -> None:
        """An intermediate result code such as ``CONNECT`` before a data phase."""
        self._write_result(result)

    def echo_data(self, data: bytes) -> None:
        """Echo bytes of a data phase (ATE1 echoes what the host types at the prompt)."""
        if self.settings.echo:
            self._out += data

    def urc(self, text: str | bytes) -> None:
        """Queue an unsolicited result code: it goes out between responses."""
        data = text.encode("latin-1") if isinstance(text, str) else text
        dropped = self._urcs.add(data)
        if dropped is not None:
            self.note(f"URC queue full: {dropped[:40]!r} dropped (the host is not reading)")

    def push(self, block: PushBlock) -> None:
        """Bytes just added to a socket's buffer go to the host as push-mode URCs, in order
        with the other URCs, once the UART has room."""
        self._urcs.add_push(block)

    def unpush(self, sock: Socket) -> None:
        """``sock`` left push mode: what was not pushed yet stays in its buffer."""
        self._urcs.remove_push(sock)

    def emit(self, intent: Intent) -> None:
        self._intents.append(intent)
        if isinstance(intent, Send) and self.faults.watches(intent.client_id, "sent"):
            self.faults.sent(intent)

    def set_reading(self, client_id: int, conn_seq: int, reading: bool) -> None:
        """Pause or resume reading a connection. A change that undoes one the runner has not
        carried out yet takes it back instead: a buffer that filled and drained within one
        step (a socket read taken by the host at once) costs the connection nothing."""
        intents = self._intents
        for i in range(len(intents) - 1, -1, -1):
            intent = intents[i]
            if isinstance(intent, SetReading) and (intent.client_id, intent.conn_seq) == (
                client_id,
                conn_seq,
            ):
                if intent.reading != reading:
                    del intents[i]
                    return
                break
        intents.append(SetReading(client_id, conn_seq, reading))

    def note(self, text: str) -> None:
        """A line for the trace."""
        self._intents.append(Note(text))

    def call_later(
        self, delay: float, callback: Callable[[], None], *, persistent: bool = False
    ) -> Timer:
        """``callback`` in ``delay`` s; ``persistent`` timers survive a restart (faults)."""
        return self._timers.call_at(self.now + delay, callback, persistent=persistent)

    def resolve(self, host: str, then: Callable[[Resolved], None]) -> int:
        """Look ``host`` up; ``then`` gets the answer. Returns the request's number."""
        request = self.next_conn_seq()
        self.lookups[request] = then
        self.emit(Resolve(request, host))
        return request

    def next_conn_seq(self) -> int:
        self._conn_seq += 1
        return self._conn_seq

    def after_response(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current command line has been answered (a restart)."""
        self._after_line.append(callback)

    def stream_from(self, source: OutputSource) -> None:
        """The current command's output comes from ``source`` until it finishes."""
        self._block_open = False
        self._source = source

    def enter_data_phase(self, phase: DataPhase) -> Pending:
        """Give the host's bytes to ``phase`` until it calls ``finish``."""
        self._phase = phase
        self.mode = Mode.DATA
        return Pending()

    def wait(self) -> Pending:
        """The command finishes later, through ``finish``."""
        self.mode = Mode.EXECUTING
        return Pending()

    def finish(self, outcome: Outcome) -> None:
        """A pending command (or data phase) ends with ``outcome``."""
        self._phase = None
        self._source = None
        self.mode = Mode.COMMAND
        self._complete(outcome)
        if not self._processing:
            self._process()

    def _enter_transparent(self, sock: Socket) -> None:
        self._write_result(Result.CONNECT)
        sock.access_mode = AccessMode.TRANSPARENT
        self.unpush(sock)  # what arrived while the port was in command mode comes first
        self.transparent = TransparentLink(self, sock)
        self.last_transparent = sock.client_id
        self.mode = Mode.TRANSPARENT
        sock.urc_armed = True
        self._fill(OUT_HIGH)

    def carrier_lost(self, sock: Socket) -> None:
        """The transparent connection ``sock`` ended: ``NO CARRIER`` once the data it
        brought has gone to the host."""
        sock.carrier_lost = True
        self.last_transparent = None
        self._fill(OUT_HIGH)

    def leave_transparent(self, result: str) -> None:
        """Back to command mode with ``OK`` (+++, DTR) or ``NO CARRIER`` (connection lost)."""
        link = self.transparent
        if link is None:
            return
        sock = link.sock
        if result == "OK":
            link.flush(force=True)
            sock.access_mode = AccessMode.BUFFER
        dropped = link.stop()
        if dropped:
            self.note(f"{dropped} bytes from the host were not sent: the connection is gone")
        self.transparent = None
        self.mode = Mode.COMMAND
        self._write_result(Result.OK if result == "OK" else Result.NO_CARRIER)
        if result == "OK" and sock.recv and sock.urc_armed:
            # what the host had not taken yet stays, in buffer mode
            sock.urc_armed = False
            self.urc(_commands.sockets.recv_urc(sock))
        self._flush_urcs()

    def module_time(self) -> float:
        """The module clock (AT+CCLK) as a POSIX timestamp (UTC)."""
        return self.clock_base + (self.now - self.clock_set_at)

    def set_module_time(self, posix: float, tz_quarters: int) -> None:
        self.clock_base = posix
        self.clock_set_at = self.now
        self.clock_tz = tz_quarters

    @property
    def registered(self) -> bool:
        """Registered on the (virtual) network: full functionality and a network to find."""
        return self.cfun == 1 and self.attached and not self.faults.searching

    def reboot(self) -> None:
        """A restart (AT+CFUN=1,1 after its OK, or a fault at any moment): connections drop,
        a command or data phase under way ends unanswered, volatile state is lost, boot again."""
        if self.transparent is not None:
            self.transparent.stop()
            self.transparent = None
        if self._phase is not None:
            self._phase = None  # its timers go with the others below
            self.note("restart: the data phase under way ends unanswered")
        self._stream = None
        self._source = None
        _commands.sockets.drop_all(self)
        _commands.http.drop(self)
        _commands.mqtt.drop_all(self)
        self._timers.clear()
        self._urcs.clear()
        self._queue.clear()
        self._current = None
        self._after_line.clear()
        self._block_open = False
        self._lf_may_follow_cr = False
        self._line.clear()
        self._line_overflow = False
        self._inbuf.clear()
        self.dns_requests.clear()
        self.lookups.clear()
        self.ipr = self.saved_ipr  # AT+IPR without AT&W does not survive a restart
        self.mode = Mode.BOOTING
        self._timers.call_at(self.now + self.config.reboot_time, self.power_on)

    # ---- state --------------------------------------------------------------------

    def _reset_volatile(self) -> None:
        self.settings = self.profile.copy()
        self.cmee = 1
        self.cfun = 1
        self.last_error = 0
        self.pdp: dict[int, PdpContext] = {cid: PdpContext() for cid in range(1, 17)}
        self.ssl_ctx: dict[int, SslContext] = {i: SslContext() for i in range(6)}
        self.sockets: dict[int, Socket] = {}
        self.mqtt = _commands.mqtt.Clients()  # the six MQTT clients (AT+QMTCFG, links)
        self.closing: dict[int, Timer] = {}  # conn_seq -> QSSLCLOSE deadline
        self.dns_requests: set[int] = set()  # AT+QIDNSGIP lookups under way
        self.lookups: dict[int, Callable[[Resolved], None]] = {}  # request -> what follows
        self.ping: PingRun | None = None  # AT+QPING under way
        self.ntp: NtpRun | None = None  # AT+QNTP under way
        self.http = _commands.http.HttpState()  # AT+QHTTPCFG settings, URL and request
        # files being written as data arrives (AT+QHTTPREADFILE): name -> bytes so far; the
        # FILE commands list them with that size, as the file grows on a module's flash
        self.files_writing: dict[str, int] = {}
        self.qicfg = QiConfig()
        self.ifc = (0, 0)  # AT+IFC <dce_by_dte>,<dte_by_dce>: 0 none, 2 RTS/CTS (not in AT&W)
        self.qisde = True  # AT+QISDE: QISEND data typed is echoed (with ATE1)
        self.transparent = None
        self.last_transparent = None
        self.clock_base = GPS_EPOCH
        self.clock_set_at = self.now
        self.clock_tz = 0
        self.cgatt = 1
        self.attached = True  # registration done (start_attach makes it take attach_time)

    # ---- input processing ------------------------------------------------------------

    def _process(self) -> None:
        """Consume buffered host bytes as far as the current mode allows."""
        if self._processing:
            return
        self._processing = True
        try:
            while self._inbuf:
                if self.mode is Mode.COMMAND:
                    if len(self._out) >= OUT_HIGH:
                        break  # the host is not reading: the next command waits
                    self._command_bytes()
                elif self.mode is Mode.DATA and self._phase is not None:
                    if not self._data_bytes():
                        break
                elif self.mode is Mode.TRANSPARENT and self.transparent is not None:
                    data = bytes(self._inbuf)
                    self._inbuf.clear()
                    self.transparent.feed(data)
                else:
                    break
        finally:
            self._processing = False
        if self.faults.due:
            self.faults.settle()
        self._flush_urcs()

    def _data_bytes(self) -> bool:
        """Hand buffered bytes to the data phase; False when it took none."""
        assert self._phase is not None
        buf = self._inbuf
        if self._lf_may_follow_cr:
            self._lf_may_follow_cr = False
            if self._lf_timer is not None:
                self._lf_timer.cancel()  # the prompt may go out now
            if buf[0] == LF:
                del buf[0]
                return True
            self._host_crlf = False  # it sent data right behind a bare CR
        taken = self._phase.feed(bytes(buf))
        del buf[:taken]
        return taken > 0

    def _command_bytes(self) -> None:
        """Assemble a command line from the buffered bytes, echoing as the module does."""
        buf = self._inbuf
        s3 = self.settings.s3
        s5 = self.settings.s5
        if self._whole_line(buf, s3, s5):
            return
        i = 0
        n = len(buf)
        while i < n:
            b = buf[i]
            i += 1
            if b == LF and s3 != LF:
                if self._lf_may_follow_cr:
                    self._host_crlf = True
                    self._lf_may_follow_cr = False
                continue
            if b == s3:
                if self.settings.echo:
                    self._out.append(b)
                line = bytes(self._line)
                overflow = self._line_overflow
                self._line.clear()
                self._line_overflow = False
                self._lf_may_follow_cr = True
                del buf[:i]
                self._run_line(line, overflow)
                return
            if self._lf_may_follow_cr:
                self._host_crlf = False  # a bare CR ended the last line
            self._lf_may_follow_cr = False
            if self.settings.echo:
                self._out.append(b)
            if b == s5:
                if self._line:
                    self._line.pop()
            elif b == 0x2F and len(self._line) == 1 and self._line[0] in (0x41, 0x61):
                self._line.clear()
                del buf[:i]
                self._run_line(self._last_line, False, repeat=True)
                return
            elif len(self._line) < self.config.max_line:
                self._line.append(b)
            else:
                self._line_overflow = True
        del buf[:n]

    def _whole_line(self, buf: bytearray, s3: int, s5: int) -> bool:
        """The common case at once: a whole line up to S3 with nothing in it that the byte
        loop treats specially (LF inside, S5, the ``/`` of ``A/``, too long). Leading LFs (the
        LF of a CR LF host's last line) are taken as the loop takes them."""
        if s3 != LF and buf[:1] == b"\n":
            lead = len(buf) - len(buf.lstrip(b"\n"))
            if self._lf_may_follow_cr:
                self._host_crlf = True
                self._lf_may_follow_cr = False
            del buf[:lead]
        end = buf.find(s3)
        if end < 0 or len(self._line) + end > self.config.max_line:
            return False
        segment = buf[:end]
        if s5 in segment or 0x2F in segment or (s3 != LF and LF in segment):
            return False
        if segment:
            if self._lf_may_follow_cr:
                self._host_crlf = False  # a bare CR ended the last line
            self._line += segment
        if self.settings.echo:
            self._out += buf[: end + 1]
        line = bytes(self._line)
        overflow = self._line_overflow
        self._line.clear()
        self._line_overflow = False
        self._lf_may_follow_cr = True
        del buf[: end + 1]
        self._run_line(line, overflow)
        return True

    def _run_line(self, line: bytes, overflow: bool, *, repeat: bool = False) -> None:
        """Execute one command line."""
        if overflow:
            self.note(f"command line longer than {self.config.max_line} bytes: ERROR")
            self._write_error(None)
            return
        # characters before the AT prefix (a stray Ctrl-Z, noise) are skipped
        start = 0
        while start < len(line) and not (0x41 <= (line[start] | 0x20) - 0x20 <= 0x5A):
            start += 1
        body = line[start:]
        if not body.strip(b" "):
            return
        if body[:2].upper() != b"AT":
            self.note(f"not a command line: {body[:40]!r}")
            self._write_error(None)
            return
        if start:
            hints.skipped_before_at(self, line[:start])
        if not repeat:
            self._last_line = line
        try:
            text = body[2:].decode("ascii")
            cmds = split_commands(text)
        except (UnicodeDecodeError, LineError) as exc:
            self.note(f"syntax error: {exc}")
            self._write_error(None)
            return
        if not cmds:
            if self.faults.watches_commands:
                self.faults.before_command("")
                if self.mode is Mode.BOOTING:
                    return
            self._write_result(Result.OK)
            return
        self._queue.extend(cmds)
        self._next_command()

    def _next_command(self) -> None:
        """Run queued commands of the line until one is pending or the line is done."""
        while self._queue:
            cmd = self._queue.popleft()
            self._current = cmd
            self._block_open = False
            if self.faults.watches_commands:
                self.faults.before_command(cmd.name)
                if self.mode is Mode.BOOTING:  # the fault restarted the module
                    return
            written = len(self._out)
            outcome = self._dispatch(cmd)
            if self.faults.interleave:  # its final result waits for the UART (urc-interleave)
                outcome = self.faults.hold_final(outcome, len(self._out) - written)
            if isinstance(outcome, Pending):
                if self.mode is Mode.COMMAND:
                    self.mode = Mode.EXECUTING
                self._urcs_held = len(self._urcs)
                return
            if not self._complete_one(outcome):
                self._line_done()
                return
        self._line_done()

    def _line_done(self) -> None:
        self._current = None
        callbacks, self._after_line = self._after_line, []
        for callback in callbacks:
            callback()
        self._flush_urcs()  # URCs a command raised follow its response at once

    def _dispatch(self, cmd: Command) -> Outcome:
        entry = COMMANDS.get(cmd.name)
        if entry is None:
            hints.unknown_command(self, cmd)
            return ERROR
        if entry.qi:
            self.last_error = 0
        if cmd.kind is Kind.TEST and entry.test is not None:
            for line in entry.test:
                self.info(line)
            return OK
        outcome: Outcome = ERROR
        if cmd.kind in entry.forms:
            try:
                outcome = entry.handler(self, cmd)
            except ParamError as exc:
                self.note(f"AT{cmd.name}: {exc}")
                outcome = ERROR
        if entry.qi and isinstance(outcome, Error) and self.last_error == 0:
            # a TCP/IP or SSL command refused without a more specific cause: its form
            self.last_error = QiError.INVALID_PARAMETER
        return outcome

    def _complete_one(self, outcome: Outcome) -> bool:
        """Write a command's outcome; True when the line goes on with the next command."""
        if isinstance(outcome, Error):
            self._queue.clear()
            self._write_error(outcome.cme)
            return False
        if isinstance(outcome, Transparent):
            self._queue.clear()
            self._enter_transparent(self.sockets[outcome.client_id])
            return False
        assert isinstance(outcome, Final)
        if outcome.result is Result.OK:
            if not self._queue:
                self._write_result(Result.OK)
            return True
        self._queue.clear()
        self._write_result(outcome.result)
        return False

    def _complete(self, outcome: Outcome) -> None:
        if isinstance(outcome, Pending):
            return
        if self._complete_one(outcome):
            self._next_command()
        else:
            self._line_done()

    # ---- output -------------------------------------------------------------------

    def _write_result(self, result: Result | str) -> None:
        if isinstance(result, Result):
            if self.settings.quiet:
                return
            if self.settings.verbose:
                self._out += b"\r\n" + result.text.encode() + b"\r\n"
            else:
                self._out += str(int(result)).encode() + b"\r"
        else:
            text = result.encode("latin-1")
            self._out += (b"\r\n" + text + b"\r\n") if self.settings.verbose else text + b"\r\n"
        self._block_open = False

    def _write_error(self, code: int | None) -> None:
        if code is None or self.cmee == 0:
            self._write_result(Result.ERROR)
            return
        if self.settings.quiet:
            return
        detail = str(code) if self.cmee == 1 else CME_TEXT.get(code, "unknown")
        text = f"+CME ERROR: {detail}".encode("latin-1")
        self._out += (b"\r\n" + text + b"\r\n") if self.settings.verbose else text + b"\r\n"
        self._block_open = False

    def _urc_now(self, *texts: str) -> None:
        for text in texts:
            self.urc(text)
        self._flush_urcs()

    def _flush_urcs(self) -> None:
        """URCs go out only between responses: in command mode with no command running.
        Push-mode data goes only while the UART has room (``OUT_HIGH``)."""
        if self.mode is not Mode.COMMAND or self._current is not None:
            if self.mode is Mode.EXECUTING and self.faults.interleave:
                self._interleave_urcs()
            return
        if self._urcs.items:
            self._urcs.flush(self._out, self.settings.verbose, OUT_HIGH, self._pushed)

    def _interleave_urcs(self) -> None:
        """urc-interleave: URCs due while a command executes go out now, before its final
        result; those queued before it went pending (its own) still follow the line."""
        if min(self._urcs_held, len(self._urcs)):
            return  # older URCs wait behind this command: newer ones must not overtake them
        self._urcs.flush(self._out, self.settings.verbose, OUT_HIGH, self._pushed)

    def _after_activity(self) -> None:
        if self.faults.due:
            self.faults.settle()
        if self._inbuf and not self._processing and self.mode in _TAKES_INPUT:
            self._process()
            return
        if self.mode is Mode.TRANSPARENT:
            link = self.transparent
            if link is not None and link.sock.carrier_lost and not link.sock.recv:
                self._fill(OUT_HIGH)  # NO CARRIER after the last byte
            return  # the data itself goes as the port takes it (_take_transparent)
        self._flush_urcs()


def posix_from_fields(yy: int, mo: int, dd: int, hh: int, mi: int, ss: int, tzq: int) -> float:
    """The POSIX time of an AT+CCLK local time with a quarter-hour zone offset."""
    year = 1900 + yy if yy >= 80 else 2000 + yy
    return float(calendar.timegm((year, mo, dd, hh, mi, ss, 0, 0, 0)) - tzq * 900)
