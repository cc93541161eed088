"""Transports that carry the host's serial bytes: a pseudo-terminal, a TCP socket, or memory."""

from .base import HostSink, Transport
from .memory import MemoryTransport
from .pty import PtyTransport
from .tcp import TcpTransport

__all__ = ["HostSink", "MemoryTransport", "PtyTransport", "TcpTransport", "Transport"]
