"""What ``bg96 monitor`` shows, as plain strings: a ``status`` answer and trace events in,
table rows and log lines out (the control endpoint's JSON, docs/monitor.md). No textual here,
so all of it is tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..module.trace import escape, split_lines

Row = tuple[str, tuple[str, ...]]
"""A table row: its key and its cells."""

CLIENT_IDS = range(12)
ACCESS_MODES = {0: "buffer", 1: "push", 2: "transparent"}
SOCKET_STATES = {0: "initial", 1: "opening", 2: "connected", 3: "listening", 4: "closing"}
SERVICES = {"TCP LISTENER": "listen", "UDP SERVICE": "udp svc", "TCP INCOMING": "incoming"}
SSL_VERSIONS = {0: "SSL3.0", 1: "TLS1.0", 2: "TLS1.1", 3: "TLS1.2", 4: "all"}
SECLEVELS = {0: "none", 1: "server", 2: "mutual"}
REGISTRATION = {0: "not registered", 1: "registered", 2: "searching"}
MARKERS = {"host": ">>", "module": "<<", "note": "--"}

SOCKET_COLUMNS = ("ID", "mode", "state", "sent", "received", "buffered", "remote")
SSL_COLUMNS = ("ctx", "version", "suite", "seclevel", "cacert", "cert", "key")
FILE_COLUMNS = ("file", "size")

MAX_EVENT_LINES = 40  # log lines one trace event may take; the rest is counted
MAX_LINE = 300  # characters of one log line


def summary(status: Mapping[str, Any]) -> str:
    """Registration, CFUN and the engine's mode on one line."""
    if not status or status.get("running") is False:
        return "the module is not running (over TCP it powers on when a host connects)"
    stat = int(status.get("stat", 1 if status.get("registered") else 0))
    name = REGISTRATION.get(stat, "unknown")
    return f"{name} (stat {stat}) · CFUN={status.get('cfun', '?')} · {status.get('mode', '?')}"


def pdp_summary(status: Mapping[str, Any]) -> str:
    """The PDP contexts that are active or configured: ID, APN, IP."""
    parts = []
    for ctx in status.get("pdp_contexts", []):
        apn = f' "{ctx["apn"]}"' if ctx.get("apn") else ""
        state = ctx["ip"] if ctx.get("active") else "inactive"
        parts.append(f"PDP {ctx['context_id']}{apn}: {state}")
    return " · ".join(parts) if parts else "no PDP context active"


def http_row(status: Mapping[str, Any]) -> Row | None:
    """The HTTP client's request under way or its last response, as a socket-table row
    (ID ``http``): the command, its stage and status, body bytes so far, the URL."""
    http = status.get("http") or {}
    req = http.get("request")
    if not req:
        return None
    state = str(req["stage"])
    if req.get("status") is not None:
        state += f" {req['status']}"
    if req.get("error"):
        state += f" error {req['error']}"
    length = req.get("content_length")
    received = str(req["received"]) + ("" if length is None else f"/{length}")
    if req.get("reading"):
        received += f" to {req['reading']}"
    cells = (
        "http",
        str(req["command"]).removeprefix("QHTTP"),
        state,
        "",
        received,
        str(req.get("buffered", "")),
        str(http.get("url", "")),
    )
    return ("http", cells)


def socket_rows(status: Mapping[str, Any], *, free: bool = True) -> list[Row]:
    """The 12 client IDs in order, those no socket uses ``free`` (left out with ``free``
    False, for a short terminal). The server comes last: a long name is what may be cut."""
    used = {int(s["client_id"]): s for s in status.get("sockets", [])}
    rows: list[Row] = []
    for cid in CLIENT_IDS:
        sock = used.get(cid)
        if sock is None:
            if free:
                rows.append((str(cid), (str(cid), "", "free", "", "", "", "")))
            continue
        rows.append(
            (
                str(cid),
                (
                    str(cid),
                    ACCESS_MODES.get(int(sock["access_mode"]), str(sock["access_mode"])),
                    SOCKET_STATES.get(int(sock["state"]), str(sock["state"])),
                    str(sock.get("sent", "")),
                    str(sock.get("received", "")),
                    str(sock.get("buffered", "")),
                    _remote(sock),
                ),
            )
        )
    http = http_row(status)
    if http is not None:
        rows.append(http)
    return rows


def mqtt_rows(status: Mapping[str, Any]) -> list[Row]:
    """The MQTT clients with a link, under the sockets (the same columns: the buffered
    column counts subscriptions, the remote names the broker)."""
    rows: list[Row] = []
    for c in status.get("mqtt", []):
        scheme = "mqtts" if c.get("tls") else "mqtt"
        subs = c.get("subscriptions", {})
        rows.append(
            (
                f"mqtt{c['client']}",
                (
                    f"MQTT {c['client']}",
                    f"{len(subs)} subs" if subs else "",
                    str(c.get("state", "")),
                    str(c.get("published", "")),
                    str(c.get("delivered", "")),
                    str(c.get("in_flight", "")),
                    f"{scheme}://{c['host']}:{c['port']}",
                ),
            )
        )
    return rows


def _remote(sock: Mapping[str, Any]) -> str:
    """The other end: a server (SSL sockets as they always were shown), a plain socket's
    kind first, a listener's module port and where it is reached on this machine."""
    service = str(sock.get("service", "SSLClient"))
    if service in ("TCP LISTENER", "UDP SERVICE"):
        return f"{SERVICES[service]} :{sock.get('local_port', '')} at :{sock.get('host_port', '')}"
    where = f"{sock['host']}:{sock['port']}"
    if service == "SSLClient":
        return where
    return f"{SERVICES.get(service, service.lower())} {where}"


def sockets_summary(status: Mapping[str, Any]) -> str:
    """How many of the 12 client IDs are in use (and MQTT clients with a link, if any)."""
    text = f"client IDs in use: {len(status.get('sockets', []))} of {len(CLIENT_IDS)}"
    mqtt = status.get("mqtt", [])
    return f"{text} · MQTT clients: {len(mqtt)} of 6" if mqtt else text


def ssl_rows(status: Mapping[str, Any]) -> list[Row]:
    """The SSL contexts' main settings (AT+QSSLCFG)."""
    rows: list[Row] = []
    for ctx in status.get("ssl_contexts", []):
        suite = int(ctx["ciphersuite"])
        rows.append(
            (
                str(ctx["ssl_ctx_id"]),
                (
                    str(ctx["ssl_ctx_id"]),
                    SSL_VERSIONS.get(int(ctx["sslversion"]), str(ctx["sslversion"])),
                    "all" if suite == 0xFFFF else f"0X{suite:04X}",
                    SECLEVELS.get(int(ctx["seclevel"]), str(ctx["seclevel"])),
                    str(ctx.get("cacert", "")),
                    str(ctx.get("clientcert", "")),
                    str(ctx.get("clientkey", "")),
                ),
            )
        )
    return rows


def file_rows(status: Mapping[str, Any]) -> list[Row]:
    """The UFS files by name, with their sizes in bytes."""
    files: Mapping[str, int] = status.get("files", {})
    return [(name, (name, str(size))) for name, size in sorted(files.items())]


def trace_lines(item: Mapping[str, Any]) -> list[str]:
    """Log lines for one object of a trace stream: an event, or a count of dropped ones."""
    if "dropped" in item and "event" not in item:
        return [f"{'':>10} -- {item['dropped']} trace events dropped (the monitor fell behind)"]
    event = item.get("event", item)
    kind = str(event.get("kind", "?"))
    stamp = f"{float(event.get('t', 0.0)):10.3f}"
    if kind in ("tls_out", "tls_in"):
        marker = f"{event.get('client', '?')}{'>' if kind == 'tls_out' else '<'}"
    else:
        marker = MARKERS.get(kind, "??")
    if "hex" in event:
        pieces = [escape(line) for line in split_lines(bytes.fromhex(str(event["hex"])))]
    else:
        pieces = str(event.get("text", "")).split("\n")
    lines = [f"{stamp} {marker} {_clip(piece)}" for piece in pieces[:MAX_EVENT_LINES]]
    if len(pieces) > MAX_EVENT_LINES:
        lines.append(f"{stamp} {marker} ... {len(pieces) - MAX_EVENT_LINES} more lines")
    return lines


def fault_outcome(line: str, answer: Mapping[str, Any]) -> tuple[str, bool]:
    """What to tell the user about a fault line sent: (the message, whether it failed)."""
    if answer.get("ok"):
        return f"fault sent: {line}", False
    return f"fault refused: {answer.get('error', 'no reason given')}", True


def _clip(text: str) -> str:
    if len(text) <= MAX_LINE:
        return text
    return f"{text[:MAX_LINE]}... (+{len(text) - MAX_LINE} chars)"
