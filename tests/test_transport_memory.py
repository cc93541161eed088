"""The in-memory port: a module and an ``AsyncModem`` on one loop, bounded buffers both ways,
one host at a time, and either end closing."""

from __future__ import annotations

import asyncio
import random

import pytest

from bg96 import AsyncModem, PortClosed, VirtualModule
from bg96.module.transports.memory import HIGH, MemoryTransport
from bg96.testing import TestPki
from bg96.testing.tls_server import TlsEchoServer

from .aio import run
from .sinks import RecordingSink


async def started() -> tuple[MemoryTransport, RecordingSink, list[bytes], list[str]]:
    transport = MemoryTransport()
    sink = RecordingSink()
    await transport.start(sink)
    got: list[bytes] = []
    ends: list[str] = []
    transport.host_attach(got.append, lambda: ends.append("closed"))
    return transport, sink, got, ends


def test_bytes_cross_in_order_and_the_host_attaching_is_reported() -> None:
    async def main() -> None:
        transport, sink, got, _ = await started()
        assert sink.events == ["connected"]
        transport.host_write(b"AT\r")
        assert bytes(sink.data) == b"AT\r"  # at once
        transport.write(b"\r\nOK")
        transport.write(b"\r\n")
        assert got == []  # on the next loop iteration, as one chunk
        await asyncio.sleep(0)
        assert got == [b"\r\nOK\r\n"]
        transport.host_set_dtr(False)
        transport.host_detach()
        assert sink.events[-2:] == ["lines dtr=False rts=True", "disconnected"]
        transport.write(b"nobody")  # no host: the runner's bytes go nowhere
        await asyncio.sleep(0)
        assert got == [b"\r\nOK\r\n"]
        await transport.close()

    run(main)


def test_a_host_that_does_not_read_pauses_the_runner_until_it_reads() -> None:
    async def main() -> None:
        transport, sink, got, _ = await started()
        transport.host_pause_reading()
        data = random.Random(1).randbytes(3 * HIGH)
        for offset in range(0, len(data), 1000):
            transport.write(data[offset : offset + 1000])
        await asyncio.sleep(0)
        assert got == []
        assert sink.events[-1] == "pause writing"
        transport.host_resume_reading()
        await asyncio.sleep(0)
        assert b"".join(got) == data
        assert sink.events[-1] == "resume writing"
        await transport.close()

    run(main)


def test_a_module_that_does_not_read_holds_the_host_in_drain() -> None:
    async def main() -> None:
        transport, sink, _, _ = await started()
        transport.pause_reading()
        data = random.Random(2).randbytes(2 * HIGH)
        transport.host_write(data)
        drain = asyncio.ensure_future(transport.host_drain())
        await asyncio.sleep(0)
        assert not drain.done() and not sink.data
        transport.resume_reading()
        await asyncio.wait_for(drain, 1)
        assert bytes(sink.data) == data
        await transport.close()

    run(main)


def test_closing_the_module_ends_the_host_and_a_second_host_is_refused() -> None:
    async def main() -> None:
        transport, _, _, ends = await started()
        with pytest.raises(ConnectionRefusedError):
            transport.host_attach(lambda data: None, lambda: None)
        await transport.close()
        assert ends == ["closed"]
        with pytest.raises(ConnectionResetError):
            transport.host_write(b"AT\r")

    run(main)


# ---- an AsyncModem on it -------------------------------------------------------------------


def test_an_async_modem_attached_in_memory_opens_tls_and_echoes_past_the_buffers() -> None:
    pki = TestPki()
    payload = random.Random(3).randbytes(40_000)

    async def main() -> None:
        async with (
            TlsEchoServer(pki.server_ctx()) as echo,
            VirtualModule(transport="memory", system_resolver=False) as vm,
            await AsyncModem.attach(vm) as modem,
        ):
            await modem.sync()
            assert (await modem.identify())[:2] == ["Quectel", "BG96"]
            await modem.activate()
            await modem.upload("ca.pem", pki.ca_pem)
            await modem.ssl_config(1, seclevel=1, cacert="ca.pem")
            conn = await modem.open_ssl(0, "127.0.0.1", echo.port, ssl_ctx=1)
            back = bytearray()
            for offset in range(0, len(payload), 1460):
                await conn.send(payload[offset : offset + 1460])
                back += await conn.recv(1500, timeout=5)
            while len(back) < len(payload):
                chunk = await conn.recv(1500, timeout=5)
                assert chunk
                back += chunk
            assert bytes(back) == payload
            await conn.close()
            with pytest.raises(PortClosed):
                await AsyncModem.attach(vm)
        assert not vm.memory_port().attached

    run(main)


def test_a_host_waiting_on_a_module_that_stops_gets_port_closed() -> None:
    async def main() -> None:
        vm = VirtualModule(transport="memory", system_resolver=False)
        await vm.start()
        modem = await AsyncModem.attach(vm)
        await modem.sync()
        waiting = asyncio.ensure_future(modem.wait_urc(b"+QIURC", timeout=10))
        await asyncio.sleep(0)
        await vm.stop()
        with pytest.raises(PortClosed):
            await asyncio.wait_for(waiting, 2)
        await modem.close()

    run(main)


def test_a_memory_module_has_no_url() -> None:
    async def main() -> None:
        async with VirtualModule(transport="memory") as vm:
            with pytest.raises(RuntimeError, match="attach"):
                _ = vm.url

    run(main)
