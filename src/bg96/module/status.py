"""The module's state as plain JSON: what the control endpoint's ``status`` op answers.

Stable like the trace schema: fields are only ever added (docs/monitor.md lists them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..engine import Engine
from ..engine.commands.general import registration_stat
from ..engine.commands.http_request import status as http_status
from ..engine.commands.mqtt import MqttLink
from ..engine.state import Mode, PdpContext, Socket

_UNSET_PDP = PdpContext()


def snapshot(engine: Engine) -> dict[str, Any]:
    """Registration, PDP contexts, the sockets in use, the MQTT clients with a link, the SSL
    contexts and the files."""
    running = engine.mode is not Mode.BOOTING  # powered on (a TCP module: a host came)
    return {
        "running": running,
        "registered": running and engine.registered,
        "stat": registration_stat(engine) if running else 0,
        "cfun": engine.cfun,
        "mode": engine.mode.value,
        "pdp": {cid: ctx.ip for cid, ctx in engine.pdp.items() if ctx.active},
        "pdp_contexts": [
            {
                "context_id": cid,
                "context_type": ctx.context_type,
                "apn": ctx.apn,
                "active": ctx.active,
                "ip": ctx.ip if ctx.active else "",
            }
            for cid, ctx in sorted(engine.pdp.items())
            if ctx.active or _configured(ctx)
        ],
        "sockets": [
            socket_status(s) for s in sorted(engine.sockets.values(), key=lambda s: s.client_id)
        ],
        "mqtt": [mqtt_status(link) for _, link in sorted(engine.mqtt.links.items())],
        "ssl_contexts": [
            {"ssl_ctx_id": i, **dataclasses.asdict(ctx)}
            for i, ctx in sorted(engine.ssl_ctx.items())
        ],
        "files": _files(engine),
        "http": http_status(engine),
        "uart": {
            "input_waiting": engine.config.uart_buffer - engine.input_room,
            "output_waiting": engine.output_waiting,
            "overruns": engine.uart_overruns,
            "urcs_dropped": engine.urc_drops,
        },
    }


def _files(engine: Engine) -> dict[str, int]:
    """Name -> size; an entry the store cannot size (a symlink in ``--files``) is left out."""
    sizes: dict[str, int] = {}
    for name in engine.store.names():
        try:
            size = engine.store.size(name)
        except (OSError, ValueError):
            continue
        if size is not None:
            sizes[name] = size
    return sizes


def socket_status(sock: Socket) -> dict[str, Any]:
    """One client ID in use."""
    return {
        "client_id": sock.client_id,
        "state": int(sock.state),
        "access_mode": int(sock.access_mode),
        "host": sock.host,
        "port": sock.port,
        "remote_ip": sock.remote_ip,
        "local_port": sock.local_port,
        "pdp_ctx": sock.pdp_ctx,
        "ssl_ctx": sock.ssl_ctx,
        "sent": sock.total_sent,
        "unsent": sock.unsent,
        "received": sock.total_received,
        "read": sock.total_read,
        "buffered": len(sock.recv),
        "service": sock.service.value,
        "host_port": sock.host_port,
    }


def mqtt_status(link: MqttLink) -> dict[str, Any]:
    """One MQTT client with a link (AT+QMTOPEN until +QMTSTAT, QMTDISC or QMTCLOSE)."""
    client = link.client
    return {
        "client": link.index,
        "host": link.host,
        "port": link.port,
        "tls": link.tls,
        "ssl_ctx": link.ssl_ctx if link.tls else None,
        "remote_ip": link.remote_ip,
        "state": "opening" if client is None else client.phase.name.lower(),
        "subscriptions": {} if client is None else dict(client.subscriptions),
        "in_flight": 0 if client is None else len(client.outstanding),
        "packets_sent": 0 if client is None else client.sent_packets,
        "packets_received": 0 if client is None else client.received_packets,
        "published": 0 if client is None else client.published,
        "delivered": 0 if client is None else client.delivered,
        "bytes_sent": link.bytes_sent,
        "bytes_received": link.bytes_received,
    }


def _configured(ctx: PdpContext) -> bool:
    """Set by AT+QICSGP (anything but the defaults)."""
    return (ctx.context_type, ctx.apn, ctx.username, ctx.auth) != (
        _UNSET_PDP.context_type,
        _UNSET_PDP.apn,
        _UNSET_PDP.username,
        _UNSET_PDP.auth,
    )
