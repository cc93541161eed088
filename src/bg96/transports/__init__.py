"""Transports that carry the host's serial bytes: a pseudo-terminal or a TCP socket."""

from bg96.transports.base import HostSink, Transport
from bg96.transports.pty import PtyTransport
from bg96.transports.tcp import TcpTransport

__all__ = ["HostSink", "PtyTransport", "TcpTransport", "Transport"]
