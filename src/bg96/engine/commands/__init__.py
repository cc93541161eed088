"""Command handlers, one module per manual: general, PDP (TCP/IP), FILE, SSL, TCP/IP sockets,
HTTP(S), and the socket mechanics SSL and TCP/IP share."""

from . import file, general, http, nettools, pdp, sockets, ssl, tcpip

__all__ = ["file", "general", "http", "nettools", "pdp", "sockets", "ssl", "tcpip"]
