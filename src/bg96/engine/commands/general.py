"""General commands (V.25ter and 3GPP TS 27.007, as the BG96 AT Commands Manual gives them)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from ..cmdline import Command, Kind
from ..codes import Result
from ..outcome import ERROR, OK, Final, Outcome, Transparent, cme
from ..params import Param, ParamError, arity, decimal
from ..registry import WRITE, WRITE_EXEC, Handler, command
from ..state import S_DEFAULTS, Settings, SocketState
from . import pdp

if TYPE_CHECKING:
    from ..core import Engine

IPR_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
URC_PORTS = ("usbat", "usbmodem", "uart1")
TAC = "1A2B"
CELL_ID = "0B2C3D4E"
ACT_CATM1 = 8


def _basic_value(cmd: Command, allowed: tuple[int, ...]) -> int | None:
    """The number of a basic command (``ATE1``); bare means 0 (V.25ter); None if invalid."""
    if cmd.kind is Kind.EXEC:
        return 0
    if cmd.kind is not Kind.WRITE:
        return None
    value = decimal(cmd.args)
    return value if value in allowed else None


def _flag_command(attr: str, invert: bool = False) -> Handler:
    def handler(engine: Engine, cmd: Command) -> Outcome:
        value = _basic_value(cmd, (0, 1))
        if value is None:
            return ERROR
        setattr(engine.settings, attr, bool(value) != invert)
        return OK

    return handler


command("E")(_flag_command("echo"))
command("V")(_flag_command("verbose"))
command("Q")(_flag_command("quiet"))


@command("&C")
def amp_c(engine: Engine, cmd: Command) -> Outcome:
    value = _basic_value(cmd, (0, 1))
    if value is None:
        return ERROR
    engine.settings.amp_c = value
    return OK


@command("&D")
def amp_d(engine: Engine, cmd: Command) -> Outcome:
    value = _basic_value(cmd, (0, 1, 2))
    if value is None:
        return ERROR
    engine.settings.amp_d = value
    return OK


@command("&F")
def amp_f(engine: Engine, cmd: Command) -> Outcome:
    if _basic_value(cmd, (0,)) is None:
        return ERROR
    engine.settings = Settings()
    engine.cmee = 1
    engine.ctzr = 0
    return OK


@command("&W")
def amp_w(engine: Engine, cmd: Command) -> Outcome:
    if _basic_value(cmd, (0,)) is None:
        return ERROR
    engine.profile = engine.settings.copy()
    engine.saved_ipr = engine.ipr
    return OK


@command("Z")
def atz(engine: Engine, cmd: Command) -> Outcome:
    if _basic_value(cmd, (0,)) is None:
        return ERROR
    engine.settings = engine.profile.copy()
    return OK


@command("&V")
def amp_v(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is not Kind.EXEC:
        return ERROR
    s = engine.settings
    for line in (
        f"&C: {s.amp_c}",
        f"&D: {s.amp_d}",
        "&F: 0",
        "&W: 0",
        f"E: {int(s.echo)}",
        f"Q: {int(s.quiet)}",
        f"V: {int(s.verbose)}",
        f"X: {s.x}",
        "Z: 0",
        *(f"S{n}: {v}" for n, v in sorted(s.s.items())),
    ):
        engine.info(line)
    return OK


def _s_register(number: int) -> Handler:
    def handler(engine: Engine, cmd: Command) -> Outcome:
        registers = engine.settings.s
        if cmd.kind is Kind.READ:
            engine.info(f"{registers[number]:03d}")
            return OK
        if cmd.kind is Kind.TEST:
            engine.info(f"S{number}: (0-255)" if number == 0 else f"S{number}: (0-127)")
            return OK
        value = decimal(cmd.args)
        if cmd.kind is Kind.WRITE and value is not None and value <= 127:
            registers[number] = value
            return OK
        return ERROR

    return handler


for _number in S_DEFAULTS:
    command(f"S{_number}")(_s_register(_number))


@command("X", forms=WRITE_EXEC)
def atx(engine: Engine, cmd: Command) -> Outcome:
    value = _basic_value(cmd, (0, 1, 2, 3, 4))
    if value is None:
        return ERROR
    engine.settings.x = value
    return OK


@command("I")
def ati(engine: Engine, cmd: Command) -> Outcome:
    if _basic_value(cmd, (0,)) is None:
        return ERROR
    engine.info("Quectel")
    engine.info("BG96")
    engine.info(f"Revision: {engine.config.revision}")
    return OK


@command("O")
def ato(engine: Engine, cmd: Command) -> Outcome:
    if _basic_value(cmd, (0,)) is None:
        return ERROR
    cid = engine.last_transparent
    sock = engine.sockets.get(cid) if cid is not None else None
    if sock is None or sock.state is not SocketState.CONNECTED:
        engine.note("ATO: no open connection has left transparent mode")
        return Final(Result.NO_CARRIER)
    return Transparent(sock.client_id)


def _identity(value: str) -> Handler:
    def handler(engine: Engine, cmd: Command) -> Outcome:
        if cmd.kind is Kind.TEST:
            return OK
        if cmd.kind is not Kind.EXEC:
            return ERROR
        engine.info(value.format(c=engine.config))
        return OK

    return handler


for _names, _value in (
    (("+GMI", "+CGMI"), "Quectel"),
    (("+GMM", "+CGMM"), "BG96"),
    (("+GMR", "+CGMR"), "{c.revision}"),
    (("+QGMR",), "{c.sub_revision}"),
    (("+GSN", "+CGSN"), "{c.imei}"),
    (("+CIMI",), "{c.imsi}"),
    (("+QCCID",), "+QCCID: {c.iccid}"),
):
    command(*_names)(_identity(_value))


def _range_setting(name: str, attr: str, rng: str, allowed: tuple[int, ...]) -> Handler:
    """A plain numeric setting with test, read and write forms (AT+CMEE, AT+CTZR...)."""

    def handler(engine: Engine, cmd: Command) -> Outcome:
        if cmd.kind is Kind.TEST:
            engine.info(f"{name}: {rng}")
            return OK
        if cmd.kind is Kind.READ:
            engine.info(f"{name}: {getattr(engine, attr)}")
            return OK
        if cmd.kind is Kind.WRITE:
            params = cmd.params
            arity(params, 1, 1)
            setattr(engine, attr, params[0].choice(*allowed))
            return OK
        return ERROR

    return handler


command("+CMEE")(_range_setting("+CMEE", "cmee", "(0-2)", (0, 1, 2)))
command("+CTZR")(_range_setting("+CTZR", "ctzr", "(0-2)", (0, 1, 2)))  # kept in NV
command("+CTZU")(_range_setting("+CTZU", "ctzu", "(0,1)", (0, 1)))  # kept in NV


@command("+CPIN", test="")
def cpin(engine: Engine, cmd: Command) -> Outcome:
    if engine.cfun == 0:
        return cme(13)
    if cmd.kind is Kind.READ:
        engine.info("+CPIN: READY")
        return OK
    if cmd.kind is Kind.WRITE:
        return cme(3)  # no PIN is asked for
    return ERROR


@command("+CSQ", test="+CSQ: (0-31,99),(0-7,99)")
def csq(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is not Kind.EXEC:
        return ERROR
    engine.info("+CSQ: 24,99" if engine.registered else "+CSQ: 99,99")
    return OK


def registration_stat(engine: Engine) -> int:
    """1 registered (home), 2 searching (registration lost: a fault), 0 not searching."""
    if engine.registered:
        return 1
    return 2 if engine.cfun == 1 else 0


def registration_status(engine: Engine, name: str, n: int) -> str:
    stat = registration_stat(engine)
    if n >= 2 and engine.registered:
        return f'{stat},"{TAC}","{CELL_ID}",{ACT_CATM1}'
    return str(stat)


def _registration(name: str, attr: str, allowed: tuple[int, ...], rng: str) -> Handler:
    def handler(engine: Engine, cmd: Command) -> Outcome:
        if cmd.kind is Kind.TEST:
            engine.info(f"{name}: {rng}")
            return OK
        if cmd.kind is Kind.READ:
            n = getattr(engine.settings, attr)
            engine.info(f"{name}: {n},{registration_status(engine, name, n)}")
            return OK
        if cmd.kind is Kind.WRITE:
            params = cmd.params
            arity(params, 1, 1)
            setattr(engine.settings, attr, params[0].choice(*allowed))
            return OK
        return ERROR

    return handler


command("+CREG")(_registration("+CREG", "creg", (0, 1, 2), "(0-2)"))
command("+CGREG")(_registration("+CGREG", "cgreg", (0, 1, 2, 4), "(0-2,4)"))
command("+CEREG")(_registration("+CEREG", "cereg", (0, 1, 2, 4), "(0-2,4)"))


def registration_urcs(engine: Engine) -> None:
    """+CREG/+CGREG/+CEREG URCs for those the host enabled, after a status change."""
    for name, attr in (("+CREG", "creg"), ("+CGREG", "cgreg"), ("+CEREG", "cereg")):
        n = getattr(engine.settings, attr)
        if n:
            engine.urc(f"{name}: {registration_status(engine, name, n)}")


@command("+COPS")
def cops(engine: Engine, cmd: Command) -> Outcome:
    op = engine.config.operator
    if cmd.kind is Kind.TEST:
        engine.info(f'+COPS: (2,"{op}","{op}","00101",8),,(0-4),(0-2)')
        return OK
    if cmd.kind is Kind.READ:
        if engine.registered:
            engine.info(f'+COPS: 0,0,"{op}",{ACT_CATM1}')
        else:  # searching (automatic selection, no operator yet) or deregistered
            engine.info("+COPS: 0" if engine.cfun == 1 else "+COPS: 2")
        return OK
    if cmd.kind is Kind.WRITE:
        params = cmd.params
        arity(params, 1, 4)
        mode = params[0].num(0, 4)
        if mode in (0, 3, 4) or (mode == 1 and len(params) >= 3):
            return OK
        if mode == 2:
            return OK
        return ERROR
    return ERROR


@command("+CFUN", test="+CFUN: (0,1,4),(0,1)")
def cfun(engine: Engine, cmd: Command) -> Outcome:

    if cmd.kind is Kind.READ:
        engine.info(f"+CFUN: {engine.cfun}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 2)
    fun = params[0].choice(0, 1, 4)
    rst = params[1].num(0, 1) if len(params) == 2 else 0
    if rst and fun != 1:
        return ERROR
    if rst:
        engine.after_response(engine.reboot)
        return OK
    if fun == engine.cfun:
        return OK
    stat = registration_stat(engine)
    engine.cfun = fun
    if fun != 1:
        pdp.drop_all_contexts(engine)
    else:
        for urc in ("+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"):
            engine.urc(urc)
        start_attach(engine)
    if stat != registration_stat(engine):
        registration_urcs(engine)
    return OK


def start_attach(engine: Engine) -> None:
    """Registration takes ``config.attach_time`` (a network profile's attach delay): until
    then +CEREG says 2 (searching), then the registration URCs the host enabled."""
    delay = engine.config.attach_time
    if delay <= 0:
        engine.attached = True
        return
    engine.attached = False
    engine.attach_seq += 1
    seq = engine.attach_seq

    def attached() -> None:
        if seq != engine.attach_seq or engine.cfun != 1:
            return  # AT+CFUN=0 or a restart came first
        before = registration_stat(engine)
        engine.attached = True
        engine.note(f"registered on the network after {delay:g} s (network profile)")
        if before != registration_stat(engine):
            registration_urcs(engine)

    engine.call_later(delay, attached)


_CCLK = re.compile(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d)")


def format_clock(engine: Engine) -> str:
    local = engine.module_time() + engine.clock_tz * 900
    t = time.gmtime(local)
    sign = "+" if engine.clock_tz >= 0 else "-"
    return (
        f"{t.tm_year % 100:02d}/{t.tm_mon:02d}/{t.tm_mday:02d},"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{sign}{abs(engine.clock_tz):02d}"
    )


@command("+CCLK", test="")
def cclk(engine: Engine, cmd: Command) -> Outcome:
    from ..core import posix_from_fields

    if cmd.kind is Kind.READ:
        engine.info(f'+CCLK: "{format_clock(engine)}"')
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 1)
    match = _CCLK.fullmatch(params[0].string(32))
    if match is None:
        return ERROR
    yy, mo, dd, hh, mi, ss, tz = (int(g) for g in match.groups())
    if not (1 <= mo <= 12 and 1 <= dd <= 31 and hh < 24 and mi < 60 and ss < 60):
        return ERROR
    if not -48 <= tz <= 56:
        return ERROR
    posix = posix_from_fields(yy, mo, dd, hh, mi, ss, tz)
    if time.gmtime(posix + tz * 900).tm_mday != dd:
        return ERROR  # 31 February and friends
    engine.set_module_time(posix, tz)
    return OK


@command("+IPR", test=f"+IPR: (),({','.join(str(r) for r in IPR_RATES)})")
def ipr(engine: Engine, cmd: Command) -> Outcome:
    if cmd.kind is Kind.READ:
        engine.info(f"+IPR: {engine.ipr}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 1)
    engine.ipr = params[0].choice(*IPR_RATES)
    return OK


# AT+QCFG keys host drivers send at start-up (FIELD_NOTES; drivers read by code search):
# key -> (test-form ranges, default values). Values are kept in NV (a restart keeps them).
QCFG_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nwscanseq": ("(00-030201),(0,1)", ("020301",)),
    "nwscanmode": ("(0,1,3),(0,1)", ("0",)),
    "iotopmode": ("(0-2),(0,1)", ("2",)),
    "band": (
        "(0-F),(0-400A0E189F),(0-A0E189F),(0,1)",
        ("0xf", "0x400a0e189f", "0xa0e189f"),
    ),
    "servicedomain": ("(0-2),(0,1)", ("2",)),
    "nbsibscramble": ("(0,1)", ("0",)),
}
_SCAN_RATS = ("00", "01", "02", "03")  # auto, GSM, LTE Cat M1, LTE Cat NB1


def _qcfg_values(key: str, params: list[Param]) -> tuple[str, ...]:
    """The values of ``AT+QCFG="<key>",...`` as the read form prints them (the effect
    parameter after them is checked and dropped)."""
    count = len(QCFG_KEYS[key][1])
    values, rest = params[:count], params[count:]
    arity(rest, 0, 1)
    if rest:
        rest[0].choice(0, 1)  # <effect>: after reboot or at once; both take here
    if key == "nwscanseq":
        seq = values[0].text
        pairs = [seq[i : i + 2] for i in range(0, len(seq), 2)]
        if values[0].quoted or len(seq) % 2 or not pairs or any(p not in _SCAN_RATS for p in pairs):
            raise ParamError(f"not a scan sequence: {seq!r}")
        return (seq,)
    if key == "band":
        masks = []
        for value, limit in zip(values, (0xF, 0x400A0E189F, 0xA0E189F), strict=True):
            text = value.text.lower().removeprefix("0x")
            if value.quoted or not text or any(c not in "0123456789abcdef" for c in text):
                raise ParamError(f"not a band mask: {value.text!r}")
            mask = int(text, 16)
            if mask & ~limit and mask != 0x40000000:  # 0x40000000: no change
                raise ParamError(f"band mask {value.text} outside {limit:#x}")
            masks.append(f"{mask:#x}")
        return tuple(masks)
    ranges = {"nwscanmode": (0, 1, 3), "iotopmode": (0, 1, 2), "servicedomain": (0, 1, 2)}
    return (str(values[0].choice(*ranges.get(key, (0, 1)))),)


@command("+QCFG", forms=frozenset({Kind.TEST, Kind.WRITE}))
def qcfg(engine: Engine, cmd: Command) -> Outcome:
    """Extended configuration: the keys drivers set at start-up (scan order and mode, IoT
    mode, bands), checked and kept; a key this module does not know answers ERROR."""
    if cmd.kind is Kind.TEST:
        for key, (ranges, _) in QCFG_KEYS.items():
            engine.info(f'+QCFG: "{key}",{ranges}')
        return OK
    params = cmd.params
    if not params or not params[0].quoted:
        return ERROR
    key = params[0].text.lower()
    if key not in QCFG_KEYS:
        engine.note(f'AT+QCFG: key "{params[0].text}" is not one this module knows')
        return ERROR
    if len(params) == 1:
        engine.info(f'+QCFG: "{key}",' + ",".join(engine.qcfg.get(key, QCFG_KEYS[key][1])))
        return OK
    if len(params) - 1 < len(QCFG_KEYS[key][1]):
        return ERROR
    engine.qcfg[key] = _qcfg_values(key, list(params[1:]))
    return OK


@command("+IFC", test="+IFC: (0,2),(0,2)")
def ifc(engine: Engine, cmd: Command) -> Outcome:
    """Flow control: <dce_by_dte> (the host's RTS stops the module's output) and
    <dte_by_dce> (the module's CTS stops the host), 0 none or 2 hardware. It matters on a
    port paced at the AT+IPR rate (``--pace``): without CTS flow control the module drops
    what overflows its input buffer, as a real UART overruns. Unpaced, the port always
    flow-controls (docs/fidelity.md)."""
    if cmd.kind is Kind.READ:
        engine.info(f"+IFC: {engine.ifc[0]},{engine.ifc[1]}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 2)
    by_dte = params[0].choice(0, 2)
    by_dce = params[1].choice(0, 2) if len(params) == 2 else engine.ifc[1]
    engine.ifc = (by_dte, by_dce)
    return OK


@command("+QURCCFG", test='+QURCCFG: "urcport",("usbat","usbmodem","uart1")', forms=WRITE)
def qurccfg(engine: Engine, cmd: Command) -> Outcome:
    params = cmd.params
    arity(params, 1, 2)
    if params[0].string(16).lower() != "urcport":
        return ERROR
    if len(params) == 1:
        engine.info(f'+QURCCFG: "urcport","{engine.urcport}"')
        return OK
    port = params[1].string(16).lower()
    if port not in URC_PORTS:
        return ERROR
    engine.urcport = port
    return OK


@command("+CGATT", test="+CGATT: (0,1)")
def cgatt(engine: Engine, cmd: Command) -> Outcome:

    if cmd.kind is Kind.READ:
        engine.info(f"+CGATT: {engine.cgatt if engine.registered else 0}")
        return OK
    if cmd.kind is not Kind.WRITE:
        return ERROR
    params = cmd.params
    arity(params, 1, 1)
    value = params[0].choice(0, 1)
    if value == 1 and not engine.registered:
        return cme(30)  # no network service
    engine.cgatt = value
    if value == 0:
        pdp.drop_all_contexts(engine)
    return OK
