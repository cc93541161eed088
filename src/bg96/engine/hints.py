"""Trace hints: what looks like a manual typo or a known host-driver mistake.

Each hint is a trace note that starts with ``hint:`` (grep for it); none changes what the
module answers. The rules come from ``shared/spec/FIELD_NOTES.md`` (what real host drivers
send) and the SSL manual; ``docs/trace.md`` lists them with their sources. A hint is given
once per subject (a command name, a client ID, a file) for the life of the engine, so a
driver that repeats a mistake every 500 ms does not fill the trace; the memory of what was
said is bounded (``MAX_REMEMBERED`` subjects), so a host sending endless distinct mistakes
cannot grow it.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from .cmdline import Command
from .params import ParamError, decimal
from .state import AccessMode, Socket, SocketState, SslContext

if TYPE_CHECKING:
    from .core import Engine
    from .events import TlsParams

PREFIX = "hint: "
MAX_DATA = 1500  # QSSLSEND fixed length and QSSLRECV: 1-1500 (manual 2.1.3, 2.1.4)
Y2000 = 946684800.0  # a module clock before this was never set (it starts in 1980)

# Names that look like commands but are manual typos or other vendors' commands.
NOT_BG96: dict[str, str] = {
    "+QSSSEND": "a typo in the SSL manual, chapter 1.3: the command is AT+QSSLSEND",
    "+QSSLRCV": "a typo in the SSL manual, chapter 3.3.3: the command is AT+QSSLRECV",
    "+CSSLCFG": "a SIMCom command; the BG96 uses AT+QSSLCFG",
}
# each family's commands for the same job (the SSL manual's and the TCP/IP manual's)
TWIN: dict[str, str] = {
    "+QIOPEN": "+QSSLOPEN",
    "+QISEND": "+QSSLSEND",
    "+QIRD": "+QSSLRECV",
    "+QICLOSE": "+QSSLCLOSE",
    "+QISTATE": "+QSSLSTATE",
}
TWIN.update({ssl: plain for plain, ssl in list(TWIN.items())})
# QSSLCFG keys under the names the manual's own text gives their values (chapter 1.4, 2.1.1)
MANUAL_NAMES: dict[str, str] = {
    "ignoreltime": "ignorelocaltime",
    "ignoretime": "ignorelocaltime",
    "negotiate_time": "negotiatetime",
    "cacertpath": "cacert",
    "client_cert_path": "clientcert",
    "client_key_path": "clientkey",
    "ciphersuites": "ciphersuite",
}


MAX_REMEMBERED = 256  # hint keys remembered; past it the oldest is forgotten (and may recur)


class Hints:
    """One engine's hint state, bounded whatever the host sends: the keys of hints given
    (at most ``MAX_REMEMBERED``, oldest forgotten first) and, per live connection, the
    empty reads in a row."""

    def __init__(self) -> None:
        self.said: dict[str, None] = {}  # an insertion-ordered set
        self.empty_reads: dict[int, int] = {}  # conn_seq -> QSSLRECV answers of 0 in a row

    def first_time(self, key: str) -> bool:
        """Whether ``key`` is new (it is remembered from now on)."""
        if key in self.said:
            return False
        self.said[key] = None
        while len(self.said) > MAX_REMEMBERED:
            del self.said[next(iter(self.said))]
        return True


def say(engine: Engine, key: str, text: str, prefix: str = PREFIX) -> None:
    """The note ``hint: <text>``, unless the hint ``key`` was given before."""
    if engine.hints.first_time(key):
        engine.note(prefix + text)


# ---- the command line ------------------------------------------------------------------


def unknown_command(engine: Engine, cmd: Command) -> None:
    """A command this module does not know: a manual typo, another vendor's."""
    text = NOT_BG96.get(cmd.name)
    if text is not None:
        say(engine, f"cmd {cmd.name}", f"AT{cmd.name} is not a BG96 command ({text})")


def wrong_family(engine: Engine, cmd: Command, sock: Socket) -> None:
    """A TCP/IP command on an SSL client ID, or an SSL command on a plain socket's."""
    wrong_family_id(engine, cmd.name.lstrip("+"), sock)


def wrong_family_id(engine: Engine, name: str, sock: Socket) -> None:
    twin = TWIN.get("+" + name.lstrip("+"), "")
    what = "an SSL connection" if sock.service.tls else f'a "{sock.service.value}" socket'
    say(
        engine,
        f"family {name} {sock.client_id}",
        f"AT+{name.lstrip('+')} on client ID {sock.client_id}, which is {what}: "
        f"its commands are AT{twin or '+QSSL...'}",
    )


def skipped_before_at(engine: Engine, skipped: bytes) -> None:
    """Bytes before ``AT`` were skipped: a stray Ctrl-Z outside a send prompt (FIELD_NOTES).
    An ESC alone is how drivers (ours too) cancel a prompt they may have left: no hint."""
    if not skipped.strip(b"\x1b\r\n"):
        return
    what = "a Ctrl-Z (0x1A) outside a QSSLSEND prompt" if b"\x1a" in skipped else "noise"
    say(
        engine,
        "before-at",
        f"{len(skipped)} byte(s) before AT skipped ({what}: {skipped[:16]!r}); "
        "the command still runs",
    )


# ---- AT+QSSLCFG ------------------------------------------------------------------------


def cfg_unknown_key(engine: Engine, asked: str, known: list[str]) -> None:
    """An unknown QSSLCFG key: the manual's parameter name for it, or a near spelling."""
    lower = asked.lower()
    meant = MANUAL_NAMES.get(lower)
    if meant is not None:
        why = "the manual's name for its value"
    else:
        close = difflib.get_close_matches(lower, known, n=1, cutoff=0.75)
        if not close:
            return
        meant, why = close[0], "a near spelling"
    say(engine, f"cfg {lower}", f'AT+QSSLCFG key "{asked}" is {why}: the key is "{meant}"')


def cfg_manual_spelling(engine: Engine) -> None:
    """``"secllevel"``: the manual's spelling, which no capture shows real firmware taking."""
    say(
        engine,
        "cfg secllevel",
        'AT+QSSLCFG key "secllevel" is the SSL manual\'s spelling (accepted here); real BG96 '
        'firmware lists "seclevel", and every host driver seen writes "seclevel"',
    )


def cfg_quoted_suite(engine: Engine) -> None:
    """A quoted cipher suite: the real module answers ERROR (FIELD_NOTES)."""
    say(
        engine,
        "cfg quoted suite",
        'AT+QSSLCFG="ciphersuite": the suite is unquoted hex (0X0035 or 0XFFFF); '
        "a quoted value answers ERROR",
    )


# ---- AT+QSSLOPEN -----------------------------------------------------------------------


def open_id_in_use(engine: Engine, sock: Socket) -> None:
    """563: the ID is still taken, often by a connection the peer closed (manual 2.2.2)."""
    cid = sock.client_id
    if sock.state is SocketState.CLOSING:
        why = "its connection was closed by the peer or the network and not yet freed"
    else:
        why = "a connection on it is open or opening"
    say(
        engine,
        f"open in use {sock.conn_seq}",
        f"QSSLOPEN {cid}: client ID {cid} is in use ({why}); AT+QSSLCLOSE={cid} frees it",
    )


def open_context(engine: Engine, sock: Socket, params: TlsParams) -> None:
    """What an open's SSL context will do that its host may not expect."""
    _default_context(engine, sock)
    _certificates(engine, sock, params)
    _clock(engine, sock, params)


def _default_context(engine: Engine, sock: Socket) -> None:
    """TinyGSM configures context 0 and opens on context 1 (FIELD_NOTES)."""
    ctx_id = sock.ssl_ctx
    if engine.ssl_ctx[ctx_id] != SslContext():
        return
    others = [i for i, ctx in engine.ssl_ctx.items() if i != ctx_id and ctx != SslContext()]
    if not others:
        return
    say(
        engine,
        f"default ctx {ctx_id}",
        f"QSSLOPEN {sock.client_id} uses SSL context {ctx_id}, which has only its defaults "
        f"(sslversion 4, ciphersuite 0XFFFF, seclevel 0: the server is not verified), while "
        f"AT+QSSLCFG configured context {others[0]}",
    )


def _certificates(engine: Engine, sock: Socket, params: TlsParams) -> None:
    """seclevel 1/2 needs the CA file in UFS (manual 4.1); seclevel 0 ignores it."""
    cid, ctx_id = sock.client_id, sock.ssl_ctx
    ctx = engine.ssl_ctx[ctx_id]
    if params.seclevel == 0:
        if ctx.cacert:
            say(
                engine,
                f"cacert unused {ctx_id}",
                f'QSSLOPEN {cid}: SSL context {ctx_id} has a "cacert" but seclevel 0, so the '
                'server is not verified (AT+QSSLCFG="seclevel",<ctx>,1 verifies it)',
            )
        return
    if not ctx.cacert:
        say(
            engine,
            f"no cacert {ctx_id}",
            f"QSSLOPEN {cid}: seclevel {params.seclevel} verifies the server, but SSL context "
            f'{ctx_id} has no "cacert": upload the CA (AT+QFUPL) and set it',
        )
    elif params.cacert is None:
        _missing_file(engine, sock, "cacert", ctx.cacert)
    if params.seclevel == 2:
        if ctx.clientcert and params.clientcert is None:
            _missing_file(engine, sock, "clientcert", ctx.clientcert)
        if ctx.clientkey and params.clientkey is None:
            _missing_file(engine, sock, "clientkey", ctx.clientkey)


def _missing_file(engine: Engine, sock: Socket, key: str, name: str) -> None:
    say(
        engine,
        f"missing {key} {name}",
        f'QSSLOPEN {sock.client_id}: "{key}" of SSL context {sock.ssl_ctx} is "{name}", '
        "which is not in UFS (AT+QFLST lists the files; AT+QFUPL uploads one)",
    )


def _clock(engine: Engine, sock: Socket, params: TlsParams) -> None:
    """ignorelocaltime 0 judges certificates by AT+CCLK, which starts in 1980 (manual 1.4)."""
    if params.seclevel == 0 or params.ignore_localtime or params.module_time >= Y2000:
        return
    say(
        engine,
        "clock",
        f"QSSLOPEN {sock.client_id}: SSL context {sock.ssl_ctx} checks certificate dates "
        "(ignorelocaltime 0) against the module clock, which was never set (AT+CCLK reads "
        "1980): every certificate is not yet valid; set AT+CCLK first",
    )


# ---- AT+QSSLSEND -----------------------------------------------------------------------


def send_length(engine: Engine, cmd: Command) -> None:
    """A fixed length above 1500 (manual 2.1.3) answers ERROR."""
    _over_limit(engine, cmd, "+QSSLSEND", "AT+QSSLSEND takes 1-1500 bytes at a time")


def data_before_prompt(engine: Engine, client_id: int, waiting: bytes) -> None:
    """Data that came with the command line (``waiting``: host bytes after its CR, of which
    a first LF ends the line), before the ``> `` prompt went out."""
    if not (waiting[1:] if waiting[:1] == b"\n" else waiting):
        return
    say(
        engine,
        "before prompt",
        f"QSSLSEND {client_id}: data arrived before the '> ' prompt was sent (a driver that "
        "writes it without waiting); taken as data here, but wait for '> ' first",
    )


def data_starts_with_lf(engine: Engine, client_id: int) -> None:
    """A LF as first byte after the prompt: often the LF of a CR LF line end (FIELD_NOTES)."""
    say(
        engine,
        f"lf data {client_id}",
        f"QSSLSEND {client_id}: the data starts with LF; if it was the LF of a CR LF after "
        "the command line, it came more than 20 ms after the CR, when the '> ' prompt had "
        "gone out, and became data: send CR LF together, or end the line with CR only",
    )


# ---- AT+QSSLRECV -----------------------------------------------------------------------


def recv_length(engine: Engine, cmd: Command) -> None:
    """QSSLRECV reads at most 1500 bytes (manual 2.1.4)."""
    _over_limit(engine, cmd, "+QSSLRECV", "AT+QSSLRECV reads at most 1500 bytes at a time")


def _over_limit(engine: Engine, cmd: Command, name: str, text: str) -> None:
    try:
        params = cmd.params
    except ParamError:
        return
    length = decimal(params[1].text) if len(params) == 2 else None
    if length is not None and length > MAX_DATA:
        say(engine, f"over {name}", f"{text} (manual): {cmd} answers ERROR")


def recv_zero(engine: Engine) -> None:
    """``AT+QSSLRECV=<id>,0``: TinyGSM's poll, outside the manual's range."""
    say(
        engine,
        "recv zero",
        "AT+QSSLRECV=<id>,0 is outside the manual's range (1-1500); this module answers "
        "TinyGSM's three-number form (total, read, unread), a real BG96 may answer ERROR",
    )


def recv_not_buffered(engine: Engine, sock: Socket) -> None:
    """QSSLRECV on a direct push or transparent connection answers ERROR (manual 2.1.4)."""
    how = (
        f'+QSSLURC: "recv",{sock.client_id},<len> URCs'
        if sock.access_mode is AccessMode.PUSH
        else "transparent mode"
    )
    switch = (
        ""
        if sock.state is SocketState.CLOSING  # QISWTMD answers ERROR on a closed one too
        else f" (AT+QISWTMD={sock.client_id},0 switches)"
    )
    say(
        engine,
        f"recv mode {sock.conn_seq}",
        f"QSSLRECV {sock.client_id}: the connection is not in buffer access mode, its data "
        f"comes in {how}; AT+QSSLRECV answers ERROR{switch}",
    )


def recv_polled(engine: Engine, sock: Socket, got: int) -> None:
    """Reads of an empty buffer in a row: polling, instead of waiting for the recv URC."""
    reads = engine.hints.empty_reads
    if got:
        reads.pop(sock.conn_seq, None)
        return
    live = {s.conn_seq for s in engine.sockets.values()}
    for seq in [seq for seq in reads if seq not in live]:  # connections that have ended
        del reads[seq]
    reads[sock.conn_seq] = count = reads.get(sock.conn_seq, 0) + 1
    if count < 2:
        return
    say(
        engine,
        f"polled {sock.conn_seq}",
        f"QSSLRECV {sock.client_id}: the buffer was already empty at the last read; no need "
        f'to poll: +QSSLURC: "recv",{sock.client_id} comes when data arrives (once, and again '
        "after a read that empties the buffer)",
    )


# ---- AT+QSSLCLOSE, AT+QSSLSTATE ------------------------------------------------------------


def close_unopened(engine: Engine, client_id: int) -> None:
    """QSSLCLOSE on a free ID (TinyGSM, Mbed OS close IDs first): harmless, answered OK."""
    say(  # a plain note, not a hint: the manual allows it
        engine,
        "close unopened",
        f"AT+QSSLCLOSE={client_id}: client ID {client_id} has no connection (answered OK; "
        "drivers such as TinyGSM and Mbed OS close IDs before they use them)",
        prefix="",
    )


def state_two_arguments(engine: Engine, cmd: Command) -> None:
    """``AT+QSSLSTATE=1,<id>``: TinyGSM's QISTATE-style form, not in the SSL manual."""
    say(
        engine,
        "state form",
        f"{cmd} is the TCP/IP manual's QISTATE form (TinyGSM), not the SSL manual's; "
        "answered as AT+QSSLSTATE with those sockets",
    )
