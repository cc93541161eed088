"""AT+QMTCFG (MQTT Application Note 3.2.1, MQTT_COMMANDS.md section 2): the six MQTT
clients' settings, their ranges, defaults and query forms. The settings apply at the next
QMTOPEN (``"pdpcid"``, ``"ssl"``) or QMTCONN (the rest)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...protocol.mqtt import Will, valid_topic_name
from ..cmdline import Command
from ..mqtt_client import Options
from ..outcome import ERROR, OK, Outcome
from ..params import Param, ParamError, arity
from ..registry import WRITE, command

if TYPE_CHECKING:
    from ..core import Engine

CLIENTS = 6
MAX_TOPIC = 256
MAX_RECV_PACKET = 10240  # a larger packet from the broker ends the link (unverified)

_CFG_TEST = (
    '+QMTCFG: "version",(0-5),(3,4)',
    '+QMTCFG: "pdpcid",(0-5),(1-16)',
    '+QMTCFG: "ssl",(0-5),(0,1),(0-5)',
    '+QMTCFG: "keepalive",(0-5),(0-3600)',
    '+QMTCFG: "session",(0-5),(0,1)',
    '+QMTCFG: "prefix",(0-5),<ip_prefix>,<prefix_length>',
    '+QMTCFG: "timeout",(0-5),(1-60),(1-10),(0,1)',
    '+QMTCFG: "will",(0-5),(0,1),(0-2),(0,1),"willtopic","willmessage"',
    '+QMTCFG: "recv/mode",(0-5),(0,1),(0,1)',
    '+QMTCFG: "aliauth",(0-5),"productkey","devicename","devicesecret"',
)


@dataclass
class MqttConfig:
    """One client's AT+QMTCFG settings (defaults: MQTT_COMMANDS.md section 2)."""

    version: int = 4
    pdpcid: int = 1
    ssl: int = 0
    ssl_ctx: int = 0
    keepalive: int = 120
    session: int = 1  # 1: clean session
    prefix: tuple[str, int] = ("", 0)
    pkt_timeout: int = 5
    retry_times: int = 3
    timeout_notice: int = 0
    will: tuple[int, int, int, str, str] = (0, 0, 0, "", "")  # fg, qos, retain, topic, msg
    recv_mode: tuple[int, int] = (0, 0)  # msg_recv_mode, msg_len_enable
    aliauth: tuple[str, str, str] = ("", "", "")

    def options(self) -> Options:
        fg, qos, retain, topic, msg = self.will
        will = Will(topic, msg.encode("latin-1"), qos, bool(retain)) if fg else None
        return Options(
            version=self.version,
            keepalive=self.keepalive,
            clean_session=bool(self.session),
            pkt_timeout=self.pkt_timeout,
            retry_times=self.retry_times,
            timeout_notice=bool(self.timeout_notice),
            will=will,
            max_packet=MAX_RECV_PACKET,
        )


def client_index(param: Param) -> int:
    return param.num(0, CLIENTS - 1)


# ---- AT+QMTCFG -------------------------------------------------------------------------------


@command("+QMTCFG", test=_CFG_TEST, forms=WRITE)
def qmtcfg(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    if not params:
        raise ParamError("no key")
    asked = params[0].string(16)
    key = asked.lower()
    setter = _CFG.get(key)
    if setter is None:
        engine.note(f'AT+QMTCFG: key "{asked}" is not known to this BG96 firmware')
        return ERROR
    if len(params) < 2:
        raise ParamError(f'"{asked}" needs a client index')
    cfg = engine.mqtt.config[client_index(params[1])]
    values = params[2:]
    if not values:
        engine.info(f'+QMTCFG: "{asked}",{_CFG_QUERY[key](cfg)}')
        return OK
    setter(cfg, values)
    return OK


def _set_version(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 1)
    cfg.version = v[0].choice(3, 4)


def _set_pdpcid(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 1)
    cfg.pdpcid = v[0].num(1, 16)


def _set_ssl(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 2)
    enable = v[0].num(0, 1)
    if enable and len(v) < 2:
        raise ParamError("enabling SSL needs the SSL context index")
    cfg.ssl = enable
    if len(v) == 2:
        cfg.ssl_ctx = v[1].num(0, 5)


def _set_keepalive(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 1)
    cfg.keepalive = v[0].num(0, 3600)


def _set_session(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 1)
    cfg.session = v[0].num(0, 1)


def _set_prefix(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 2, 2)
    cfg.prefix = (v[0].string(64), v[1].num(0, 128))


def _set_timeout(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 3)
    pkt = v[0].num(1, 60)
    retry = v[1].num(0, 10) if len(v) > 1 and not v[1].omitted else cfg.retry_times
    notice = v[2].num(0, 1) if len(v) > 2 else cfg.timeout_notice
    cfg.pkt_timeout, cfg.retry_times, cfg.timeout_notice = pkt, retry, notice


def _set_will(cfg: MqttConfig, v: list[Param]) -> None:
    fg = v[0].num(0, 1)
    if not fg:
        arity(v, 1, 5)
        cfg.will = (0, *cfg.will[1:])
        return
    arity(v, 5, 5)
    qos, retain = v[1].num(0, 2), v[2].num(0, 1)
    topic, msg = v[3].string(MAX_TOPIC), v[4].string(MAX_TOPIC)
    if not valid_topic_name(topic):
        raise ParamError(f"will topic {topic!r} is not a topic a PUBLISH may name")
    cfg.will = (1, qos, retain, topic, msg)


def _set_recv_mode(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 1, 2)
    mode = v[0].num(0, 1)
    if mode == 1:
        raise ParamError("recv/mode 1 (messages kept for AT+QMTRECV) is not in this firmware")
    cfg.recv_mode = (mode, v[1].num(0, 1) if len(v) > 1 else cfg.recv_mode[1])


def _set_aliauth(cfg: MqttConfig, v: list[Param]) -> None:
    arity(v, 3, 3)
    cfg.aliauth = (v[0].string(64), v[1].string(64), v[2].string(64))


_CFG: dict[str, Callable[[MqttConfig, list[Param]], None]] = {
    "version": _set_version,
    "pdpcid": _set_pdpcid,
    "ssl": _set_ssl,
    "keepalive": _set_keepalive,
    "session": _set_session,
    "prefix": _set_prefix,
    "timeout": _set_timeout,
    "will": _set_will,
    "recv/mode": _set_recv_mode,
    "aliauth": _set_aliauth,
}


def _will_query(c: MqttConfig) -> str:
    fg, qos, retain, topic, msg = c.will
    return f'{fg},{qos},{retain},"{topic}","{msg}"' if fg else "0"


# the query answers omit the client index, as the application note shows them
_CFG_QUERY: dict[str, Callable[[MqttConfig], str]] = {
    "version": lambda c: str(c.version),
    "pdpcid": lambda c: str(c.pdpcid),
    "ssl": lambda c: f"{c.ssl},{c.ssl_ctx}" if c.ssl else "0",
    "keepalive": lambda c: str(c.keepalive),
    "session": lambda c: str(c.session),
    "prefix": lambda c: f'"{c.prefix[0]}",{c.prefix[1]}',
    "timeout": lambda c: f"{c.pkt_timeout},{c.retry_times},{c.timeout_notice}",
    "will": _will_query,
    "recv/mode": lambda c: f"{c.recv_mode[0]},{c.recv_mode[1]}",
    "aliauth": lambda c: ",".join(f'"{x}"' for x in c.aliauth),
}
