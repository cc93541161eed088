"""Command handlers, one module per manual: general, PDP (TCP/IP), FILE, SSL."""

from . import file, general, pdp, ssl

__all__ = ["file", "general", "pdp", "ssl"]
