"""A virtual Quectel BG96: the SSL AT command set over real TLS, on a pty or a TCP port."""

__version__ = "0.1.0"
