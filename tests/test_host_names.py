"""Host names from the host: NUL, control bytes and names no resolver reads as written are
refused before any lookup (``params.check_host``), by AT+QSSLOPEN and AT+QIDNSGIP alike."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bg96 import VirtualModule
from bg96.engine import Connect, Resolve
from bg96.engine.params import ParamError, check_host
from bg96.testing.at_client import AtClient

from .aio import run, until
from .helpers import Module

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
INVALID = b"\r\n+QIGETERROR: 552,invalid parameters\r\n" + OK

REFUSED = [
    "localhost\x00.evil",  # a C resolver stops at the NUL: localhost
    "\x00",
    "example.com\x00",
    "exam\x01ple.com",
    "example.com\x1b",
    "exam\tple.com",
    "example\x7f.com",
    "a" * 64 + ".com",  # a label over 63
    ".".join(["a" * 63] * 4),  # 255 characters
    "a..b",
    ".example.com",
    ".",
    "example.com..",
    "exa mple.com",
    "example.com\\000",  # resolvers read \DDD escapes
    "a\\.b",
    "*.example.com",
    "example.com:443",
    "2130706433",  # inet_aton: 127.0.0.1
    "0x7f000001",
    "0x7f.1",
    "127.1",
    "010.0.0.1",
    "1.2.3.4.5",
    "1.2.3.4.",
    "example.123",
    "[::1]",
    "fe80::1%eth0",  # a zone ID names an interface of the host machine
    "::g",
]
ACCEPTED = [
    "example.com",
    "example.com.",  # rooted
    "_mqtt._tcp.example.com",
    "xn--bcher-kva.example",
    "localhost",
    "a" * 63 + ".com",
    ".".join(["a" * 63] * 3 + ["a" * 61]),  # 253 characters
    "10.0.0.1",
    "::1",
    "2001:db8::1",
    "3com.net",
    "123.example",
]


def module_with_pdp() -> Module:
    m = Module()
    m.activate()
    m.intents()
    return m


@pytest.mark.parametrize("host", REFUSED, ids=repr)
@pytest.mark.parametrize("mode", [0, 1, 2])
def test_qsslopen_refuses_an_address_with_control_bytes_or_no_resolvable_form(
    host: str, mode: int
) -> None:
    m = module_with_pdp()
    line = f'AT+QSSLOPEN=1,1,0,"{host}",443,{mode}'.encode("latin-1")
    assert m.send(line + b"\r") == line + b"\r" + ERROR  # echoed byte for byte, NUL too
    assert m.intents() == []  # nothing looked up, nothing connected
    assert m.cmd("AT+QIGETERROR") == b"AT+QIGETERROR\r" + INVALID
    assert m.cmd("AT+QSSLSTATE") == b"AT+QSSLSTATE\r" + OK  # the ID stays free
    assert any(n.startswith("AT+QSSLOPEN: ") and "server address" in n for n in m.notes)


def test_qsslopen_with_a_nul_in_the_name_names_the_byte_in_the_trace() -> None:
    m = module_with_pdp()
    assert m.cmd("ATE0") == b"ATE0\r" + OK
    assert m.cmd('AT+QSSLOPEN=1,1,0,"localhost\x00.evil",443,0') == ERROR
    assert m.intents() == []
    assert m.notes[-1] == "AT+QSSLOPEN: server address contains the control byte 0x00"
    assert m.cmd('AT+QSSLOPEN=1,1,0,"localhost",443,0') == OK  # the same line without it
    (connect,) = m.intents()
    assert isinstance(connect, Connect) and connect.host == "localhost"


@pytest.mark.parametrize("host", ACCEPTED, ids=repr)
def test_qsslopen_takes_names_and_addresses_as_written(host: str) -> None:
    m = module_with_pdp()
    assert m.cmd("ATE0") == b"ATE0\r" + OK
    assert m.cmd(f'AT+QSSLOPEN=1,1,0,"{host}",443,0') == OK
    (connect,) = m.intents()
    assert isinstance(connect, Connect) and connect.host == host


@pytest.mark.parametrize("host", REFUSED, ids=repr)
def test_qidnsgip_refuses_the_same_names(host: str) -> None:
    m = module_with_pdp()
    assert m.cmd("ATE0") == b"ATE0\r" + OK
    assert m.cmd(f'AT+QIDNSGIP=1,"{host}"') == ERROR
    assert m.intents() == []
    assert m.cmd("AT+QIGETERROR") == INVALID
    assert m.cmd('AT+QIDNSGIP=1,"example.com"') == OK  # no lookup was left pending (564)
    (lookup,) = m.intents()
    assert isinstance(lookup, Resolve) and lookup.host == "example.com"


@pytest.mark.parametrize("host", ACCEPTED, ids=repr)
def test_qidnsgip_looks_up_names_as_written(host: str) -> None:
    m = module_with_pdp()
    assert m.cmd("ATE0") == b"ATE0\r" + OK
    assert m.cmd(f'AT+QIDNSGIP=1,"{host}"') == OK
    (lookup,) = m.intents()
    assert isinstance(lookup, Resolve) and lookup.host == host


@given(st.text(st.characters(max_codepoint=0x7F)), st.sampled_from("\x00\x01\x0a\x0d\x1f\x7f"))
def test_no_name_with_a_control_byte_gets_through(text: str, control: str) -> None:
    for name in (control + text, text + control, text[:3] + control + text[3:]):
        with pytest.raises(ParamError):
            check_host(name)


@given(st.text(st.characters(max_codepoint=0x7F)))
def test_a_name_that_passes_is_one_a_resolver_reads_as_written(text: str) -> None:
    try:
        host = check_host(text)
    except ParamError:
        return
    assert host == text
    assert all(0x20 < ord(c) < 0x7F and c not in '\\" %,' for c in host)
    labels = host.removesuffix(".").split(".")
    assert ":" in host or (
        len(host.removesuffix(".")) <= 253 and all(0 < len(x) <= 63 for x in labels)
    )


def test_end_to_end_no_connection_and_no_lookup_for_a_name_with_a_nul() -> None:
    """Through the real runner and the host's resolver, which would read the name as
    ``localhost`` and connect to this listener."""

    async def main() -> None:
        accepted: list[int] = []

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer.get_extra_info("peername")[1])
            writer.close()

        listener = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        module = VirtualModule()  # the system resolver: "localhost" is 127.0.0.1
        await module.start()
        at = await AtClient.connect("127.0.0.1", int(module.url.rsplit(":", 1)[1]))
        try:
            await at.read_until(b"+QIND: SMS DONE\r\n")
            assert await at.command("ATE0") == b"ATE0\r" + OK
            assert await at.command("AT+QIACT=1") == OK
            for mode in (0, 1, 2):
                line = f'AT+QSSLOPEN=1,1,0,"localhost\x00.evil",{port},{mode}'
                assert await at.command(line) == ERROR
                assert await at.command("AT+QIGETERROR") == INVALID
            assert await at.command('AT+QIDNSGIP=1,"localhost\x00.evil"') == ERROR
            assert await at.command("AT+QSSLSTATE") == OK
            # the same open without the NUL reaches the listener: it would have been seen
            assert await at.command(f'AT+QSSLOPEN=1,1,0,"localhost",{port},0') == OK
            await until(lambda: len(accepted) == 1)
            assert await at.wait_urc(b"+QSSLOPEN: ") == b"+QSSLOPEN: 0,566"  # no TLS there
            assert await at.command("AT+QSSLCLOSE=0") == OK
            assert len(accepted) == 1
        finally:
            await at.close()
            await module.stop()
            listener.close()
            await listener.wait_closed()

    run(main)
