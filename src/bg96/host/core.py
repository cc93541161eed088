"""The host side's sans-IO state, shared by ``Modem`` and ``AsyncModem``: module bytes in,
the parser's events sorted out (answers for the command under way, URCs dispatched to the
connections, callbacks and the ``urcs`` queue, transparent-mode data), the time as an input.

No socket, no thread, no event loop: the runners feed ``receive`` and the procedures
(``exchange``, ``operations``, ``ssl_operations``) read and change this state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from .answers import OPEN_URC, SSL_URC
from .parser import Data, DataPhase, DteParser, Event, Urc

BUFFER, PUSH, TRANSPARENT = 0, 1, 2  # <access_mode>
NO_CARRIER = b"\r\nNO CARRIER\r\n"  # ends transparent mode when the connection is lost
SETTLE = 0.02  # s of quiet after which a NO CARRIER at the end of the stream is the module's

UrcCallback = Callable[[Urc], None]


def _carrier_overlap(data: bytes | bytearray) -> int:
    """How many bytes at the end of ``data`` may begin (or are) the module's NO CARRIER."""
    for k in range(min(len(NO_CARRIER), len(data)), 0, -1):
        if data.endswith(NO_CARRIER[:k]):
            return k
    return 0


class ModemCore:
    """One module as the host sees it: feed its bytes with ``receive``."""

    def __init__(
        self,
        *,
        min_timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        baudrate: int = 115200,
        shared: bool = False,
    ) -> None:
        self.min_timeout = min_timeout
        # several tasks may run procedures at once (AsyncModem): a command claims the port
        self.shared = shared
        self.clock = clock
        self.baudrate = baudrate
        self.parser = DteParser()
        self.events: deque[Event] = deque()  # responses, prompts, CONNECTs of the command
        self.urcs: deque[Urc] = deque()  # for poll() and wait_urc()
        self.callbacks: list[UrcCallback] = []
        self.links: dict[int, SslLink] = {}  # client ID -> connection, opening ones too
        self.open_results: dict[int, int] = {}  # client ID -> +QSSLOPEN <err>
        self.boots = 0  # RDY seen: a procedure that saw this change knows the module restarted
        self.app_ready = 0  # APP RDY seen
        self.data = bytearray()  # transparent-mode bytes no connection has taken yet
        self.bytes_in = 0  # every byte received, for "quiet for a while"

    def receive(self, data: bytes) -> None:
        """Bytes from the module, split anywhere. A URC callback that raises does so here,
        once every event of these bytes has been dispatched."""
        self.bytes_in += len(data)
        parser = self.parser
        parser.feed(data)
        failed: list[Exception] = []
        for event in parser.events():
            if isinstance(event, Urc):
                self._urc(event, failed)
            elif isinstance(event, Data):
                self.data += event.data
            else:
                self.events.append(event)
        if failed:
            raise failed[0]

    def begin(self, command: bytes, phase: DataPhase | None, download: int, payload: bytes) -> None:
        """A command line goes out: its answer is the next events (``payload``: what will
        follow a ``>`` prompt, whose ATE1 echo is no answer)."""
        self.parser.begin(command, phase=phase, download=download, payload=payload)
        self.events.clear()

    def take_data(self) -> bytes:
        """The transparent-mode bytes received so far."""
        out = bytes(self.data)
        self.data.clear()
        return out

    def fresh_parser(self) -> None:
        """Forget any half-read answer (``sync()`` starts from a clean line)."""
        self.parser = DteParser()
        self.events.clear()

    def _urc(self, urc: Urc, failed: list[Exception]) -> None:
        line = urc.line
        if line == b"APP RDY":
            self.app_ready += 1
        elif line == b"RDY":  # the module restarted: every connection is gone
            self.boots += 1
            self.open_results.clear()
            for link in self.links.values():
                link.module_reset()
            self.links.clear()
        elif line.startswith(b"+QSSL"):
            m = OPEN_URC.match(line)
            if m:
                self.open_results[int(m.group(1))] = int(m.group(2))
            ssl_urc = SSL_URC.match(line)
            if ssl_urc:
                target = self.links.get(int(ssl_urc.group(2)))
                if target is not None:
                    if ssl_urc.group(1) == b"closed":
                        target.peer_closed()
                    else:
                        target.data_arrived(urc.data)
        self.urcs.append(urc)
        for callback in self.callbacks:
            try:
                callback(urc)
            except Exception as exc:
                failed.append(exc)


class SslLink:
    """One SSL connection's state: what was received and not yet handed out, whether the
    module holds more, how it ended. The faces (``SslConnection``, ``AsyncSslConnection``)
    show it; ``ssl_operations`` change it."""

    def __init__(self, core: ModemCore, client_id: int, access_mode: int) -> None:
        self.core = core
        self.client_id = client_id
        self.access_mode = access_mode
        self.opened = False  # +QSSLOPEN: <id>,0 (or CONNECT) came
        self.closed_by_peer = False
        self.closed = False
        self.buffer = bytearray()  # received and not yet handed to the caller
        self.module_has_data = True  # buffer mode: a QSSLRECV may find something
        self.tail = bytearray()  # transparent: bytes that may be the start of NO CARRIER
        self.tail_since = 0.0
        self.leaving = False  # +++ under way: its OK is not connection data
        self.face: object = None  # the SslConnection or AsyncSslConnection showing it

    # ---- what the module said ----------------------------------------------------------

    def data_arrived(self, data: bytes) -> None:
        if data:
            self.buffer += data  # push mode: the data came with the URC
        else:
            self.module_has_data = True

    def peer_closed(self) -> None:
        self.closed_by_peer = True

    def urcs_may_be_lost(self) -> None:
        """After ``sync()``: a ``+QSSLURC: "recv"`` may have gone by unread, and the module
        repeats it only once its buffer is read empty, so read at the next ``recv``."""
        self.module_has_data = True

    def module_reset(self) -> None:
        """The module restarted: the connection is gone without a word."""
        self.closed_by_peer = True
        self.closed = True
        self.module_has_data = False
        if self.access_mode == TRANSPARENT:
            self.core.parser.leave_transparent()
            self.access_mode = BUFFER

    # ---- transparent mode ----------------------------------------------------------------

    def pull_transparent(self) -> None:
        """Move transparent-mode bytes to the buffer. A tail that may be the module's
        ``NO CARRIER`` is held back until more data or a quiet ``SETTLE`` s decide it: data
        that happens to end the same way costs ``SETTLE`` s of latency, nothing else."""
        if self.leaving:
            return
        core = self.core
        now = core.clock()
        if core.data:
            self.tail += core.take_data()
            self.tail_since = now
        if not self.tail:
            return
        keep = _carrier_overlap(self.tail)
        if keep and now - self.tail_since >= SETTLE:
            if keep == len(NO_CARRIER) and core.parser.transparent:
                del self.tail[-keep:]
                self.buffer += self.tail
                self.tail.clear()
                self.carrier_lost()
                return
            keep = 0
        if keep < len(self.tail):
            cut = len(self.tail) - keep
            self.buffer += self.tail[:cut]
            del self.tail[:cut]

    def carrier_lost(self) -> None:
        """NO CARRIER: the server closed a transparent connection; the port is in command
        mode again and the socket waits for AT+QSSLCLOSE."""
        self.closed_by_peer = True
        self.module_has_data = False
        self.core.parser.leave_transparent()
        self.access_mode = BUFFER

    def take(self, size: int) -> bytes:
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out
