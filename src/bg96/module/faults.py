"""Fault injection: the Python API (``VirtualModule.faults``) and the fault script format.

A fault acts now, or when its trigger fires::

    module.faults.pdp_deactivate(1)                    # now
    module.faults.at(5.0).reboot()                     # 5 s from now, on the module's clock
    module.faults.server_reset(0, after_bytes=1000)    # once client 0 has received 1000 bytes
    module.faults.after_bytes(200, 0, sent=True).server_stall(0)
    module.faults.on_next_command("AT+QSSLSEND").send_buffer_full(0)
    module.faults.urc_interleave()                     # URCs inside responses from now on

The same faults, one a line, in a fault script (``bg96 serve --faults FILE``,
``VirtualModule(faults=FILE)``; ``docs/faults.md`` has the whole format)::

    at 5s pdp-deactivate 1
    after 1000 bytes on 0 server-reset 0
    on next AT+QSSLSEND send-buffer-full 0     # comments start with #

Module faults act in the engine; network faults in the runner (``engine.faults`` and
``runner.py``). Everything here goes through the engine, so triggers run on its clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from ..engine import Engine
from ..engine.faults import (
    FAULT_TYPES,
    AfterBytes,
    At,
    BrokerFin,
    BrokerGarbage,
    BrokerReset,
    BrokerStall,
    DnsFailure,
    Fault,
    FaultError,
    FaultRecord,
    HandshakeTimeout,
    ModuleFault,
    NetworkFault,
    OnCommand,
    OpenLeak,
    PdpDeactivate,
    Reboot,
    RegistrationLost,
    RegistrationRecover,
    SendBufferFull,
    ServerFin,
    ServerReset,
    ServerStall,
    TlsAlert,
    Trigger,
    UrcInterleave,
)

__all__ = [
    "AfterBytes",
    "At",
    "BrokerFin",
    "BrokerGarbage",
    "BrokerReset",
    "BrokerStall",
    "DnsFailure",
    "Fault",
    "FaultError",
    "FaultInjector",
    "FaultRecord",
    "FaultScript",
    "FaultScriptError",
    "Faults",
    "HandshakeTimeout",
    "ModuleFault",
    "NetworkFault",
    "OnCommand",
    "OpenLeak",
    "PdpDeactivate",
    "Reboot",
    "RegistrationLost",
    "RegistrationRecover",
    "ScriptEntry",
    "SendBufferFull",
    "ServerFin",
    "ServerReset",
    "ServerStall",
    "TlsAlert",
    "Trigger",
    "UrcInterleave",
    "parse_line",
]


# ---- the script format ---------------------------------------------------------------------

# the arguments of each fault, as docs/faults.md writes them; [..] is optional
SYNTAX: dict[str, str] = {
    "pdp-deactivate": "[CTX]",
    "registration-lost": "[DURATION]",
    "registration-recover": "",
    "reboot": "",
    "send-buffer-full": "CLIENT_ID [SENDS]",
    "urc-interleave": "[on|off]",
    "open-leak": "[CYCLES]",
    "server-reset": "CLIENT_ID",
    "server-fin": "CLIENT_ID",
    "server-stall": "CLIENT_ID",
    "broker-reset": "MQTT_CLIENT",
    "broker-fin": "MQTT_CLIENT",
    "broker-stall": "MQTT_CLIENT",
    "broker-garbage": "MQTT_CLIENT",
    "dns-failure": "[LOOKUPS]",
    "handshake-timeout": "[OPENS]",
    "tls-alert": "[ALERT] [OPENS]",
}
_TYPES: dict[str, type[Fault]] = {t.name: t for t in FAULT_TYPES}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")


class FaultScriptError(FaultError):
    """A fault script line that does not parse; ``str()`` is ``source:line: message``."""

    def __init__(self, message: str, line: int = 0, source: str = "<faults>") -> None:
        self.message = message
        self.line = line
        self.source = source
        super().__init__(f"{source}:{line}: {message}" if line else message)


def _duration(text: str) -> float:
    m = _DURATION.fullmatch(text)
    if m is None:
        raise FaultError(f"expected a time such as 5s, 1.5s or 250ms, not {text!r}")
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value


MAX_DIGITS = 18  # more is a mistake, and int() refuses over 4300 digits with ValueError


def _number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise FaultError(f"expected {what} (a whole number), not {text!r}")
    digits = text.lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:
        raise FaultError(f"{what}: {digits[:24]}... has more than {MAX_DIGITS} digits")
    return int(digits)


def _switch(text: str) -> bool:
    word = text.lower()
    if word not in ("on", "off"):
        raise FaultError(f"expected on or off, not {text!r}")
    return word == "on"


def _fault(words: list[str]) -> Fault:
    if not words:
        raise FaultError("a fault is missing")
    name, args = words[0].lower(), words[1:]
    cls = _TYPES.get(name)
    if cls is None:
        raise FaultError(f"unknown fault {words[0]!r} (known: {', '.join(SYNTAX)})")
    params = SYNTAX[name].split()
    if len(args) > len(params):
        raise FaultError(f"too many arguments: {name} {SYNTAX[name]}".rstrip())
    required = [p for p in params if not p.startswith("[")]
    if len(args) < len(required):
        raise FaultError(f"missing {required[len(args)]}: {name} {SYNTAX[name]}")
    values: list[object] = []
    for param, arg in zip(params, args, strict=False):
        kind = param.strip("[]")
        if kind == "DURATION":
            values.append(_duration(arg))
        elif kind == "ALERT":
            values.append(arg.lower())
        elif kind == "on|off":
            values.append(_switch(arg))
        else:
            values.append(_number(arg, kind))
    return cls(*values)  # type: ignore[arg-type]  # the dataclass checks each value


def _trigger(words: list[str]) -> tuple[Trigger | None, list[str]]:
    """The trigger the words start with (None: none) and the words after it."""
    head = words[0].lower() if words else ""
    if head == "at":
        if len(words) < 2:
            raise FaultError("at: a time is missing (at 5s)")
        return At(_duration(words[1])), words[2:]
    if head == "after":
        # after N bytes [received|sent] on CLIENT_ID
        rest = [w.lower() for w in words[1:6]]
        if len(rest) < 4 or rest[1] not in ("byte", "bytes"):
            raise FaultError("after: expected 'after N bytes [received|sent] on CLIENT_ID'")
        count = _number(rest[0], "the number of bytes")
        direction = "received"
        used = 2
        if rest[2] in ("received", "sent"):
            direction, used = rest[2], 3
        if len(rest) < used + 2 or rest[used] != "on":
            raise FaultError("after: expected 'after N bytes [received|sent] on CLIENT_ID'")
        client_id = _number(rest[used + 1], "a client ID")
        trigger = AfterBytes(count, client_id, "sent" if direction == "sent" else "received")
        return trigger, words[used + 3 :]
    if head == "on":
        if len(words) < 3 or words[1].lower() != "next":
            raise FaultError("on: expected 'on next command' or 'on next AT+NAME'")
        what = words[2]
        return OnCommand(None if what.lower() == "command" else what), words[3:]
    return None, words


def parse_line(text: str) -> tuple[Trigger | None, Fault] | None:
    """One line of a fault script: ``(trigger, fault)``, or None for a blank or comment line.

    Raises ``FaultError`` (without a line number) when it does not parse.
    """
    words = text.split("#", 1)[0].split()
    if not words:
        return None
    trigger, rest = _trigger(words)
    return trigger, _fault(rest)


@dataclass(frozen=True)
class ScriptEntry:
    """One fault of a script, with the line it came from."""

    line: int
    trigger: Trigger | None
    fault: Fault

    def __str__(self) -> str:
        return f"{self.trigger} {self.fault}" if self.trigger is not None else str(self.fault)


@dataclass(frozen=True)
class FaultScript:
    """A parsed fault script: armed when the module first powers on; ``at`` times count
    from then, and a fault without a trigger acts then."""

    entries: tuple[ScriptEntry, ...]
    source: str = "<faults>"

    @classmethod
    def parse(cls, text: str, source: str = "<faults>") -> FaultScript:
        """Parse ``text``; ``FaultScriptError`` names the line of the first mistake."""
        entries: list[ScriptEntry] = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                parsed = parse_line(line)
            except FaultError as exc:
                raise FaultScriptError(str(exc), number, source) from None
            if parsed is not None:
                entries.append(ScriptEntry(number, *parsed))
        return cls(tuple(entries), source)

    @classmethod
    def load(cls, path: str | Path) -> FaultScript:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FaultScriptError(f"cannot read the fault script {str(path)!r}: {exc}") from None
        return cls.parse(text, str(path))

    def pairs(self) -> list[tuple[Trigger | None, Fault]]:
        return [(e.trigger, e.fault) for e in self.entries]

    def __iter__(self) -> Iterator[ScriptEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


# ---- the Python API -------------------------------------------------------------------------

Inject = Callable[[Fault, Trigger | None], None]


class FaultInjector:
    """Each method injects one fault: now, or when this injector's ``trigger`` fires.

    Now: ``FaultError`` when there is nothing for the fault to act on (no such connection,
    an inactive context) and the module is left as it was. Armed: a fault that finds nothing
    when it fires does nothing, and ``Faults.log`` says why.
    """

    def __init__(self, inject: Inject, trigger: Trigger | None = None) -> None:
        self._inject = inject
        self.trigger = trigger

    def _on_connection(self, fault: Fault, client_id: int, after_bytes: int | None) -> None:
        trigger = self.trigger
        if after_bytes is not None:
            if trigger is not None:
                raise FaultError(f"{fault}: after_bytes= and {trigger}: give one trigger")
            trigger = AfterBytes(after_bytes, client_id)
        self._inject(fault, trigger)

    # module faults

    def pdp_deactivate(self, ctx: int = 1) -> None:
        """The network deactivates PDP context ``ctx``: its sockets close, ``"pdpdeact"``."""
        self._inject(PdpDeactivate(ctx), self.trigger)

    def registration_lost(self, recover_after: float | None = None) -> None:
        """Registration is lost (stat 2), with every PDP context; back after ``recover_after`` s."""
        self._inject(RegistrationLost(recover_after), self.trigger)

    def registration_recover(self) -> None:
        """Registration comes back (stat 1)."""
        self._inject(RegistrationRecover(), self.trigger)

    def reboot(self) -> None:
        """The module restarts: ``RDY`` again, volatile state lost, files kept."""
        self._inject(Reboot(), self.trigger)

    def send_buffer_full(
        self, client_id: int, sends: int = 1, *, after_bytes: int | None = None
    ) -> None:
        """The next ``sends`` AT+QSSLSEND on ``client_id`` answer ``SEND FAIL``."""
        self._on_connection(SendBufferFull(client_id, sends), client_id, after_bytes)

    def urc_interleave(self, on: bool = True) -> None:
        """While on, URCs that become due while a command runs land inside its response,
        before its final result (``+QSSLRECV: 5``, the data, ``+QSSLURC: "recv",4``, ``OK``)."""
        self._inject(UrcInterleave(on), self.trigger)

    def open_leak(self, cycles: int = 20) -> None:
        """After ``cycles`` more open/close cycles every AT+QSSLOPEN fails with 552, until
        the module restarts (the stack leak of FIELD_NOTES)."""
        self._inject(OpenLeak(cycles), self.trigger)

    # network faults

    def server_reset(self, client_id: int, *, after_bytes: int | None = None) -> None:
        """The server resets the connection (RST); ``after_bytes``: once it has received
        that many bytes (shorthand for ``after_bytes(n, client_id)``)."""
        self._on_connection(ServerReset(client_id), client_id, after_bytes)

    def server_fin(self, client_id: int, *, after_bytes: int | None = None) -> None:
        """The server closes the connection (FIN)."""
        self._on_connection(ServerFin(client_id), client_id, after_bytes)

    def server_stall(self, client_id: int, *, after_bytes: int | None = None) -> None:
        """The connection stays open and carries no byte either way any more."""
        self._on_connection(ServerStall(client_id), client_id, after_bytes)

    def broker_reset(self, client: int) -> None:
        """The broker resets MQTT client ``client``'s link (RST): ``+QMTSTAT: <client>,1``."""
        self._inject(BrokerReset(client), self.trigger)

    def broker_fin(self, client: int) -> None:
        """The broker closes MQTT client ``client``'s link (FIN): ``+QMTSTAT: <client>,1``."""
        self._inject(BrokerFin(client), self.trigger)

    def broker_stall(self, client: int) -> None:
        """MQTT client ``client``'s link carries nothing more: its next PINGREQ goes
        unanswered, ``+QMTSTAT: <client>,2``."""
        self._inject(BrokerStall(client), self.trigger)

    def broker_garbage(self, client: int) -> None:
        """The broker sends MQTT client ``client`` a malformed packet: ``+QMTSTAT: <client>,7``."""
        self._inject(BrokerGarbage(client), self.trigger)

    def dns_failure(self, lookups: int = 1) -> None:
        """The next ``lookups`` name lookups fail (565)."""
        self._inject(DnsFailure(lookups), self.trigger)

    def handshake_timeout(self, opens: int = 1) -> None:
        """The next ``opens`` TLS handshakes never complete (569 after negotiatetime)."""
        self._inject(HandshakeTimeout(opens), self.trigger)

    def tls_alert(self, alert: str = "handshake_failure", opens: int = 1) -> None:
        """The server answers the next ``opens`` handshakes with the fatal ``alert`` (566)."""
        self._inject(TlsAlert(alert, opens), self.trigger)


T = TypeVar("T")


class EngineAccess(Protocol):
    """A running module as ``Faults`` needs it (``VirtualModule`` is one)."""

    def with_engine(self, fn: Callable[[Engine], T]) -> T:
        """``fn(engine)`` in the module's loop, its clock brought to now first, and what the
        engine produced carried out after."""
        ...


class Faults(FaultInjector):
    """``VirtualModule.faults``: inject faults into a running module, from any thread."""

    def __init__(self, module: EngineAccess) -> None:
        super().__init__(self.inject)
        self._module = module

    def inject(self, fault: Fault, trigger: Trigger | None = None) -> None:
        """Inject ``fault`` now, or arm it for ``trigger`` (``at`` counts from now)."""
        self._module.with_engine(lambda engine: engine.inject_fault(fault, trigger))

    def at(self, seconds: float) -> FaultInjector:
        """Faults ``seconds`` from now, on the module's clock."""
        return FaultInjector(self.inject, At(seconds))

    def after_bytes(self, count: int, client_id: int, *, sent: bool = False) -> FaultInjector:
        """Faults once ``count`` more bytes have been received from the server on
        ``client_id`` (``sent``: sent by the host)."""
        return FaultInjector(
            self.inject, AfterBytes(count, client_id, "sent" if sent else "received")
        )

    def on_next_command(self, command: str | None = None) -> FaultInjector:
        """Faults just before the next command the host sends, or the next ``command``
        (``"AT+QSSLSEND"``, any form); that command's answer already sees the fault."""
        return FaultInjector(self.inject, OnCommand(command))

    def run(self, text: str) -> None:
        """Lines of the script format, in order; a line without a trigger acts now.

        The whole text is parsed first (``FaultScriptError`` with the line number). A line
        that finds nothing to act on raises ``FaultError`` naming it; the lines before it
        have acted.
        """
        script = FaultScript.parse(text, "<run>")
        for entry in script:
            try:
                self.inject(entry.fault, entry.trigger)
            except FaultError as exc:
                if len(script.entries) == 1:
                    raise
                done = "the lines before it have acted" if entry.line > 1 else "nothing acted"
                raise FaultError(f"line {entry.line}: {exc} ({done})") from exc

    @property
    def log(self) -> list[FaultRecord]:
        """Faults that acted or found nothing to act on, oldest first."""
        return self._module.with_engine(lambda engine: list(engine.faults.log))

    @property
    def pending(self) -> list[tuple[Trigger, Fault]]:
        """Armed faults that have not fired yet."""
        return self._module.with_engine(lambda engine: engine.faults.pending)
