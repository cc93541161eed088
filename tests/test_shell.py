"""``bg96 shell``: the core fed bytes headless, a session on a virtual module, the real command.

The core (``ShellCore``) is tested without I/O; ``ShellSession`` joins it to a pyserial port
on a ``VirtualModule`` with a loopback TLS echo server behind it; the command itself runs
once with stdin piped and once on a pseudo-terminal (readline, completion, colour, Ctrl-Z).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from bg96.cli.app import main as cli_main
from bg96.cli.shell import (
    COMMANDS,
    RESET,
    STYLES,
    ShellCore,
    ShellSession,
    decode_escapes,
    use_colour,
)
from bg96.engine import ModuleConfig
from bg96.engine.registry import COMMANDS as ENGINE_COMMANDS
from bg96.module.virtual import VirtualModule
from bg96.testing import TestPki, ThreadedTlsEchoServer

SERVER = "echo.bg96.test"
YELLOW, RED, GREEN, MAGENTA = STYLES["urc"], STYLES["error"], STYLES["ok"], STYLES["data"]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pty")


def core(*, colour: bool = True, raw: bool = False) -> tuple[ShellCore, list[str]]:
    shown: list[str] = []
    return ShellCore(shown.append, colour=colour, raw=raw), shown


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# ---- the core, headless ----------------------------------------------------------------


def test_escapes() -> None:
    assert decode_escapes("hello^Z") == b"hello\x1a"
    assert decode_escapes("abc^[") == decode_escapes("abc\\e") == b"abc\x1b"
    assert decode_escapes("GET /\\r\\n\\x00\\\\^z") == b"GET /\r\n\x00\\\x1a"
    assert decode_escapes('AT+QSSLCFG="cacert",1,"ca.pem"') == b'AT+QSSLCFG="cacert",1,"ca.pem"'
    assert decode_escapes("^A \\q") == b"^A \\q"  # unknown escapes stay as typed
    assert decode_escapes("héllo") == "héllo".encode()


def test_command_lines_get_a_cr() -> None:
    c, _ = core()
    assert [o.data for o in c.input_line("AT+CSQ")] == [b"AT+CSQ\r"]
    assert c.busy and c.pending == "AT+CSQ"
    assert c.input_line("   ") == []


def test_ctrl_z_outside_a_data_phase_ends_its_line_and_waits_for_the_answer() -> None:
    """Without the CR the bytes would stay in the module's line and join the next command
    (``AT+CSQ\x1aAT\r``: ERROR for the next one)."""
    c, shown = core(colour=False)
    assert [o.data for o in c.input_line("AT+CSQ^Z")] == [b"AT+CSQ\x1a\r"]
    assert c.busy and shown == ["no data phase: ^Z is sent as part of this command line"]
    c.receive(b"AT+CSQ\x1a\r\r\nERROR\r\n")  # the echo, then the module's answer
    assert shown[1:] == ["ERROR"] and not c.busy
    c.input_line("AT")
    c.receive(b"AT\r\r\nOK\r\n")
    assert shown[2:] == ["OK"]
    # control bytes only: ended too, but a module may not answer such a line
    assert [o.data for o in c.input_line("^Z")] == [b"\x1a\r"]
    assert [o.data for o in c.input_line("^[")] == [b"\x1b\r"]
    assert not c.busy
    c.receive(b"\x1a\r\x1b\r")  # their echo is not shown
    assert shown[3:] == []


def test_failed_commands_are_counted() -> None:
    c, _ = core()
    for line, answer in [
        ("AT", b"\r\nOK\r\n"),
        ('AT+QFDEL="x"', b"\r\n+CME ERROR: 405\r\n"),
        ("AT+QSSLSEND=9", b"\r\nERROR\r\n"),
        ("AT+CSQ", b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n"),
    ]:
        c.input_line(line)
        c.receive(answer)
    assert c.failures == 2
    c.receive(b"\r\nERROR\r\n")  # no command under way: nothing failed
    assert c.failures == 2
    c.input_line("AT+FOO")  # ATV0's numeric ERROR
    c.receive(b"4\r")
    c.idle()  # the CR-only line shows once the module is quiet
    assert c.failures == 3


def test_completion_of_commands_keys_and_suites() -> None:
    c, _ = core()
    assert c.complete("AT+QSSLC") == ["AT+QSSLCFG", "AT+QSSLCLOSE"]
    assert c.complete("at+qsslo") == ["AT+QSSLOPEN"]
    assert set(c.complete("AT+QSSL")) == {
        "AT+QSSLCFG", "AT+QSSLOPEN", "AT+QSSLSEND", "AT+QSSLRECV", "AT+QSSLCLOSE",
        "AT+QSSLSTATE",
    }  # fmt: skip
    assert "AT+QFUPL" in c.complete("AT+QF") and "AT+QIACT" in c.complete("AT+QI")
    keys = c.complete("AT+QSSLCFG=")
    assert keys[:3] == ['AT+QSSLCFG="sslversion",', 'AT+QSSLCFG="ciphersuite",',
                        'AT+QSSLCFG="seclevel",']  # fmt: skip
    assert len(keys) == 8
    assert c.complete('AT+QSSLCFG="s') == ['AT+QSSLCFG="sslversion",', 'AT+QSSLCFG="seclevel",']
    assert c.complete('at+qsslcfg="CIPH') == ['at+qsslcfg="ciphersuite",']  # keeps what was typed
    assert c.complete('AT+QSSLCFG="ciphersuite",1,0XC02') == [
        'AT+QSSLCFG="ciphersuite",1,0XC027',
        'AT+QSSLCFG="ciphersuite",1,0XC028',
        'AT+QSSLCFG="ciphersuite",1,0XC02F',
    ]
    assert c.complete('AT+QICFG="trans') == ['AT+QICFG="transpktsize",', 'AT+QICFG="transwaittm",']
    assert c.complete('AT+QSSLCFG="sslversion",1,') == []
    assert c.complete("AT+QIOPEN=1,0,") == [
        'AT+QIOPEN=1,0,"TCP",', 'AT+QIOPEN=1,0,"UDP",', 'AT+QIOPEN=1,0,"TCP LISTENER",',
        'AT+QIOPEN=1,0,"UDP SERVICE",',
    ]  # fmt: skip
    assert c.complete('at+qiopen=1,11,"udp') == [
        'at+qiopen=1,11,"UDP",',
        'at+qiopen=1,11,"UDP SERVICE",',
    ]
    assert 'AT+QCFG="servicedomain",' in c.complete("AT+QCFG=")
    assert c.complete("AT+NOPE") == []


def test_completion_knows_every_command_the_virtual_module_does() -> None:
    names = {"AT" + n for n in ENGINE_COMMANDS if n.startswith(("+", "&"))}
    assert names <= set(COMMANDS), names - set(COMMANDS)


def test_urcs_are_coloured_and_responses_are_not() -> None:
    c, shown = core()
    c.input_line("AT+CFUN?")
    c.receive(b"AT+CFUN?\r\r\n+CFUN: 1\r\n\r\nOK\r\n")  # the echo is not shown
    assert shown == ["+CFUN: 1", f"{GREEN}OK{RESET}"]  # +CFUN: answers AT+CFUN?: a response
    assert not c.busy
    shown.clear()
    c.receive(b'\r\n+CFUN: 1\r\n\r\n+QSSLURC: "closed",4\r\nRDY\r\n')  # unsolicited
    assert shown == [f"{YELLOW}+CFUN: 1{RESET}", f'{YELLOW}+QSSLURC: "closed",4{RESET}',
                     f"{YELLOW}RDY{RESET}"]  # fmt: skip
    shown.clear()
    c.input_line('AT+QSSLOPEN=1,1,4,"h",443,0')
    c.receive(b"\r\n+QSSLOPEN: 4,0\r\n\r\nOK\r\n")  # the open's result is a URC, even early
    assert shown == [f"{YELLOW}+QSSLOPEN: 4,0{RESET}", f"{GREEN}OK{RESET}"]


def test_no_colour() -> None:
    c, shown = core(colour=False)
    c.receive(b'\r\n+QIURC: "pdpdeact",1\r\n')
    assert shown == ['+QIURC: "pdpdeact",1']
    assert use_colour("auto", sys.stdout, {"NO_COLOR": "1"}) is False
    assert use_colour("always", sys.stdout, {"NO_COLOR": "1"}) is True
    assert use_colour("never", sys.stdout, {}) is False


def test_bytes_split_anywhere_show_the_same() -> None:
    transcript = (
        b"AT+QSSLRECV=1,100\r\r\n+QSSLRECV: 7\r\nab\r\n> \x1b\r\n\r\nOK\r\n"
        b'\r\n+QSSLURC: "recv",1,4\r\nOK\r\n\r\n+CME ERROR: 405\r\n'
    )
    whole, shown_whole = core()
    whole.input_line("AT+QSSLRECV=1,100")
    whole.receive(transcript)
    assert shown_whole == [
        "+QSSLRECV: 7",
        f"{MAGENTA}ab\\r\\n> \\x1b{RESET}",  # the block, whatever it holds
        f"{GREEN}OK{RESET}",
        f'{YELLOW}+QSSLURC: "recv",1,4{RESET}',
        f"{MAGENTA}OK\\r\\n{RESET}",  # push data that looks like a result code
        f"{RED}+CME ERROR: 405{RESET}",
    ]
    for step in (1, 2, 3, 7):
        split, shown = core()
        split.input_line("AT+QSSLRECV=1,100")
        for i in range(0, len(transcript), step):
            split.receive(transcript[i : i + step])
        assert shown == shown_whole, step


def test_atv0_result_codes_end_commands() -> None:
    c, shown = core(colour=False)
    c.input_line("AT")
    c.receive(b"AT\r0\r")
    c.idle()  # the CR-only line shows once the module is quiet
    assert shown == ["0"] and not c.busy
    c.input_line("AT+FOO")
    c.receive(b"AT+FOO\r4\r\r\nRDY\r\n")
    assert shown == ["0", "4", "RDY"] and not c.busy


def test_prompt_then_data_lines() -> None:
    c, shown = core(colour=False)
    c.input_line("AT+QSSLSEND=1")
    assert c.busy and not c.data_mode
    c.receive(b"AT+QSSLSEND=1\r\r\n> ")
    assert shown == [">"] and c.data_mode and not c.busy
    assert c.prompt == "data> "
    out = c.input_line("GET / HTTP/1.0\\r\\n")  # data: sent as typed, no CR added
    assert [o.data for o in out] == [b"GET / HTTP/1.0\r\n"] and c.data_mode
    assert [o.data for o in c.input_line("^Z")] == [b"\x1a"]
    assert not c.data_mode and c.busy  # waiting for SEND OK
    c.receive(b"GET / HTTP/1.0\r\n\r\nSEND OK\r\n")  # ATE1 echoes the data: not shown
    assert shown == [">", "SEND OK"] and not c.busy
    # fixed length: the phase ends after that many bytes
    c.input_line("AT+QSSLSEND=1,5")
    c.receive(b"\r\n> ")
    c.input_line("hel")
    assert c.data_mode
    c.input_line("lo")
    assert not c.data_mode and c.busy


def test_a_plain_socket_send_prompt_and_its_hex_form() -> None:
    c, shown = core(colour=False)
    c.input_line("AT+QISEND=2,3")
    c.receive(b"AT+QISEND=2,3\r\r\n> ")
    assert shown == [">"] and c.data_mode
    c.input_line("abc")
    assert not c.data_mode and c.busy
    c.receive(b"abc\r\nSEND OK\r\n")
    assert not c.busy
    c.input_line('AT+QISENDEX=2,"4142"')  # the hex is on the command line: no prompt
    c.receive(b'AT+QISENDEX=2,"4142"\r\r\nSEND OK\r\n')
    assert shown == [">", "SEND OK", "SEND OK"] and not c.data_mode and not c.busy


def test_transparent_mode_and_plus_plus_plus() -> None:
    c, shown = core(colour=False)
    c.input_line('AT+QSSLOPEN=1,1,4,"h",443,2')
    c.receive(b"\r\nCONNECT\r\nhello\r\n")
    assert c.transparent and c.prompt == "transparent> "
    assert shown == ["CONNECT", "hello\\r\\n"]
    out = c.input_line("+++")
    assert [(o.data, o.guard) for o in out] == [(b"+++", True)]
    assert not c.transparent


def test_raw_mode_shows_bytes_like_the_trace() -> None:
    c, shown = core(colour=False, raw=True)
    c.input_line("AT")
    c.receive(b'AT\r\r\nOK\r\n\r\n+QIURC: "pdpdeact",1\r\n')
    assert [re.sub(r"^ *\d+\.\d{6} ", "", s) for s in shown] == [
        ">> AT\\r",
        "<< AT\\r",
        "<< \\r\\nOK\\r\\n",
        '<< \\r\\n+QIURC: "pdpdeact",1\\r\\n',
    ]


# ---- a session on a virtual module ----------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki("bg96 shell test CA")


@pytest.fixture
def echo(pki: TestPki) -> Iterator[ThreadedTlsEchoServer]:
    with ThreadedTlsEchoServer(pki.server_ctx(SERVER)) as server:
        yield server


@pytest.fixture
def module(echo: ThreadedTlsEchoServer) -> Iterator[VirtualModule]:
    with VirtualModule(resolve={SERVER: echo.host}) as vm:
        yield vm


@pytest.fixture
def session(module: VirtualModule) -> Iterator[tuple[ShellSession, list[str]]]:
    shown: list[str] = []
    port = serial.serial_for_url(module.url, timeout=0.05)
    s = ShellSession(port, ShellCore(shown.append, colour=True))
    s.start()
    try:
        wait_until(lambda: f"{YELLOW}+QIND: SMS DONE{RESET}" in shown)  # boot URCs, coloured
        yield s, shown
    finally:
        s.close()


def send(s: ShellSession, line: str) -> None:
    s.send_line(line)
    assert s.wait_ready(), line


def test_session_qsslsend_prompt_ctrl_z_and_push_urc(
    session: tuple[ShellSession, list[str]], echo: ThreadedTlsEchoServer
) -> None:
    s, shown = session
    shown.clear()
    send(s, "AT+QIACT=1")
    send(s, f'AT+QSSLOPEN=1,0,1,"{SERVER}",{echo.port},1')  # direct push mode
    wait_until(lambda: f"{YELLOW}+QSSLOPEN: 1,0{RESET}" in shown)
    assert shown == [f"{GREEN}OK{RESET}", f"{GREEN}OK{RESET}", f"{YELLOW}+QSSLOPEN: 1,0{RESET}"]
    shown.clear()

    send(s, "AT+QSSLSEND=1")  # returns once the prompt is there
    assert s.core.data_mode and shown == [f"{STYLES['prompt']}>{RESET}"]
    send(s, "hello^Z")  # returns once SEND OK is there
    assert f"{GREEN}SEND OK{RESET}" in shown
    wait_until(lambda: f"{MAGENTA}hello{RESET}" in shown)  # the echo server's answer
    i = shown.index(f"{GREEN}SEND OK{RESET}")
    assert shown[i + 1 :] == [f'{YELLOW}+QSSLURC: "recv",1,5{RESET}', f"{MAGENTA}hello{RESET}"]
    assert not any("hello^Z" in x or x.startswith("AT+") for x in shown)  # echoes hidden

    shown.clear()
    send(s, "AT+QSSLSEND=1")
    send(s, "dropped^[")  # ESC: the module sends nothing and answers OK
    assert shown[-1] == f"{GREEN}OK{RESET}" and not s.core.busy
    send(s, "AT+QSSLSEND=1,5")
    s.send_line("world")
    assert s.wait_ready()
    wait_until(lambda: f"{MAGENTA}world{RESET}" in shown)
    assert bytes(echo.received) == b"helloworld"
    send(s, "AT+QSSLCLOSE=1")
    assert shown[-1] == f"{GREEN}OK{RESET}"


def test_session_buffer_mode_recv_and_errors(
    session: tuple[ShellSession, list[str]], echo: ThreadedTlsEchoServer
) -> None:
    s, shown = session
    send(s, "AT+QIACT=1")
    send(s, f'AT+QSSLOPEN=1,0,2,"{SERVER}",{echo.port},0')
    wait_until(lambda: f"{YELLOW}+QSSLOPEN: 2,0{RESET}" in shown)
    send(s, "AT+QSSLSEND=2,4")
    send(s, "ab\\r\\n")
    wait_until(lambda: f'{YELLOW}+QSSLURC: "recv",2{RESET}' in shown)
    shown.clear()
    send(s, "AT+QSSLRECV=2,100")
    assert shown == ["+QSSLRECV: 4", f"{MAGENTA}ab\\r\\n{RESET}", f"{GREEN}OK{RESET}"]
    shown.clear()
    send(s, 'AT+QFDEL="nothing.pem"')
    send(s, "AT+QSSLSEND=9")
    assert shown == [f"{RED}+CME ERROR: 405{RESET}", f"{RED}ERROR{RESET}"]


def test_session_a_ctrl_z_line_does_not_join_the_next_command(
    session: tuple[ShellSession, list[str]],
) -> None:
    s, shown = session  # the module echoes (ATE1): the echoes must not show either
    shown.clear()
    send(s, "AT+CSQ^Z")
    assert shown[-1] == f"{RED}ERROR{RESET}"
    send(s, "^Z")  # a line of control bytes only: the module says nothing
    send(s, "AT+CSQ")
    wait_until(lambda: shown[-1] == f"{GREEN}OK{RESET}")
    assert shown[-2:] == ["+CSQ: 24,99", f"{GREEN}OK{RESET}"]
    assert not [line for line in shown if "AT" in line or "\\x1a" in line]


# ---- the command ---------------------------------------------------------------------------


def test_help_documents_the_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main(["shell", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in ("^Z", "^[", "\\e", "\\xNN", "Ctrl-D", "--raw", "NO_COLOR", "+++"):
        assert text in out, text
    assert "Exit status: 0 " in out and "4 (stdin piped) a command answered ERROR" in out


def test_cannot_open(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["shell", "socket://127.0.0.1:1"]) == 3
    assert "bg96 shell: cannot open socket://127.0.0.1:1" in capsys.readouterr().err


def shell_piped(module: VirtualModule, tmp_path: Path, *lines: str) -> tuple[int, str]:
    """``bg96 shell`` with ``lines`` on its stdin: its exit status and stdout."""
    with serial.serial_for_url(module.url, timeout=5) as port:  # boot it: no URCs later
        assert port.read_until(b"SMS DONE\r\n").endswith(b"SMS DONE\r\n")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bg96", "shell", module.url],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
        check=False,
    )
    assert result.stderr == ""
    assert not ANSI.search(result.stdout)  # not a terminal: no colour
    return result.returncode, result.stdout


def test_shell_with_stdin_piped(module: VirtualModule, tmp_path: Path) -> None:
    status, out = shell_piped(
        module, tmp_path, "ATI", 'AT+QSSLCFG="sslversion",1,3', 'AT+QSSLCFG="sslversion",1'
    )
    assert status == 0
    assert "bg96> ATI\nQuectel\nBG96\nRevision: BG96MAR02A07M1G\nOK\n" in out
    assert out.endswith('bg96> AT+QSSLCFG="sslversion",1\n+QSSLCFG: "sslversion",1,3\nOK\n')


def test_piped_commands_that_fail_make_the_exit_status_4(
    module: VirtualModule, tmp_path: Path
) -> None:
    status, out = shell_piped(
        module, tmp_path, 'AT+QFDEL="none"', "AT+QSSLSEND=0", "AT+CSQ^Z", "AT+CSQ"
    )
    assert status == 4
    assert 'bg96> AT+QFDEL="none"\n+CME ERROR: 405\n' in out
    assert "bg96> AT+QSSLSEND=0\nERROR\n" in out
    # a Ctrl-Z line outside a data phase gets its own answer; the next line its own
    assert "bg96> AT+CSQ^Z\nno data phase: ^Z is sent as part of this command line\nERROR\n" in out
    assert out.endswith("bg96> AT+CSQ\n+CSQ: 24,99\nOK\n")


class PtyShell:
    """``bg96 shell`` on a pseudo-terminal, as a person runs it."""

    def __init__(self, url: str, home: Path, *options: str) -> None:
        import pty

        env = {**os.environ, "XDG_DATA_HOME": str(home), "TERM": "xterm"}
        env.pop("NO_COLOR", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the shell on the pty
            argv = [sys.executable, "-m", "bg96", "shell", url, *options]
            os.execve(sys.executable, argv, env)
        self.got = b""

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        """Everything up to and including ``marker``; what follows is kept for next time."""
        deadline = time.monotonic() + timeout
        while marker not in self.got:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in {self.got!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.got += os.read(self.fd, 4096)
                except OSError:
                    break
        found = self.got
        self.got = self.got[self.got.index(marker) + len(marker) :]
        return found

    def exit_status(self, timeout: float = 10.0) -> int:
        """Wait for the shell to exit (draining the pty meanwhile): its exit status."""
        deadline = time.monotonic() + timeout
        while (waited := os.waitpid(self.pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, f"the shell did not exit: {self.got!r}"
            if select.select([self.fd], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    self.got += os.read(self.fd, 4096)
        self.pid = 0
        return os.waitstatus_to_exitcode(waited[1])

    def close(self) -> None:
        if self.pid:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@linux_only
def test_shell_on_a_terminal(
    module: VirtualModule, echo: ThreadedTlsEchoServer, tmp_path: Path
) -> None:
    """readline: Tab completion, a coloured URC, a QSSLSEND finished with ^Z, Ctrl-D right
    after unsolicited output."""
    shell = PtyShell(module.url, tmp_path)
    try:
        shell.read_until(b"Ctrl-D exits")
        shell.read_until(b"bg96> ")
        shell.read_until(YELLOW.encode() + b"+QIND: SMS DONE")  # a boot URC, coloured
        shell.write(b'AT+QSSLCFG="ciph\t')  # completes the key
        shell.read_until(b'ciphersuite",')
        shell.write(b"1\r")
        shell.read_until(b'+QSSLCFG: "ciphersuite",1,0XFFFF')
        shell.write(b"AT+QSSLSEND=3\r")  # no connection 3: ERROR, in red
        shell.read_until(RED.encode() + b"ERROR")
        shell.write(b"AT+QIACT=1\r")
        shell.read_until(b"OK")
        shell.write(f'AT+QSSLOPEN=1,0,1,"{SERVER}",{echo.port},1\r'.encode())
        shell.read_until(YELLOW.encode() + b"+QSSLOPEN: 1,0")
        shell.write(b"AT+QSSLSEND=1\r")
        shell.read_until(b"data> ")
        shell.write(b"hi")
        shell.read_until(b"hi")  # readline has it
        shell.write(b"\x1a")  # the Ctrl-Z key: sends the line so far, then Ctrl-Z
        shell.read_until(b"SEND OK")
        shell.read_until(YELLOW.encode() + b'+QSSLURC: "recv",1,2')
        shell.read_until(MAGENTA.encode() + b"hi")
        shell.write(b"\x04")  # Ctrl-D, whether readline reads a line yet or not
        assert shell.exit_status() == 0
    finally:
        shell.close()
    history = (tmp_path / "bg96" / "shell_history").read_text()
    assert 'AT+QSSLCFG="ciphersuite",1' in history
    assert "hi" not in history.splitlines()  # data lines are not kept
    assert bytes(echo.received) == b"hi"


@linux_only
def test_keys_typed_while_a_command_runs_wait_for_the_next_line(tmp_path: Path) -> None:
    """Between two lines the terminal stays as readline wants it: a Ctrl-D typed while
    AT+QIACT takes its time is still a Ctrl-D for the next prompt (a canonical terminal
    would have turned it into a NUL byte, and the shell would not have exited)."""
    with VirtualModule(config=ModuleConfig(pdp_activation_time=1.0)) as slow:
        shell = PtyShell(slow.url, tmp_path, "--raw")
        try:
            shell.read_until(b"bg96> ")
            shell.write(b"AT+QIACT=1\r")
            shell.read_until(b">> AT+QIACT=1\\r")  # sent: readline is done with the line
            shell.write(b"AT+CSQ\r\x04")  # typed ahead, before the answer comes
            shell.read_until(b"<< \\r\\nOK\\r\\n")
            shell.read_until(b"+CSQ: 24,99")
            assert shell.exit_status() == 0
        finally:
            shell.close()


def test_mqtt_commands_and_keys_complete() -> None:
    c, _ = core()
    assert "AT+QMTPUB" in c.complete("AT+QMT") and "AT+QMTCONN" in c.complete("at+qmtc")
    assert c.complete('AT+QMTCFG="recv') == ['AT+QMTCFG="recv/mode",']
    assert c.complete("AT+QMTCFG=k") == ['AT+QMTCFG="keepalive",']
