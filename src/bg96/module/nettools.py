"""The real exchanges behind AT+QPING and AT+QNTP, from this machine.

**Ping.** An ICMP echo through an unprivileged ping socket (``SOCK_DGRAM``/``IPPROTO_ICMP``,
where ``net.ipv4.ping_group_range`` allows it), else a raw ICMP socket (root, with
``CAP_NET_RAW``). Where neither may be opened, the round trip of a TCP connect to the address
(port 7, echo: a SYN answered by SYN-ACK or RST) stands in, and the trace says so; its TTL is
reported as 64, the usual initial TTL. docs/fidelity.md has the choice.

**NTP.** One SNTP exchange (RFC 4330) over UDP: a 48-byte client request, the server's
transmit time corrected by half the round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import TypeVar

NTP_EPOCH = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (POSIX)
NTP_PACKET = 48
ECHO_PORT = 7
FALLBACK_TTL = 64
T = TypeVar("T")


# ---- SNTP, sans-IO -------------------------------------------------------------------------


def sntp_request(now: float) -> bytes:
    """A client request: LI 0, version 4, mode 3, its transmit time ``now`` (POSIX)."""
    seconds = int(now) + NTP_EPOCH
    fraction = int((now % 1) * 2**32)
    return struct.pack("!B39xII", 0x23, seconds, fraction)


def sntp_reply(request: bytes, now: float) -> bytes:
    """A server's answer to ``request`` (what the test stand-in sends): mode 4, stratum 1,
    the request's transmit time as originate time, ``now`` as receive and transmit time."""
    seconds = int(now) + NTP_EPOCH
    fraction = int((now % 1) * 2**32)
    stamp = struct.pack("!II", seconds, fraction)
    originate = request[40:48] if len(request) >= NTP_PACKET else b"\0" * 8
    head = struct.pack("!BBbb", 0x24, 1, 6, -20) + b"\0" * 8 + b"LOCL"
    return head + stamp + originate + stamp + stamp


def sntp_time(reply: bytes, sent: float, received: float) -> float | None:
    """The server's time now (POSIX) from its ``reply``, or None when it is no answer: its
    transmit time plus half the round trip the exchange took here."""
    if len(reply) < NTP_PACKET or reply[0] & 0x07 not in (4, 5):
        return None
    seconds, fraction = struct.unpack("!II", reply[40:48])
    if not seconds:
        return None
    transmit = float(seconds - NTP_EPOCH) + float(fraction) / 2**32
    return transmit + (received - sent) / 2


async def sntp_query(address: str, port: int, timeout: float) -> float | None:
    """One SNTP exchange; the server's time, or None when no answer came in ``timeout`` s."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[bytes, float]] = loop.create_future()

    class _Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
            if not answer.done():
                answer.set_result((data, time.time()))

    transport, _ = await loop.create_datagram_endpoint(_Client, remote_addr=(address, port))
    try:
        sent = time.time()
        transport.sendto(sntp_request(sent))
        try:
            reply, received = await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            return None
        return sntp_time(reply, sent, received)
    finally:
        transport.close()


# ---- ping ----------------------------------------------------------------------------------


async def _when_ready(sock: socket.socket, act: Callable[[], T], *, write: bool) -> T:
    """``act()`` on the non-blocking ``sock`` once it does not block. Through the loop's
    ``add_reader``/``add_writer``, which asyncio's and uvloop's loops both have (uvloop has no
    ``sock_sendto``/``sock_recvfrom``, and datagram endpoints take no raw socket)."""
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    while True:
        try:
            return act()
        except (BlockingIOError, InterruptedError):
            pass
        ready: asyncio.Future[None] = loop.create_future()

        def wake(ready: asyncio.Future[None] = ready) -> None:
            if not ready.done():
                ready.set_result(None)

        if write:
            loop.add_writer(fd, wake)
        else:
            loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            if write:
                loop.remove_writer(fd)
            else:
                loop.remove_reader(fd)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def echo_request(ident: int, seq: int, size: int) -> bytes:
    """An ICMP echo request with ``size`` bytes of data."""
    payload = bytes(i % 256 for i in range(size))
    header = struct.pack("!BBHHH", 8, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    checksum = _checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, checksum, ident & 0xFFFF, seq & 0xFFFF) + payload


def _icmp_socket() -> tuple[socket.socket, bool] | None:
    """An ICMP socket and whether it is raw (replies then carry the IP header), or None."""
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
        except OSError:
            continue
        sock.setblocking(False)
        return sock, raw
    return None


class Pinger:
    """Echoes for AT+QPING; ``method`` says which way this machine allows."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self._note = note
        self._ident = os.getpid() & 0xFFFF
        self.method = ""

    async def echo(
        self, address: str, seq: int, size: int, timeout: float
    ) -> tuple[int, int] | None:
        """One echo to ``address``: (round trip in ms, TTL), or None when none came back."""
        found = _icmp_socket() if ":" not in address else None
        if found is None:
            return await self._tcp_echo(address, timeout)
        sock, raw = found
        self._say("ICMP echo" + (" (raw socket)" if raw else ""))
        try:
            started = time.monotonic()
            request = echo_request(self._ident, seq, size)
            await _when_ready(sock, lambda: sock.sendto(request, (address, 0)), write=True)
            deadline = started + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    data = await asyncio.wait_for(
                        _when_ready(sock, lambda: sock.recv(65536), write=False), left
                    )
                except TimeoutError:
                    return None
                ttl = 64
                if raw:
                    ttl = data[8]
                    data = data[(data[0] & 0x0F) * 4 :]
                if len(data) < 8 or data[0] != 0:
                    continue  # not an echo reply
                ident, reply_seq = struct.unpack("!HH", data[4:8])
                if reply_seq != seq & 0xFFFF or (raw and ident != self._ident):
                    continue
                return max(1, round((time.monotonic() - started) * 1000)), ttl
            return None
        except OSError as exc:
            self._note(f"QPING: ICMP to {address} failed: {exc}")
            return None
        finally:
            sock.close()

    async def _tcp_echo(self, address: str, timeout: float) -> tuple[int, int] | None:
        """The stand-in where ICMP is not allowed: a TCP connect's round trip to port 7."""
        self._say(f"a TCP connect to port {ECHO_PORT} (this machine allows no ICMP socket)")
        started = time.monotonic()
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, ECHO_PORT), timeout)
        except ConnectionRefusedError:
            pass  # the RST came back: that is the round trip
        except (TimeoutError, OSError):
            return None
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return max(1, round((time.monotonic() - started) * 1000)), FALLBACK_TTL

    def _say(self, method: str) -> None:
        if method != self.method:
            self.method = method
            self._note(f"QPING: the echo is {method}")
