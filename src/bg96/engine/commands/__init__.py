"""Command handlers, one module per manual: general, PDP (TCP/IP), FILE, SSL, TCP/IP
sockets, HTTP(S), MQTT (mqtt_config: AT+QMTCFG), and the socket mechanics SSL and TCP/IP
share."""

from . import file, general, http, mqtt, mqtt_config, nettools, pdp, sockets, ssl, tcpip

__all__ = [
    "file",
    "general",
    "http",
    "mqtt",
    "mqtt_config",
    "nettools",
    "pdp",
    "sockets",
    "ssl",
    "tcpip",
]
