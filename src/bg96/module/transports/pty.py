"""A pseudo-terminal transport: the host opens ``/dev/pts/N`` as if it were the modem's UART.

Limits of a pty (Linux only): it cannot tell when a host opens or closes the device, so
``host_connected`` is reported once at start and ``host_disconnected`` never; and it carries
no DTR/RTS/DCD lines (only the RFC 2217 transport will). The slave is put in raw mode so every
byte value passes unchanged in both directions.

This process keeps a slave fd open for its whole life: reads on the master then never fail
with EIO when the host closes the device, and the host can close and reopen it at will.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
from pathlib import Path

from .base import HostSink

WRITE_HIGH = 1 << 16
"""Bytes queued here for a host that does not read (beyond the kernel's pty buffer) before
the runner is asked to stop writing; nothing is ever dropped."""
WRITE_LOW = 1 << 14

_READ_SIZE = 1 << 16


def make_raw(fd: int) -> None:
    """Put a terminal in raw mode like cfmakeraw(3), also clearing software flow control.

    No echo, no line editing or signals, no CR/LF translation, 8 bits, no XON/XOFF (which
    would eat 0x11/0x13 or inject them).
    """
    attrs = termios.tcgetattr(fd)
    iflag, oflag, cflag, lflag = attrs[0], attrs[1], attrs[2], attrs[3]
    iflag &= ~(
        termios.IGNBRK
        | termios.BRKINT
        | termios.PARMRK
        | termios.ISTRIP
        | termios.INLCR
        | termios.IGNCR
        | termios.ICRNL
        | termios.IXON
        | termios.IXOFF
        | termios.IXANY
        | termios.INPCK
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB)
    cflag |= termios.CS8 | termios.CREAD
    attrs[0], attrs[1], attrs[2], attrs[3] = iflag, oflag, cflag, lflag
    cc = attrs[6]
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class PtyTransport:
    """Serve the host through a new pty; optionally symlink ``link`` to the slave device."""

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self.description = ""
        self.path = ""
        self._sink: HostSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master = -1
        self._slave = -1
        self._pending = bytearray()
        self._link_made = False
        self._closed = False
        self._reading = True
        self._write_paused = False

    @property
    def buffered(self) -> int:
        """Bytes waiting in this process for the host to read (beyond the kernel's buffer)."""
        return len(self._pending)

    async def start(self, sink: HostSink) -> None:
        """Open the pty, make the link, then report ``host_connected``."""
        self._loop = asyncio.get_running_loop()
        self._sink = sink
        master, slave = os.openpty()
        try:
            make_raw(slave)
            os.set_blocking(master, False)
            path = os.ttyname(slave)
            if self.link is not None:
                _replace_symlink(self.link, path)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave
        self._link_made = self.link is not None
        self.path = self.description = path
        self._loop.add_reader(master, self._on_readable)
        sink.host_connected()

    def write(self, data: bytes) -> None:
        """Write to the master; what the pty cannot take now is queued (never dropped) and
        the runner is asked to stop above ``WRITE_HIGH``."""
        if self._master < 0 or not data:
            return
        if self._pending:
            self._queue(data)
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return  # the pty is unusable; nothing sensible to do with the bytes
        if written < len(data):
            self._queue(memoryview(data)[written:])
            assert self._loop is not None
            self._loop.add_writer(self._master, self._on_writable)

    async def close(self) -> None:
        """Close both ends and remove the link; unsent bytes are dropped."""
        if self._closed:
            return
        self._closed = True
        if self._master >= 0:
            assert self._loop is not None
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
        self._pending.clear()
        if self._link_made and self.link is not None:
            self._link_made = False
            with contextlib.suppress(OSError):
                if self.link.is_symlink() and os.readlink(self.link) == self.path:
                    self.link.unlink()

    def _queue(self, data: bytes | memoryview) -> None:
        self._pending += data
        if len(self._pending) > WRITE_HIGH and not self._write_paused and self._sink is not None:
            self._write_paused = True
            self._sink.host_pause_writing()

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            if self._master >= 0:
                assert self._loop is not None
                self._loop.remove_reader(self._master)

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            if self._master >= 0:
                assert self._loop is not None
                self._loop.add_reader(self._master, self._on_readable)

    def _on_writable(self) -> None:
        try:
            written = os.write(self._master, self._pending)
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pending)
        del self._pending[:written]
        if not self._pending:
            assert self._loop is not None
            self._loop.remove_writer(self._master)
        if self._write_paused and len(self._pending) <= WRITE_LOW and self._sink is not None:
            self._write_paused = False
            self._sink.host_resume_writing()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            # Cannot happen while we hold the slave open; stop polling rather than spin.
            assert self._loop is not None
            self._loop.remove_reader(self._master)
            return
        if self._sink is not None:
            self._sink.host_data(data)


def _replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target``, replacing a symlink but never a real file."""
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise FileExistsError(errno.EEXIST, "refusing to replace a non-symlink", str(link))
    os.symlink(target, link)
