"""The driver's procedures without I/O: a scripted module answers each line written, its bytes
are fed one at a time, and time is a virtual clock. What a procedure asks for (``Write``,
``Wait``, ``Sleep``, ``Claim``...) is checked as well as what it returns or raises."""

from __future__ import annotations

import time
from collections import deque
from typing import TypeVar

import pytest

from bg96.host import ModemReset, ModemTimeout, OpenFailed, operations
from bg96.host.core import ModemCore
from bg96.host.requests import CLAIM, RELEASE, Procedure, Request, Sleep, Wait, Write

T = TypeVar("T")
OK = b"\r\nOK\r\n"


class ScriptedModule:
    """Runs procedures: a line written gets the next of its scripted answers, fed ``chunk``
    bytes per ``Wait``; a ``Wait`` with nothing to feed, or a ``Sleep``, moves the clock on."""

    def __init__(
        self, answers: dict[bytes, list[bytes]], *, shared: bool = False, chunk: int = 1
    ) -> None:
        self.chunk = chunk
        self.now = 0.0
        self.core = ModemCore(clock=lambda: self.now, shared=shared)
        self.answers = {line: deque(replies) for line, replies in answers.items()}
        self.pending = bytearray()
        self.requests: list[Request] = []

    def run(self, proc: Procedure[T]) -> T:
        try:
            request = proc.send(None)
            while True:
                self.requests.append(request)
                if isinstance(request, Write):
                    replies = self.answers.get(request.data)
                    if replies:
                        self.pending += replies.popleft()
                elif isinstance(request, Wait):
                    if self.pending:
                        self.core.receive(bytes(self.pending[: self.chunk]))
                        del self.pending[: self.chunk]
                    else:
                        self.now += request.timeout or 0.02
                elif isinstance(request, Sleep):
                    self.now += request.seconds
                request = proc.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def written(self) -> list[bytes]:
        return [r.data for r in self.requests if isinstance(r, Write)]


def test_identify_from_bytes_fed_one_at_a_time() -> None:
    module = ScriptedModule(
        {b"ATI\r": [b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n" + OK]}
    )
    assert module.run(operations.identify(module.core)) == [
        "Quectel",
        "BG96",
        "Revision: BG96MAR02A07M1G",
    ]
    assert module.written() == [b"ATI\r"]
    assert CLAIM not in module.requests  # one thread alone: nothing to claim


def test_a_shared_core_claims_the_port_for_each_command() -> None:
    module = ScriptedModule({b"AT+CSQ\r": [b"\r\n+CSQ: 24,99\r\n" + OK]}, shared=True)
    assert module.run(operations.query(module.core, "AT+CSQ", "+CSQ:")) == ["24,99"]
    assert module.requests[0] is CLAIM and module.requests[-1] is RELEASE


def test_settings_are_checked_before_anything_is_asked_for() -> None:
    module = ScriptedModule({})
    with pytest.raises(ValueError, match="seclevel"):
        module.run(operations.ssl_config(module.core, 1, version=3, seclevel=7))
    assert module.requests == []


def test_a_silent_module_times_out_on_the_clock_it_is_given() -> None:
    module = ScriptedModule({})
    started = time.monotonic()
    with pytest.raises(ModemTimeout) as timeout:
        module.run(operations.activate(module.core, 1))  # the manual allows AT+QIACT 150 s
    assert timeout.value.command == "AT+QIACT=1" and timeout.value.waited == 150.0
    assert 150.0 <= module.now < 151.0
    assert time.monotonic() - started < 1.0  # no real time passed


def test_wait_registered_polls_with_sleeps() -> None:
    searching = b"\r\n+CEREG: 0,2\r\n" + OK
    module = ScriptedModule({b"AT+CEREG?\r": [searching, searching, b"\r\n+CEREG: 0,5\r\n" + OK]})
    assert module.run(operations.wait_registered(module.core, timeout=10, poll=2.0)) == 5
    assert [r.seconds for r in module.requests if isinstance(r, Sleep)] == [2.0, 2.0]


def test_push_data_right_behind_the_open_result_reaches_the_connection() -> None:
    """The connection exists before the open's URC: data pushed in the same read is kept."""
    line = b'AT+QSSLOPEN=1,0,3,"h",443,1\r'
    answer = OK + b'\r\n+QSSLOPEN: 3,0\r\n\r\n+QSSLURC: "recv",3,5\r\nhello\r\n'
    module = ScriptedModule({line: [answer]}, chunk=len(answer))  # all of it in one read
    link = module.run(operations.open_ssl(module.core, 3, "h", 443, access_mode=1))
    assert link.opened and bytes(link.buffer) == b"hello"


def test_an_open_failure_asks_qigeterror_and_frees_the_id() -> None:
    module = ScriptedModule(
        {
            b'AT+QSSLOPEN=1,0,0,"h",443,0\r': [OK + b"\r\n+QSSLOPEN: 0,566\r\n"],
            b"AT+QIGETERROR\r": [b"\r\n+QIGETERROR: 566,socket connect failed\r\n" + OK],
        }
    )
    with pytest.raises(OpenFailed) as failed:
        module.run(operations.open_ssl(module.core, 0, "h", 443))
    assert (failed.value.code, failed.value.text) == (566, "socket connect failed")
    assert module.core.links == {}


def test_a_restart_during_a_command_is_modem_reset() -> None:
    module = ScriptedModule({b"AT+QSSLSTATE\r": [b"\r\nRDY\r\n"]})
    with pytest.raises(ModemReset):
        module.run(operations.ssl_state(module.core))
    assert module.core.boots == 1
