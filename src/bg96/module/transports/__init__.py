"""Transports that carry the host's serial bytes: a pseudo-terminal or a TCP socket."""

from .base import HostSink, Transport
from .pty import PtyTransport
from .tcp import TcpTransport

__all__ = ["HostSink", "PtyTransport", "TcpTransport", "Transport"]
