"""Injected faults, pure: what they are, when they fire, and the module's own.

A fault acts now or when its trigger fires: at a time on the engine's clock (``At``), once a
number of bytes has passed on a client ID (``AfterBytes``), or just before the next command
the host sends (``OnCommand``). Module faults act here (the network deactivates a PDP
context, registration is lost and comes back, the module restarts, the send buffer is full,
URCs land inside responses, the SSL stack leaks);
network faults (a server reset, FIN or stall, DNS failure, a handshake that never ends, a TLS
alert) go out as ``NetFault`` intents, which the runner carries out on the real connection.
Their ``str()`` is the fault script syntax (``pdp-deactivate 1``, ``at 5s``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Literal

from .cmdline import LineError, split_commands
from .events import NetFault, Received, Send
from .outcome import Outcome, Pending
from .state import Mode, SocketState

if TYPE_CHECKING:
    from .core import Engine
    from .state import Socket
    from .timers import Timer


MAX_LOG = 1000  # faults that acted (or found nothing) kept in the log
MAX_ARMED = 1000  # faults armed and waiting at a time


class FaultError(ValueError):
    """A fault that cannot be injected: a bad argument, or nothing for it to act on."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise FaultError(message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _client_id(value: int) -> None:
    _check(_is_int(value) and 0 <= value <= 11, f"client ID {value!r}: client IDs are 0-11")


HTTP_CONNECTION = 12  # the HTTP client's connection (engine/commands/http_request.py)


def _connection_id(value: int) -> None:
    """A connection for a network fault or a byte trigger: a client ID, or 12 for the HTTP
    client's."""
    _check(
        _is_int(value) and 0 <= value <= HTTP_CONNECTION,
        f"client ID {value!r}: client IDs are 0-11 (12: the HTTP client's connection)",
    )


def _mqtt_client(value: int) -> None:
    _check(_is_int(value) and 0 <= value <= 5, f"MQTT client {value!r}: MQTT clients are 0-5")


def _at_least_one(value: int, what: str) -> None:
    _check(_is_int(value) and value >= 1, f"{what} must be a whole number of at least 1")


def _seconds(value: float) -> str:
    """``5s``, ``0.25s``, ``0.00001s``: every digit the value has and no exponent, so the
    script syntax reads it back as the same number."""
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}s"


# TLS alerts a server may end a handshake with (RFC 5246 7.2, RFC 6066, RFC 7507, RFC 8446).
TLS_ALERTS: dict[str, int] = {
    "unexpected_message": 10,
    "bad_record_mac": 20,
    "record_overflow": 22,
    "decompression_failure": 30,
    "handshake_failure": 40,
    "bad_certificate": 42,
    "unsupported_certificate": 43,
    "certificate_revoked": 44,
    "certificate_expired": 45,
    "certificate_unknown": 46,
    "illegal_parameter": 47,
    "unknown_ca": 48,
    "access_denied": 49,
    "decode_error": 50,
    "decrypt_error": 51,
    "protocol_version": 70,
    "insufficient_security": 71,
    "internal_error": 80,
    "inappropriate_fallback": 86,
    "unrecognized_name": 112,
    "certificate_required": 116,
}


# ---- module faults -------------------------------------------------------------------------


@dataclass(frozen=True)
class PdpDeactivate:
    """The network deactivates PDP context ``ctx``: its sockets close, then
    ``+QIURC: "pdpdeact",<ctx>``."""

    name: ClassVar[str] = "pdp-deactivate"
    ctx: int = 1

    def __post_init__(self) -> None:
        _check(_is_int(self.ctx) and 1 <= self.ctx <= 16, f"PDP context {self.ctx!r}: 1-16")

    def __str__(self) -> str:
        return f"{self.name} {self.ctx}"


@dataclass(frozen=True)
class RegistrationLost:
    """The module loses the network: +CREG/+CGREG/+CEREG stat 2 (searching), every active PDP
    context is lost as with ``PdpDeactivate``; with ``recover_after`` it registers again
    that many seconds later."""

    name: ClassVar[str] = "registration-lost"
    recover_after: float | None = None

    def __post_init__(self) -> None:
        value = self.recover_after
        _check(
            value is None
            or (isinstance(value, int | float) and math.isfinite(value) and value > 0),
            f"registration-lost: the recovery time must be positive, not {value!r}",
        )

    def __str__(self) -> str:
        if self.recover_after is None:
            return self.name
        return f"{self.name} {_seconds(self.recover_after)}"


@dataclass(frozen=True)
class RegistrationRecover:
    """The network is back: stat 1 again. PDP contexts stay down until the host activates them."""

    name: ClassVar[str] = "registration-recover"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Reboot:
    """The module restarts on its own: connections drop silently, ``RDY`` again."""

    name: ClassVar[str] = "reboot"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class SendBufferFull:
    """The next ``sends`` AT+QSSLSEND on ``client_id``'s connection answer ``SEND FAIL``."""

    name: ClassVar[str] = "send-buffer-full"
    client_id: int
    sends: int = 1

    def __post_init__(self) -> None:
        _client_id(self.client_id)
        _at_least_one(self.sends, "send-buffer-full: the number of sends")

    def __str__(self) -> str:
        tail = f" {self.sends}" if self.sends != 1 else ""
        return f"{self.name} {self.client_id}{tail}"


@dataclass(frozen=True)
class UrcInterleave:
    """While on, URCs that become due while a command runs go out inside its response, after
    its information lines and before its final result code, where a real module's land
    (``+QSSLRECV: 5``, the data, ``+QSSLURC: "recv",4``, ``OK``); a response with information
    lines takes the time they need on the UART at the AT+IPR rate. Off: between responses."""

    name: ClassVar[str] = "urc-interleave"
    on: bool = True

    def __post_init__(self) -> None:
        _check(isinstance(self.on, bool), f"urc-interleave: on or off, not {self.on!r}")

    def __str__(self) -> str:
        return self.name if self.on else f"{self.name} off"


OPEN_LEAK_CYCLES = 20  # FIELD_NOTES: "after some 20 open/close cycles"


@dataclass(frozen=True)
class OpenLeak:
    """The SSL stack leaks: after ``cycles`` more open/close cycles (AT+QSSLCLOSE of a client
    ID that carried a connection) every AT+QSSLOPEN fails with 552 until the module restarts."""

    name: ClassVar[str] = "open-leak"
    cycles: int = OPEN_LEAK_CYCLES

    def __post_init__(self) -> None:
        _check(
            _is_int(self.cycles) and self.cycles >= 0,
            f"open-leak: the number of cycles must be a whole number, not {self.cycles!r}",
        )

    def __str__(self) -> str:
        return self.name if self.cycles == OPEN_LEAK_CYCLES else f"{self.name} {self.cycles}"


# ---- network faults (carried out by the runner) ---------------------------------------------


@dataclass(frozen=True)
class _OnConnection:
    """A network fault on one connection, named by its client ID."""

    name: ClassVar[str] = ""
    client_id: int

    def __post_init__(self) -> None:
        _connection_id(self.client_id)

    def __str__(self) -> str:
        return f"{self.name} {self.client_id}"


@dataclass(frozen=True)
class ServerReset(_OnConnection):
    """The server resets ``client_id``'s connection (TCP RST)."""

    name: ClassVar[str] = "server-reset"


@dataclass(frozen=True)
class ServerFin(_OnConnection):
    """The server closes ``client_id``'s connection (TCP FIN, no close_notify)."""

    name: ClassVar[str] = "server-fin"


@dataclass(frozen=True)
class ServerStall(_OnConnection):
    """``client_id``'s connection stays open but no byte passes either way any more."""

    name: ClassVar[str] = "server-stall"


@dataclass(frozen=True)
class BrokerReset(ServerReset):
    """The broker resets MQTT client ``client_id``'s link (0-5; TCP RST)."""

    name: ClassVar[str] = "broker-reset"

    def __post_init__(self) -> None:
        _mqtt_client(self.client_id)


@dataclass(frozen=True)
class BrokerFin(ServerFin):
    """The broker closes MQTT client ``client_id``'s link (TCP FIN)."""

    name: ClassVar[str] = "broker-fin"

    def __post_init__(self) -> None:
        _mqtt_client(self.client_id)


@dataclass(frozen=True)
class BrokerStall(ServerStall):
    """MQTT client ``client_id``'s link stays open and carries nothing more either way."""

    name: ClassVar[str] = "broker-stall"

    def __post_init__(self) -> None:
        _mqtt_client(self.client_id)


@dataclass(frozen=True)
class BrokerGarbage:
    """The broker sends MQTT client ``client``'s link a malformed packet (reserved type 15):
    the module ends the link with ``+QMTSTAT: <client>,7``."""

    name: ClassVar[str] = "broker-garbage"
    client_id: int

    def __post_init__(self) -> None:
        _mqtt_client(self.client_id)

    def __str__(self) -> str:
        return f"{self.name} {self.client_id}"


BrokerFault = BrokerReset | BrokerFin | BrokerStall | BrokerGarbage
GARBAGE = b"\xf0\x00"  # a packet of the reserved type 15


@dataclass(frozen=True)
class DnsFailure:
    """The next ``lookups`` name lookups fail (QSSLOPEN 565, QIDNSGIP ``"dnsgip",565``)."""

    name: ClassVar[str] = "dns-failure"
    lookups: int = 1

    def __post_init__(self) -> None:
        _at_least_one(self.lookups, "dns-failure: the number of lookups")

    def __str__(self) -> str:
        return self.name if self.lookups == 1 else f"{self.name} {self.lookups}"


@dataclass(frozen=True)
class HandshakeTimeout:
    """The TLS handshake of the next ``opens`` QSSLOPEN never completes (569 after
    ``negotiatetime``)."""

    name: ClassVar[str] = "handshake-timeout"
    opens: int = 1

    def __post_init__(self) -> None:
        _at_least_one(self.opens, "handshake-timeout: the number of opens")

    def __str__(self) -> str:
        return self.name if self.opens == 1 else f"{self.name} {self.opens}"


@dataclass(frozen=True)
class TlsAlert:
    """The server answers the next ``opens`` ClientHellos with the fatal alert ``alert`` (566)."""

    name: ClassVar[str] = "tls-alert"
    alert: str = "handshake_failure"
    opens: int = 1

    def __post_init__(self) -> None:
        _check(
            self.alert in TLS_ALERTS,
            f"tls-alert: unknown alert {self.alert!r} (one of {', '.join(TLS_ALERTS)})",
        )
        _at_least_one(self.opens, "tls-alert: the number of opens")

    @property
    def code(self) -> int:
        return TLS_ALERTS[self.alert]

    def __str__(self) -> str:
        tail = f" {self.opens}" if self.opens != 1 else ""
        return f"{self.name} {self.alert}{tail}"


ModuleFault = (
    PdpDeactivate
    | RegistrationLost
    | RegistrationRecover
    | Reboot
    | SendBufferFull
    | UrcInterleave
    | OpenLeak
    | BrokerGarbage
)
ConnectionFault = ServerReset | ServerFin | ServerStall
NetworkFault = ConnectionFault | DnsFailure | HandshakeTimeout | TlsAlert
Fault = ModuleFault | NetworkFault

FAULT_TYPES: tuple[type[Fault], ...] = (
    PdpDeactivate,
    RegistrationLost,
    RegistrationRecover,
    Reboot,
    SendBufferFull,
    UrcInterleave,
    OpenLeak,
    ServerReset,
    ServerFin,
    ServerStall,
    BrokerReset,
    BrokerFin,
    BrokerStall,
    BrokerGarbage,
    DnsFailure,
    HandshakeTimeout,
    TlsAlert,
)


# ---- triggers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class At:
    """``seconds`` after the fault is armed, on the engine's clock."""

    seconds: float

    def __post_init__(self) -> None:
        value = self.seconds
        _check(
            isinstance(value, int | float) and math.isfinite(value) and value >= 0,
            f"at: the time must be zero or more seconds, not {value!r}",
        )

    def __str__(self) -> str:
        return f"at {_seconds(self.seconds)}"


Direction = Literal["received", "sent"]


@dataclass(frozen=True)
class AfterBytes:
    """Once ``count`` bytes have passed on ``client_id`` since the fault was armed (on any
    connection that ID carries): ``received`` from the server, or ``sent`` by the host."""

    count: int
    client_id: int
    direction: Direction = "received"

    def __post_init__(self) -> None:
        _at_least_one(self.count, "after: the number of bytes")
        _connection_id(self.client_id)
        _check(
            self.direction in ("received", "sent"),
            f"after: bytes are 'received' or 'sent', not {self.direction!r}",
        )

    def __str__(self) -> str:
        return f"after {self.count} bytes {self.direction} on {self.client_id}"


def command_name(text: str) -> str:
    """The engine's name of the command ``text`` starts with: ``AT+QSSLSEND=0,5`` gives
    ``+QSSLSEND``, ``ATE0`` gives ``E``, a bare ``AT`` gives ``""``."""
    body = text.strip()
    _check(body[:2].upper() == "AT", f"not an AT command: {text!r}")
    rest = body[2:]
    if rest[:1] in ("S", "s") and rest[1:].isascii() and rest[1:].isdigit():
        rest += "?"  # ATS3 names the register as OnCommand prints it: any form of it
    try:
        commands = split_commands(rest)
    except LineError as exc:
        raise FaultError(f"not an AT command: {text!r} ({exc})") from None
    _check(len(commands) <= 1, f"one command, not a command line: {text!r}")
    return commands[0].name if commands else ""


@dataclass(frozen=True)
class OnCommand:
    """Just before the next command the host sends (its answer sees the fault); with
    ``command`` (``"AT+QSSLSEND"``), the next command of that name, in any form."""

    command: str | None = None

    def __post_init__(self) -> None:
        if self.command is not None:
            object.__setattr__(self, "command", "AT" + command_name(self.command))

    @property
    def key(self) -> str | None:
        """The engine's command name to match (None: any)."""
        return None if self.command is None else self.command[2:]

    def __str__(self) -> str:
        return f"on next {self.command or 'command'}"


Trigger = At | AfterBytes | OnCommand


@dataclass(frozen=True)
class FaultRecord:
    """A fault that acted (``applied``) or found nothing to act on (``detail`` says why)."""

    time: float  # the engine's clock
    fault: Fault
    trigger: Trigger | None
    applied: bool
    detail: str = ""

    def __str__(self) -> str:
        when = f" ({self.trigger})" if self.trigger is not None else ""
        return f"{self.fault}{when}: " + ("done" if self.applied else self.detail)


@dataclass(eq=False)
class _Armed:
    fault: Fault
    trigger: Trigger
    remaining: int = 0  # AfterBytes: bytes still to pass
    timer: Timer | None = None


class ModuleFaults:
    """One engine's faults: what is armed, what happened (``log``), and the module faults."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._powered = False
        self._deferred: list[tuple[Trigger | None, Fault]] = []
        self._armed: list[_Armed] = []
        self._bytes: dict[tuple[int, Direction], list[_Armed]] = {}
        self._commands: list[_Armed] = []
        self.due: list[_Armed] = []  # fired by sent bytes, acting at the next safe point
        self.searching = False  # registration lost: +CEREG stat 2 until it comes back
        self.interleave = False  # urc-interleave: URCs may land inside a response
        self._leak_left: int | None = None  # open-leak: open/close cycles before it bites
        self.log: deque[FaultRecord] = deque(maxlen=MAX_LOG)  # the newest, oldest first

    # ---- arming ----------------------------------------------------------------------

    def inject(self, fault: Fault, trigger: Trigger | None = None) -> None:
        """Act now, or arm ``fault`` for ``trigger``.

        Acting now raises ``FaultError`` when there is nothing to act on (no such connection,
        context, registration) and changes nothing; an armed fault that finds nothing when it
        fires is only logged.
        """
        if trigger is None:
            self._apply(fault, None, strict=True)
        else:
            self._arm(fault, trigger)

    def load(self, entries: Iterable[tuple[Trigger | None, Fault]]) -> None:
        """A fault script: armed when the module first powers on (now, if it has); times
        count from then; a fault without a trigger acts then."""
        self._deferred.extend(entries)
        if self._powered:
            self._start_deferred()

    def powered_on(self) -> None:
        if self._leak_left is not None:
            self._leak_left = None
            self._engine.note("open-leak ends with the restart: AT+QSSLOPEN works again")
        if not self._powered:
            self._powered = True
            self._start_deferred()

    def _start_deferred(self) -> None:
        entries, self._deferred = self._deferred, []
        for trigger, fault in entries:
            if trigger is None:
                self._apply(fault, None, strict=False)
            else:
                self._arm(fault, trigger, strict=False)

    @property
    def pending(self) -> list[tuple[Trigger, Fault]]:
        """Armed faults that have not fired yet, in the order they were armed."""
        return [(a.trigger, a.fault) for a in self._armed]

    def _arm(self, fault: Fault, trigger: Trigger, *, strict: bool = True) -> None:
        if len(self._armed) >= MAX_ARMED:
            problem = f"{trigger} {fault}: {MAX_ARMED} faults are armed already"
            if strict:
                raise FaultError(problem)
            self._engine.note(f"fault not armed: {problem}")
            return
        armed = _Armed(fault, trigger)
        self._armed.append(armed)
        engine = self._engine
        if isinstance(trigger, At):
            armed.timer = engine.call_later(
                trigger.seconds, lambda: self._fire(armed), persistent=True
            )
        elif isinstance(trigger, AfterBytes):
            armed.remaining = trigger.count
            self._bytes.setdefault((trigger.client_id, trigger.direction), []).append(armed)
        else:
            self._commands.append(armed)
        engine.note(f"fault armed: {trigger} {fault}")

    def _fire(self, armed: _Armed) -> None:
        if armed not in self._armed:
            return
        self._armed.remove(armed)
        trigger = armed.trigger
        if isinstance(trigger, AfterBytes):
            key = (trigger.client_id, trigger.direction)
            waiting = self._bytes[key]
            waiting.remove(armed)
            if not waiting:
                del self._bytes[key]
        elif isinstance(trigger, OnCommand):
            self._commands.remove(armed)
        self._apply(armed.fault, trigger, strict=False)

    # ---- triggers: hooks the engine calls --------------------------------------------

    def watches(self, client_id: int, direction: Direction) -> bool:
        return bool(self._bytes) and (client_id, direction) in self._bytes

    def room(self, client_id: int, direction: Direction = "received") -> int | None:
        """Bytes that may pass on ``client_id`` before a trigger fires (None: no trigger)."""
        if not self._bytes:
            return None
        waiting = self._bytes.get((client_id, direction))
        return min(a.remaining for a in waiting) if waiting else None

    def _count(self, client_id: int, direction: Direction, n: int) -> list[_Armed]:
        waiting = self._bytes.get((client_id, direction), [])
        for armed in waiting:
            armed.remaining -= n
        return [a for a in waiting if a.remaining <= 0]

    def receive(self, event: Received, deliver: Callable[[Received], None]) -> None:
        """Server data on a watched client ID: delivered up to each trigger's count, the
        fault acts, and the rest follows while the connection is still up."""
        engine = self._engine
        cid = event.client_id
        seq = event.conn_seq
        if self._conn_seq(cid) != seq:
            deliver(event)  # a late event of an earlier connection: dropped, not counted
            return
        data = event.data
        while data:
            room = self.room(cid)
            take = len(data) if room is None else min(room, len(data))
            deliver(event if take == len(event.data) else Received(cid, seq, data[:take]))
            for armed in self._count(cid, "received", take):
                self._fire(armed)
            data = data[take:]
            gone = self._conn_seq(cid) != seq
            if data and gone:
                engine.note(f"{len(data)} bytes from the server dropped: connection {cid} is gone")
                return

    def sent(self, intent: Send) -> None:
        """Host data went out on a watched client ID; faults it triggers act once the module
        has finished what it was doing (after the SEND OK, after the transparent packet)."""
        self.due += self._count(intent.client_id, "sent", len(intent.data))

    def settle(self) -> None:
        """Fire the faults that sent bytes made due."""
        while self.due:
            self._fire(self.due.pop(0))

    def before_command(self, name: str) -> None:
        """The host's next command is ``name`` (``+QSSLSEND``; ``""`` for a bare AT)."""
        for armed in list(self._commands):
            key = armed.trigger.key if isinstance(armed.trigger, OnCommand) else None
            if key is None or key == name:
                self._fire(armed)

    @property
    def watches_commands(self) -> bool:
        return bool(self._commands)

    # ---- hooks of the module faults ----------------------------------------------------

    def hold_final(self, outcome: Outcome, written: int) -> Outcome:
        """urc-interleave: a response of ``written`` bytes of information lines gets its final
        result once the UART would have sent them; URCs due meanwhile land before it."""
        if not self.interleave or not written or isinstance(outcome, Pending):
            return outcome
        engine = self._engine
        engine.call_later(written * 10 / engine.ipr, lambda: engine.finish(outcome))
        return engine.wait()

    @property
    def open_refused(self) -> bool:
        """open-leak: the stack is exhausted, every AT+QSSLOPEN fails with 552."""
        return self._leak_left == 0

    def cycle_closed(self) -> None:
        """AT+QSSLCLOSE freed a client ID: one open/close cycle for open-leak."""
        if self._leak_left:
            self._leak_left -= 1
            if not self._leak_left:
                self._engine.note(
                    "fault open-leak: the SSL stack is exhausted, every "
                    "AT+QSSLOPEN fails with 552 until a restart"
                )

    # ---- acting ----------------------------------------------------------------------

    def _apply(self, fault: Fault, trigger: Trigger | None, *, strict: bool) -> None:
        engine = self._engine
        problem = self._problem(fault)
        when = "" if trigger is None else f" ({trigger})"
        if problem is not None:
            if strict:
                raise FaultError(f"{fault}: {problem}")
            engine.note(f"fault {fault}{when}: nothing done, {problem}")
            self.log.append(FaultRecord(engine.now, fault, trigger, False, problem))
            return
        engine.note(f"fault {fault}{when}")
        self.log.append(FaultRecord(engine.now, fault, trigger, True))
        self._act(fault)

    def _connected(self, client_id: int) -> Socket | None:
        sock = self._engine.sockets.get(client_id)
        return sock if sock is not None and sock.state is SocketState.CONNECTED else None

    def _conn_seq(self, client_id: int) -> int | None:
        """The connection on ``client_id`` (12: the HTTP client's) if it is up."""
        if client_id == HTTP_CONNECTION:
            req = self._engine.http.request
            if req is None or not req.open or req.stage.value == "connecting":
                return None
            return req.seq
        sock = self._connected(client_id)
        return None if sock is None else sock.conn_seq

    def _problem(self, fault: Fault) -> str | None:
        """Why ``fault`` has nothing to act on right now, or None."""
        engine = self._engine
        running = engine.mode is not Mode.BOOTING
        if isinstance(fault, PdpDeactivate | RegistrationLost | Reboot | OpenLeak) and not running:
            return "the module is not running (powered off or restarting)"
        if isinstance(fault, PdpDeactivate) and not engine.pdp[fault.ctx].active:
            return f"PDP context {fault.ctx} is not active"
        if isinstance(fault, RegistrationLost):
            if self.searching:
                return "registration is already lost"
            if engine.cfun != 1:
                return f"the module is not registered (AT+CFUN={engine.cfun})"
        if isinstance(fault, RegistrationRecover) and not self.searching:
            return "registration is not lost"
        if isinstance(fault, BrokerFault):
            link = engine.mqtt.links.get(fault.client_id)
            if link is None or not link.opened:
                return f"MQTT client {fault.client_id} has no open link"
            return None
        if isinstance(fault, SendBufferFull) and self._connected(fault.client_id) is None:
            return f"client ID {fault.client_id} has no connected socket"
        if (
            isinstance(fault, ServerReset | ServerFin | ServerStall)
            and self._conn_seq(fault.client_id) is None
        ):
            return f"client ID {fault.client_id} has no connected socket"
        return None

    def _act(self, fault: Fault) -> None:
        from .commands import general

        engine = self._engine
        if isinstance(fault, PdpDeactivate):
            self._pdp_lost(fault.ctx)
        elif isinstance(fault, RegistrationLost):
            before = general.registration_stat(engine)
            self.searching = True
            if general.registration_stat(engine) != before:  # not while still attaching
                general.registration_urcs(engine)
            for cid, ctx in engine.pdp.items():
                if ctx.active:
                    self._pdp_lost(cid)
            if fault.recover_after is not None:
                self._arm(RegistrationRecover(), At(fault.recover_after), strict=False)
        elif isinstance(fault, RegistrationRecover):
            before = general.registration_stat(engine)
            self.searching = False
            if engine.mode is not Mode.BOOTING and general.registration_stat(engine) != before:
                general.registration_urcs(engine)
        elif isinstance(fault, Reboot):
            engine.reboot()
        elif isinstance(fault, SendBufferFull):
            sock = self._connected(fault.client_id)
            assert sock is not None
            sock.fail_sends += fault.sends
        elif isinstance(fault, UrcInterleave):
            self.interleave = fault.on
        elif isinstance(fault, BrokerGarbage):
            from .commands import mqtt

            link = engine.mqtt.links[fault.client_id]
            mqtt.on_event(engine, Received(link.link_id, link.conn_seq, GARBAGE))
        elif isinstance(fault, OpenLeak):
            self._leak_left = fault.cycles
            if not fault.cycles:
                engine.note("fault open-leak: every AT+QSSLOPEN fails with 552 until a restart")
        else:
            seq = 0
            if isinstance(fault, BrokerFault):
                seq = engine.mqtt.links[fault.client_id].conn_seq
            elif isinstance(fault, ServerReset | ServerFin | ServerStall):
                conn_seq = self._conn_seq(fault.client_id)
                assert conn_seq is not None
                seq = conn_seq
            engine.emit(NetFault(fault, seq))

    def _pdp_lost(self, cid: int) -> None:
        """The network took context ``cid`` away: its sockets close, then the URC."""
        from .commands import sockets

        engine = self._engine
        ctx = engine.pdp[cid]
        ctx.active = False
        ctx.ip = ""
        sockets.close_for_pdp(engine, cid, urc=True)
        engine.urc(f'+QIURC: "pdpdeact",{cid}')
