"""Reading the module's answers: response times, error codes and the information lines the
driver's operations parse (``+QIACT:``, ``+QFLST:``, ``+QSSLSTATE:``, ``+QISTATE:``, file
checksums...), and the URCs of the TCP/IP services (``+QIURC: "dnsgip"``, ``+QPING:``,
``+QNTP:``).

Pure functions of a command line and its ``Response`` (or a URC line); the procedures call
them, both faces share them.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from ..protocol.checksum import checksum
from .errors import CommandError, UnexpectedResponse
from .parser import Response

# Maximum response times (seconds) from the BG96 manuals; the rest answer within 300 ms.
MAX_RESPONSE = {
    "+QIACT": 150.0,
    "+QIDEACT": 40.0,
    "+QSSLOPEN": 150.0,
    "+QIOPEN": 150.0,
    "+QIDNSGIP": 60.0,
    "+CFUN": 15.0,
    "+COPS": 180.0,
    "+CPIN": 5.0,
    "+CGATT": 140.0,
    "+QNTP": 125.0,
}
DEFAULT_RESPONSE = 0.3
QI_COMMANDS = ("+QI", "+QSSL", "+QPING", "+QNTP")  # their ERROR is explained by AT+QIGETERROR
REGISTERED = (1, 5)  # +CEREG <stat>: home, roaming
SUITE_CODES = frozenset(
    {0x0035, 0x002F, 0x0005, 0x0004, 0x000A, 0x003D, 0xC011, 0xC012}
    | {0xC013, 0xC014, 0xC027, 0xC028, 0xC02F, 0xFFFF}
)

_COMMAND = re.compile(r"AT([+&$%^][A-Za-z0-9_]+)", re.IGNORECASE)
_CME_ANY = re.compile(rb"\+CM[ES] ERROR: *(\d+)?(.*)")  # numeric (CMEE=1) or verbose (CMEE=2)
_QIGETERROR = re.compile(rb"\+QIGETERROR: (\d+),\s*(.*)")
_QIACT = re.compile(rb'\+QIACT: (\d+),(\d+),(\d+),"([^"]*)"')
_CEREG = re.compile(rb"\+CEREG: *\d+,(\d+)")
_QFLST = re.compile(rb'\+QFLST: "([^"]*)",(\d+)\Z')
_FILE_SUM = re.compile(rb"\+QF(?:UPL|DWL): (\d+),([0-9a-fA-F]{1,4})\Z")
_STATE = re.compile(
    rb'\+QSSLSTATE: (\d+),"SSLClient","([^"]*)",(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),"([^"]*)",(\d+)'
)
_IP_STATE = re.compile(
    rb'\+QISTATE: (\d+),"([^"]*)","([^"]*)",(\d+),(\d+),(\d+),(\d+),(\d+),(\d+),"([^"]*)"'
)
_RECV_HEAD = re.compile(rb'\+Q(?:SSLRECV|IRD): (\d+)(?:,"([^"]*)",(\d+))?\Z')
_DNS_HEAD = re.compile(rb'\+QIURC: "dnsgip",(\d+)(?:,(\d+),(\d+))?\Z')
_DNS_ADDRESS = re.compile(rb'\+QIURC: "dnsgip","([^"]*)"\Z')
_PING_REPLY = re.compile(rb'\+QPING: (\d+),"([^"]*)",(\d+),(\d+),(\d+)\Z')
_PING_SUMMARY = re.compile(rb"\+QPING: (\d+),(\d+),(\d+),(\d+)(?:,(\d+),(\d+),(\d+))?\Z")
_PING_ERROR = re.compile(rb"\+QPING: (\d+)\Z")
_NTP = re.compile(rb'\+QNTP: (\d+)(?:,"(\d{4})/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-])(\d\d)")?\Z')


def command_name(line: str) -> str:
    """``AT+QIACT=1`` -> ``+QIACT``; ``ATI`` -> ``ATI``."""
    m = _COMMAND.match(line)
    return m.group(1).upper() if m else line[:3].upper()


def response_timeout(line: str, min_timeout: float) -> float:
    """The manual's maximum response time: the long ones are for the write and execution
    forms (``AT+QIACT=1``); read and test forms (``AT+QIACT?``) answer at once, except
    ``AT+COPS=?``, a network scan. Never less than ``min_timeout``."""
    return max(min_timeout, _max_response(line))


@functools.lru_cache(maxsize=512)
def _max_response(line: str) -> float:
    """Per line, remembered: drivers send the same few lines again and again."""
    name = command_name(line)
    quick = line.endswith("?") and not (name == "+COPS" and line.endswith("=?"))
    return DEFAULT_RESPONSE if quick else MAX_RESPONSE.get(name, DEFAULT_RESPONSE)


def cme_error(line: str, response: Response) -> CommandError | None:
    """The exception for a ``+CME ERROR`` final (numeric or verbose), or None."""
    cme = _CME_ANY.match(response.final)
    if cme is None:
        return None
    number, text = cme.group(1), cme.group(2).strip().decode("latin-1")
    return CommandError(line, response.raw(), int(number) if number else None, text)


def explained_by_qigeterror(line: str) -> bool:
    """A TCP/IP or SSL command: AT+QIGETERROR says why its ``ERROR`` came."""
    return command_name(line).startswith(QI_COMMANDS)


def cereg_stat(response: Response) -> int:
    """<stat> of an ``AT+CEREG?`` answer (2, searching, when there is no such line)."""
    for item in response.lines:
        m = _CEREG.match(item)
        if m is not None:
            return int(m.group(1))
    return 2


def parse_qigeterror(response: Response) -> tuple[int, str]:
    """``+QIGETERROR: <code>,<text>`` as a pair ((0, "") when absent)."""
    for item in response.lines:
        m = _QIGETERROR.match(item)
        if m:
            return int(m.group(1)), m.group(2).decode("latin-1")
    return 0, ""


def info_lines(response: Response, prefix: str) -> list[str]:
    """The information lines that start with ``prefix``, prefix removed."""
    p = prefix.encode()
    return [x[len(p) :].strip().decode("latin-1") for x in response.lines if x.startswith(p)]


def qiact_address(line: str, response: Response, ctx: int) -> str | None:
    """The address of context ``ctx`` in an ``AT+QIACT?`` answer, None when it is not listed."""
    for item in response.lines:
        if item.startswith(b"+QIACT:"):
            m = _QIACT.match(item)
            if m is None:
                raise UnexpectedResponse(line, response.raw(), None, f"malformed {item!r}")
            if int(m.group(1)) == ctx:
                return m.group(4).decode("latin-1")
    return None


def qflst_files(line: str, response: Response) -> dict[str, int]:
    """``+QFLST: "<name>",<size>`` lines as name -> size (the ``UFS:`` prefix dropped)."""
    out: dict[str, int] = {}
    for item in response.lines:
        if item.startswith(b"+QFLST:"):
            m = _QFLST.match(item)
            if m is None:
                raise UnexpectedResponse(line, response.raw(), None, f"malformed {item!r}")
            out[m.group(1).decode("latin-1").removeprefix("UFS:")] = int(m.group(2))
    return out


def check_file_sum(line: str, response: Response, data: bytes, prefix: bytes) -> None:
    """The ``+QFUPL:``/``+QFDWL: <size>,<checksum>`` line must match ``data``."""
    for item in response.lines:
        if item.startswith(prefix):
            m = _FILE_SUM.match(item)
            if m is None:
                raise UnexpectedResponse(line, response.raw(), None, f"malformed {item!r}")
            ours = f"{len(data)},{checksum(data):x}"
            if int(m.group(1)) != len(data) or int(m.group(2), 16) != checksum(data):
                raise UnexpectedResponse(
                    line, response.raw(), None, f"checksum mismatch: ours is {ours}"
                )
            return
    raise UnexpectedResponse(line, response.raw(), None, f"no {prefix.decode()} line")


def ssl_states(response: Response) -> list[dict[str, str | int]]:
    """``+QSSLSTATE:`` lines as dictionaries with the manual's field names."""
    out: list[dict[str, str | int]] = []
    for item in response.lines:
        m = _STATE.match(item)
        if m:
            g = m.groups()
            out.append(
                {
                    "clientID": int(g[0]),
                    "IP_address": g[1].decode(),
                    "remote_port": int(g[2]),
                    "local_port": int(g[3]),
                    "socket_state": int(g[4]),
                    "pdpctxID": int(g[5]),
                    "serverID": int(g[6]),
                    "access_mode": int(g[7]),
                    "AT_port": g[8].decode(),
                    "sslctxID": int(g[9]),
                }
            )
    return out


def ip_states(response: Response) -> list[dict[str, str | int]]:
    """``+QISTATE:`` lines as dictionaries with the manual's field names."""
    out: list[dict[str, str | int]] = []
    for item in response.lines:
        m = _IP_STATE.match(item)
        if m:
            g = m.groups()
            out.append(
                {
                    "connectID": int(g[0]),
                    "service_type": g[1].decode(),
                    "IP_address": g[2].decode(),
                    "remote_port": int(g[3]),
                    "local_port": int(g[4]),
                    "socket_state": int(g[5]),
                    "contextID": int(g[6]),
                    "serverID": int(g[7]),
                    "access_mode": int(g[8]),
                    "AT_port": g[9].decode(),
                }
            )
    return out


def recv_data(line: str, response: Response) -> tuple[bytes, tuple[str, int] | None]:
    """The data of an ``AT+QSSLRECV`` or ``AT+QIRD`` answer (``+QSSLRECV: <n>`` or
    ``+QIRD: <n>`` then n bytes), and a UDP service's sender (``+QIRD: <n>,"<ip>",<port>``)."""
    for at, item in enumerate(response.lines):
        m = _RECV_HEAD.match(item)
        if m:
            sender = None if m.group(2) is None else (m.group(2).decode(), int(m.group(3)))
            return (response.lines[at + 1] if int(m.group(1)) else b""), sender
    head = "+QSSLRECV" if line.startswith("AT+QSSL") else "+QIRD"
    raise UnexpectedResponse(line, response.raw(), None, f"no {head}: <n> line")


# ---- DNS, ping, NTP ------------------------------------------------------------------------


def dns_head(line: bytes) -> tuple[int, int] | None:
    """``+QIURC: "dnsgip",<err>[,<IP_count>,<DNS_ttl>]`` as (err, count); None for an
    address line."""
    m = _DNS_HEAD.match(line)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def dns_address(line: bytes) -> str | None:
    """The address of a ``+QIURC: "dnsgip","<ip>"`` line, None for any other."""
    m = _DNS_ADDRESS.match(line)
    return m.group(1).decode("latin-1") if m else None


@dataclass(frozen=True)
class PingReply:
    """One echo answered: ``+QPING: 0,"<ip>",<bytes>,<time>,<ttl>``."""

    ip: str
    size: int  # bytes of the echo
    time_ms: int
    ttl: int


@dataclass(frozen=True)
class PingSummary:
    """The last line: ``+QPING: 0,<sent>,<rcvd>,<lost>[,<min>,<max>,<avg>]``."""

    result: int
    sent: int
    received: int
    lost: int
    min_ms: int | None
    max_ms: int | None
    avg_ms: int | None


@dataclass(frozen=True)
class PingResult:
    """What ``AT+QPING`` reported: each echo's reply, the codes of the echoes that failed
    (569: timed out), the summary's counts and times (None when no echo came back)."""

    host: str
    replies: tuple[PingReply, ...]
    errors: tuple[int, ...]
    sent: int
    received: int
    lost: int
    min_ms: int | None
    max_ms: int | None
    avg_ms: int | None

    @property
    def ip(self) -> str | None:
        """The address that answered (None when none did)."""
        return self.replies[0].ip if self.replies else None


def ping_line(line: bytes) -> PingReply | PingSummary | int:
    """A ``+QPING:`` URC: an echo's reply, the summary, or a bare error code (an echo that
    timed out, 569, or the whole ping failing: 565 DNS, 561 no PDP context...).
    ``ValueError`` for anything else."""
    m = _PING_REPLY.match(line)
    if m is not None:
        if int(m.group(1)):
            return int(m.group(1))
        return PingReply(m.group(2).decode("latin-1"), *(int(m.group(i)) for i in (3, 4, 5)))
    m = _PING_SUMMARY.match(line)
    if m is not None:
        result, sent, received, lost = (int(m.group(i)) for i in range(1, 5))
        times: tuple[int | None, int | None, int | None] = (None, None, None)
        if m.group(5) is not None and received:
            times = (int(m.group(5)), int(m.group(6)), int(m.group(7)))
        return PingSummary(result, sent, received, lost, *times)
    m = _PING_ERROR.match(line)
    if m is not None:
        return int(m.group(1))
    raise ValueError(f"not a +QPING line: {line!r}")


def ntp_time(line: bytes) -> tuple[int, dt.datetime | None]:
    """``+QNTP: <err>,"YYYY/MM/DD,hh:mm:ss±zz"`` (zz: quarter hours) as (err, an aware
    datetime), or ``+QNTP: <err>`` alone as (err, None). ``ValueError`` for anything else,
    a date that does not exist included."""
    m = _NTP.match(line)
    if m is None:
        raise ValueError(f"not a +QNTP line: {line!r}")
    if m.group(2) is None:
        return int(m.group(1)), None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(2, 8))
    quarters = int(m.group(9)) * (-1 if m.group(8) == b"-" else 1)
    zone = dt.timezone(dt.timedelta(minutes=15 * quarters))
    return int(m.group(1)), dt.datetime(year, month, day, hour, minute, second, tzinfo=zone)


def ssl_config_lines(
    ctx: int,
    *,
    version: int | None,
    ciphersuite: int | None,
    seclevel: int | None,
    cacert: str | None,
    clientcert: str | None,
    clientkey: str | None,
    ignore_localtime: bool | None,
    negotiate_time: int | None,
) -> list[str]:
    """The ``AT+QSSLCFG`` lines for the given settings, checked against the manual's ranges
    first (a ValueError before anything is sent). Keys as real firmware spells them."""
    if not 0 <= ctx <= 5:
        raise ValueError("sslctxID is 0-5")
    settings: list[tuple[str, str]] = []
    if version is not None:
        if not 0 <= version <= 4:
            raise ValueError("sslversion is 0-4")
        settings.append(("sslversion", str(version)))
    if ciphersuite is not None:
        if ciphersuite not in SUITE_CODES:
            raise ValueError(f"ciphersuite 0X{ciphersuite:04X} is not in table 2")
        settings.append(("ciphersuite", f"0X{ciphersuite:04X}"))
    if seclevel is not None:
        if not 0 <= seclevel <= 2:
            raise ValueError("seclevel is 0-2")
        settings.append(("seclevel", str(seclevel)))
    for key, path in (("cacert", cacert), ("clientcert", clientcert), ("clientkey", clientkey)):
        if path is not None:
            settings.append((key, f'"{path}"'))
    if ignore_localtime is not None:
        settings.append(("ignorelocaltime", "1" if ignore_localtime else "0"))
    if negotiate_time is not None:
        if not 10 <= negotiate_time <= 300:
            raise ValueError("negotiatetime is 10-300")
        settings.append(("negotiatetime", str(negotiate_time)))
    return [f'AT+QSSLCFG="{key}",{ctx},{value}' for key, value in settings]
