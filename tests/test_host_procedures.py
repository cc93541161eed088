"""The driver's procedures without I/O: a scripted module answers each line written, its bytes
are fed one at a time, and time is a virtual clock. What a procedure asks for (``Write``,
``Wait``, ``Sleep``, ``Claim``...) is checked as well as what it returns or raises."""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from typing import TypeVar

import pytest

from bg96.host import (
    DnsFailed,
    ModemError,
    ModemReset,
    ModemTimeout,
    NtpFailed,
    OpenFailed,
    PingFailed,
    PingReply,
    PingResult,
    UnexpectedResponse,
    http_operations,
    net_operations,
    operations,
    socket_operations,
)
from bg96.host.core import SSL, TCPIP, URC_QUEUE_LIMIT, ModemCore, Service
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


# ---- plain TCP, UDP, listeners: the TCP/IP family's commands and URCs ------------------------

QIGETERROR_563 = b"\r\n+QIGETERROR: 563,socket identity has been used\r\n" + OK


def test_a_tcp_connection_sends_and_reads_with_the_tcpip_commands() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"TCP","h",80,0,0\r': [OK + b"\r\n+QIOPEN: 0,0\r\n"],
            b"AT+QISEND=0,5\r": [b"\r\n> "],
            b"hello": [b'\r\nSEND OK\r\n\r\n+QIURC: "recv",0\r\n'],
            b"AT+QIRD=0,1500\r": [b"\r\n+QIRD: 5\r\nhello\r\n" + OK],
            b"AT+QICLOSE=0,10\r": [OK],
        }
    )
    link = module.run(operations.open_tcp(module.core, 0, "h", 80))
    assert (link.service, link.family, link.peer) == (Service.TCP, TCPIP, ("h", 80))
    module.run(socket_operations.send(link, b"hello"))
    assert module.run(socket_operations.recv(link, 100, timeout=1)) == b"hello"
    module.run(socket_operations.close(link))
    assert module.written() == [
        b'AT+QIOPEN=1,0,"TCP","h",80,0,0\r',
        b"AT+QISEND=0,5\r",
        b"hello",
        b"AT+QIRD=0,1500\r",
        b"AT+QICLOSE=0,10\r",
    ]
    assert module.core.links == {}


def test_urcs_of_the_other_family_do_not_reach_a_socket() -> None:
    module = ScriptedModule(
        {b'AT+QIOPEN=1,2,"TCP","h",80,0,1\r': [OK + b"\r\n+QIOPEN: 2,0\r\n"]}, chunk=64
    )
    link = module.run(operations.open_tcp(module.core, 2, "h", 80, access_mode=1))
    module.core.receive(b'\r\n+QSSLURC: "recv",2,2\r\nno\r\n\r\n+QSSLURC: "closed",2\r\n')
    module.core.receive(b'\r\n+QIURC: "recv",2,3\r\nyes\r\n')
    assert bytes(link.buffer) == b"yes" and not link.closed_by_peer
    module.core.receive(b'\r\n+QIURC: "closed",2\r\n')
    assert link.closed_by_peer


def test_create_connection_without_ssl_ctx_is_plain_tcp_and_skips_an_id_in_use() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"TCP","h",80,0,0\r': [OK + b"\r\n+QIOPEN: 0,563\r\n"],
            b"AT+QIGETERROR\r": [QIGETERROR_563],
            b'AT+QIOPEN=1,1,"TCP","h",80,0,0\r': [OK + b"\r\n+QIOPEN: 1,0\r\n"],
        }
    )
    link, timeout = module.run(operations.create_connection(module.core, ("h", 80), timeout=5))
    assert (link.client_id, link.family, timeout) == (1, TCPIP, 5)
    assert module.written()[-1] == b'AT+QIOPEN=1,1,"TCP","h",80,0,0\r'


def test_create_connection_with_ssl_ctx_stays_ssl() -> None:
    line = b'AT+QSSLOPEN=1,2,0,"h",443,0\r'
    module = ScriptedModule({line: [OK + b"\r\n+QSSLOPEN: 0,0\r\n"]})
    link, _ = module.run(operations.create_connection(module.core, ("h", 443), ssl_ctx=2))
    assert (link.service, link.family) == (Service.SSL, SSL)
    assert module.written() == [line]


def test_an_incoming_connection_that_takes_the_id_being_opened() -> None:
    """The module gives an incoming connection the highest free ID: if that is the one the
    host is opening, the incoming connection has it and the open fails with 563."""
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,2020,0\r': [OK + b"\r\n+QIOPEN: 0,0\r\n"],
            b'AT+QIOPEN=1,11,"TCP","h",80,0,0\r': [
                OK + b'\r\n+QIURC: "incoming",11,0,"10.0.0.9",5000\r\n' + b"\r\n+QIOPEN: 11,563\r\n"
            ],
            b"AT+QIGETERROR\r": [QIGETERROR_563],
        }
    )
    listener = module.run(operations.listen(module.core, 2020))
    with pytest.raises(OpenFailed) as failed:
        module.run(operations.open_tcp(module.core, 11, "h", 80))
    assert failed.value.code == 563 and failed.value.response == b"+QIOPEN: 11,563"
    incoming, peer = module.run(socket_operations.accept(listener, timeout=1))
    assert (incoming.client_id, incoming.service, peer) == (11, Service.TCP_INCOMING, peer)
    assert peer == ("10.0.0.9", 5000) and incoming.local_port == 2020
    assert module.core.links[11] is incoming and module.core.opening == {}


def test_data_for_a_connection_nobody_accepted_yet_is_kept() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,2020,1\r': [
                OK
                + b"\r\n+QIOPEN: 0,0\r\n"
                + b'\r\n+QIURC: "incoming",11,0,"10.0.0.9",5000\r\n'
                + b'\r\n+QIURC: "recv",11,2\r\nhi\r\n'
            ],
        },
        chunk=1000,
    )
    listener = module.run(operations.listen(module.core, 2020, access_mode=1))
    incoming, _ = module.run(socket_operations.accept(listener, timeout=1))
    assert incoming.access_mode == 1  # the listener's
    assert module.run(socket_operations.recv(incoming, 10, timeout=1)) == b"hi"
    with pytest.raises(ModemTimeout):
        module.run(socket_operations.accept(listener, timeout=2))
    assert module.now >= 2


def test_a_udp_service_reads_datagrams_with_their_senders() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"UDP SERVICE","127.0.0.1",0,3030,0\r': [OK + b"\r\n+QIOPEN: 0,0\r\n"],
            b"AT+QIRD=0\r": [
                b'\r\n+QIRD: 4,"10.7.76.34",7687\r\nAAAA\r\n' + OK,
                b"\r\n+QIRD: 0\r\n" + OK + b'\r\n+QIURC: "recv",0\r\n',
                b'\r\n+QIRD: 2,"10.7.76.35",7688\r\nBB\r\n' + OK,
            ],
            b'AT+QISEND=0,3,"10.7.89.10",6969\r': [b"\r\n> "],
            b"abc": [b"\r\nSEND OK\r\n"],
        }
    )
    service = module.run(operations.udp_service(module.core, 3030))
    assert (service.local_port, service.peer) == (3030, ("", 0))
    got = module.run(socket_operations.recvfrom(service, timeout=1))
    assert got == (b"AAAA", ("10.7.76.34", 7687))
    got = module.run(socket_operations.recvfrom(service, 1, timeout=1))  # as a socket: cut
    assert got == (b"B", ("10.7.76.35", 7688))
    assert module.run(socket_operations.sendto(service, b"abc", ("10.7.89.10", 6969))) == 3
    sent = len(module.written())
    for bad in (
        (b"abc", ("example.com", 53)),
        (b"", ("10.0.0.1", 53)),
        (b"x" * 1461, ("1.2.3.4", 9)),
    ):
        with pytest.raises(ValueError):
            module.run(socket_operations.sendto(service, *bad))
    assert len(module.written()) == sent  # checked before anything was sent


def test_pushed_datagrams_stay_apart() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"UDP SERVICE","127.0.0.1",0,3030,1\r': [
                OK
                + b"\r\n+QIOPEN: 0,0\r\n"
                + b'\r\n+QIURC: "recv",0,2,"1.2.3.4",9\r\nAA\r\n'
                + b'\r\n+QIURC: "recv",0,3,"1.2.3.5",10\r\nBBB\r\n'
            ],
        },
        chunk=1000,
    )
    service = module.run(operations.udp_service(module.core, 3030, access_mode=1))
    assert module.run(socket_operations.recvfrom(service, timeout=1)) == (b"AA", ("1.2.3.4", 9))
    assert module.run(socket_operations.recvfrom(service, timeout=1)) == (b"BBB", ("1.2.3.5", 10))


def test_a_udp_client_sends_and_receives_whole_datagrams() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"UDP","10.0.0.53",53,0,0\r': [OK + b"\r\n+QIOPEN: 0,0\r\n"],
            b"AT+QIRD=0,1500\r": [
                b"\r\n+QIRD: 5\r\nfirst\r\n" + OK,
                b"\r\n+QIRD: 6\r\nsecond\r\n" + OK,
            ],
            b"AT+QISEND=0,4\r": [b"\r\n> "],
            b"ping": [b"\r\nSEND OK\r\n"],
        }
    )
    link = module.run(operations.create_udp_connection(module.core, ("10.0.0.53", 53)))
    assert module.run(socket_operations.send_datagram(link, b"ping")) == 4
    assert module.run(socket_operations.recv_datagram(link, timeout=1)) == b"first"
    assert module.run(socket_operations.recv_datagram(link, 3, timeout=1)) == b"sec"
    with pytest.raises(ValueError, match="1-1460"):
        module.run(socket_operations.send_datagram(link, b""))  # AT+QISEND=0,0 asks totals
    with pytest.raises(ValueError, match="access_mode"):
        module.run(operations.create_udp_connection(module.core, ("h", 53), access_mode=2))


# ---- DNS, ping, NTP ------------------------------------------------------------------------


def test_dns_lookup_collects_the_dnsgip_lines() -> None:
    module = ScriptedModule(
        {
            b'AT+QIDNSGIP=1,"www.example.com"\r': [
                OK
                + b'\r\n+QIURC: "dnsgip",0,2,600\r\n'
                + b'\r\n+QIURC: "dnsgip","93.184.216.34"\r\n'
                + b'\r\n+QIURC: "dnsgip","93.184.216.35"\r\n'
            ]
        }
    )
    found = module.run(net_operations.dns_lookup(module.core, "www.example.com"))
    assert found == ["93.184.216.34", "93.184.216.35"]
    assert module.core.awaited == {}


def test_a_failed_lookup_is_dns_failed_with_its_code() -> None:
    module = ScriptedModule(
        {
            b'AT+QIDNSGIP=1,"nowhere.test"\r': [OK + b'\r\n+QIURC: "dnsgip",565\r\n'],
            b"AT+QIGETERROR\r": [b"\r\n+QIGETERROR: 565,DNS parse failed\r\n" + OK],
        }
    )
    with pytest.raises(DnsFailed) as failed:
        module.run(net_operations.dns_lookup(module.core, "nowhere.test"))
    assert (failed.value.code, failed.value.text) == (565, "DNS parse failed")
    assert failed.value.response == b'+QIURC: "dnsgip",565'
    assert module.core.awaited == {}


PING = b'AT+QPING=1,"www.example.com",4,4\r'
ECHO = b'\r\n+QPING: 0,"93.184.216.34",32,%d,255\r\n'


def test_ping_returns_the_replies_and_the_summary() -> None:
    urcs = (
        ECHO % 596 + ECHO % 341 + ECHO % 400 + ECHO % 320 + b"\r\n+QPING: 0,4,4,0,320,596,414\r\n"
    )
    module = ScriptedModule({PING: [OK + urcs]})
    result = module.run(net_operations.ping(module.core, "www.example.com"))
    assert isinstance(result, PingResult)
    assert [r.time_ms for r in result.replies] == [596, 341, 400, 320]
    assert result.replies[0] == PingReply("93.184.216.34", 32, 596, 255)
    assert (result.sent, result.received, result.lost, result.errors) == (4, 4, 0, ())
    assert (result.min_ms, result.max_ms, result.avg_ms, result.ip) == (
        320,
        596,
        414,
        "93.184.216.34",
    )
    assert module.core.awaited == {}


def test_echoes_that_time_out_are_lost_not_a_failure() -> None:
    urcs = (
        b"\r\n+QPING: 569\r\n" + ECHO % 90 + b"\r\n+QPING: 569\r\n" * 2 + b"\r\n+QPING: 0,4,1,3\r\n"
    )
    module = ScriptedModule({PING: [OK + urcs]})
    result = module.run(net_operations.ping(module.core, "www.example.com"))
    assert (result.sent, result.received, result.lost) == (4, 1, 3)
    assert result.errors == (569, 569, 569) and len(result.replies) == 1
    assert (result.min_ms, result.max_ms, result.avg_ms) == (None, None, None)  # not given
    lost = b"\r\n+QPING: 569\r\n" * 4 + b"\r\n+QPING: 0,4,0,4,0,0,0\r\n"
    module = ScriptedModule({PING: [OK + lost]})
    result = module.run(net_operations.ping(module.core, "www.example.com"))
    assert result.received == 0 and result.ip is None and result.min_ms is None


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (OK + b"\r\n+QPING: 565\r\n", 565),  # the name is unknown
        (OK + b"\r\n+QPING: 561\r\n", 561),  # the context is not active
        (OK + ECHO % 5 + b"\r\n+QPING: 552\r\n", 552),
        (OK + b"\r\n+QPING: 569\r\n" * 5, 569),  # more timeouts than echoes asked for
        (b"\r\nERROR\r\n", 561),  # refused at once: AT+QIGETERROR says why
    ],
    ids=["dns", "pdp", "after-a-reply", "too-many-timeouts", "error"],
)
def test_a_ping_that_fails_is_ping_failed_with_the_code(answer: bytes, code: int) -> None:
    error = b"\r\n+QIGETERROR: %d,some text\r\n" % code + OK
    module = ScriptedModule({PING: [answer], b"AT+QIGETERROR\r": [error]})
    with pytest.raises(PingFailed) as failed:
        module.run(net_operations.ping(module.core, "www.example.com"))
    assert (failed.value.code, failed.value.text) == (code, "some text")
    assert failed.value.command == PING.decode().rstrip("\r")
    assert module.core.awaited == {}


def test_a_ping_result_may_overtake_its_ok() -> None:
    line = b'AT+QPING=1,"1.2.3.4",1,1\r'
    answer = ECHO % 7 + b"\r\n+QPING: 0,1,1,0,7,7,7\r\n" + OK
    module = ScriptedModule({line: [answer]})
    result = module.run(net_operations.ping(module.core, "1.2.3.4", timeout=1, count=1))
    assert result.received == 1 and result.avg_ms == 7


def test_ping_arguments_are_checked_and_silence_times_out() -> None:
    module = ScriptedModule({})
    for kwargs in ({"count": 11}, {"count": 0}, {"timeout": 256}, {"timeout": 0}):
        with pytest.raises(ValueError):
            module.run(net_operations.ping(module.core, "h", **kwargs))
    assert module.requests == []
    module = ScriptedModule({b'AT+QPING=1,"h",2,3\r': [OK]})
    with pytest.raises(ModemTimeout) as timeout:
        module.run(net_operations.ping(module.core, "h", timeout=2, count=3))
    assert timeout.value.waited == 2 * 3 + net_operations.PING_SLACK
    assert module.core.awaited == {}


def test_malformed_ping_lines_are_unexpected() -> None:
    module = ScriptedModule({PING: [OK + b'\r\n+QPING: 0,"x"\r\n']})
    with pytest.raises(UnexpectedResponse) as bad:
        module.run(net_operations.ping(module.core, "www.example.com"))
    assert bad.value.response == b'+QPING: 0,"x"'


NTP = b'AT+QNTP=1,"pool.ntp.org",123\r'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b'+QNTP: 0,"2013/08/19,11:10:10+32"',
            dt.datetime(2013, 8, 19, 11, 10, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        ),
        (
            b'+QNTP: 0,"2024/02/29,23:59:59-14"',
            dt.datetime(
                2024, 2, 29, 23, 59, 59, tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=30))
            ),
        ),
        (b'+QNTP: 0,"2025/01/01,00:00:00+00"', dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_ntp_sync_returns_the_time_with_its_zone(line: bytes, expected: dt.datetime) -> None:
    module = ScriptedModule({NTP: [OK + b"\r\n" + line + b"\r\n"]})
    got = module.run(net_operations.ntp_sync(module.core, "pool.ntp.org"))
    assert got == expected and got.utcoffset() == expected.utcoffset()


def test_ntp_failures_carry_the_code() -> None:
    module = ScriptedModule(
        {
            NTP: [OK + b"\r\n+QNTP: 565\r\n"],
            b"AT+QIGETERROR\r": [b"\r\n+QIGETERROR: 565,DNS parse failed\r\n" + OK],
        }
    )
    with pytest.raises(NtpFailed) as failed:
        module.run(net_operations.ntp_sync(module.core, "pool.ntp.org"))
    assert (failed.value.code, failed.value.response) == (565, b"+QNTP: 565")
    for bad in (b'+QNTP: 0,"2013/02/30,11:10:10+32"', b"+QNTP: 0", b'+QNTP: 0,"soon"'):
        module = ScriptedModule({NTP: [OK + b"\r\n" + bad + b"\r\n"]})
        with pytest.raises(UnexpectedResponse):
            module.run(net_operations.ntp_sync(module.core, "pool.ntp.org"))
        assert module.core.awaited == {}


def test_the_urc_queue_keeps_the_newest_and_counts_the_rest() -> None:
    core = ModemCore()
    for n in range(URC_QUEUE_LIMIT + 500):
        core.receive(b"\r\n+CEREG: %d\r\n" % n)
    assert len(core.urcs) == URC_QUEUE_LIMIT and core.urcs_dropped == 500
    assert core.urcs[0].line == b"+CEREG: 500"


def test_one_lookup_at_a_time() -> None:
    core = ModemCore()
    core.await_urcs(b"+QPING:")
    with pytest.raises(ModemError, match="one at a time"):
        core.await_urcs(b"+QPING:")
    core.stop_awaiting(b"+QPING:")
    core.await_urcs(b"+QPING:")


def test_a_connection_that_comes_while_its_listener_closes_is_closed_too() -> None:
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,2020,0\r': [OK + b"\r\n+QIOPEN: 0,0\r\n"],
            b"AT+QICLOSE=0,10\r": [b'\r\n+QIURC: "incoming",11,0,"10.0.0.9",5000\r\n' + OK],
            b"AT+QICLOSE=11,10\r": [OK],
        }
    )
    listener = module.run(operations.listen(module.core, 2020))
    module.run(socket_operations.close(listener))
    assert module.written()[-2:] == [b"AT+QICLOSE=0,10\r", b"AT+QICLOSE=11,10\r"]
    assert module.core.links == {}


def test_a_download_into_a_file_reports_its_growth_as_it_goes() -> None:
    url = b"http://10.0.0.1/fw.bin"
    module = ScriptedModule(
        {
            b"AT+QHTTPURL=%d,60\r" % len(url): [b"\r\nCONNECT\r\n"],
            url: [OK],
            b"AT+QHTTPGET=60\r": [OK + b"\r\n+QHTTPGET: 0,200,3000\r\n"],
            b'AT+QHTTPREADFILE="fw.bin",60\r': [OK],
            # each poll finds the file bigger; the last one comes with the result
            b'AT+QFLST="fw.bin"\r': [
                b'\r\n+QFLST: "fw.bin",1000\r\n' + OK,
                b'\r\n+QFLST: "fw.bin",2500\r\n' + OK + b"\r\n+QHTTPREADFILE: 0\r\n",
            ],
        },
        chunk=64,
    )
    seen: list[tuple[int, int]] = []
    proc = http_operations.http_download(
        module.core, url.decode(), "fw.bin", progress=lambda done, total: seen.append((done, total))
    )
    assert module.run(proc) == http_operations.HttpResponse(200, 3000)
    assert seen == [(0, 3000), (1000, 3000), (2500, 3000), (3000, 3000)]
    assert module.written().count(b'AT+QFLST="fw.bin"\r') == 2
    assert module.now >= 2 * http_operations.POLL


def test_sync_finds_an_incoming_connection_whose_urc_it_cut_short() -> None:
    """A resync drops a half-read line: an ``"incoming"`` URC lost that way is not repeated,
    so sync asks AT+QISTATE and queues the connection for ``accept()``, once (a late URC for
    it adds nothing)."""
    listener_line = b'+QISTATE: 0,"TCP LISTENER","127.0.0.1",0,2020,3,1,0,0,"uart1"'
    incoming_line = b'+QISTATE: 11,"TCP INCOMING","10.0.0.9",5000,2020,2,1,0,0,"uart1"'
    module = ScriptedModule(
        {
            b'AT+QIOPEN=1,0,"TCP LISTENER","127.0.0.1",0,2020,0\r': [OK + b"\r\n+QIOPEN: 0,0\r\n"],
            b"AT\r": [OK],
            b"ATE0\r": [OK],
            b"AT+CMEE=1\r": [OK],
            b"AT+QISTATE\r": [
                b"\r\n" + listener_line + b"\r\n" + incoming_line + b"\r\n" + OK
                + b'\r\n+QIURC: "incoming",11,0,"10.0.0.9",5000\r\n'
            ],
        },
        chunk=1000,
    )  # fmt: skip
    listener = module.run(operations.listen(module.core, 2020))
    module.run(operations.sync(module.core))
    assert module.written()[-1] == b"AT+QISTATE\r"
    incoming, peer = module.run(socket_operations.accept(listener, timeout=1))
    assert (incoming.client_id, incoming.service, peer) == (11, Service.TCP_INCOMING, peer)
    assert peer == ("10.0.0.9", 5000) and module.core.links[11] is incoming
    with pytest.raises(ModemTimeout):  # the late URC queued nothing more
        module.run(socket_operations.accept(listener, timeout=1))


def test_sync_asks_for_incoming_connections_only_with_a_listener_open() -> None:
    module = ScriptedModule({b"AT\r": [OK], b"ATE0\r": [OK], b"AT+CMEE=1\r": [OK]})
    module.run(operations.sync(module.core))
    assert b"AT+QISTATE\r" not in module.written()
