"""The ``bg96`` command as a user runs it: ``serve`` until signalled, ``demo``, ``--version``."""

from __future__ import annotations

import asyncio
import io
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import pytest

from bg96 import VirtualModule, __version__
from bg96.cli import serve as serve_cli
from bg96.cli.app import main as cli_main
from bg96.cli.demo import run_demo

BOOT = (
    b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\nAPP RDY\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"
    b"\r\n+QIND: SMS DONE\r\n"
)
HELLO_CHECKSUM = "6b09"  # 0x6865 ^ 0x6C6C ^ 0x6F00 ("he", "ll", "o" + pad)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux pty")


def bg96(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bg96", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class ServeProcess:
    """``python -m bg96 serve ...`` with its stdout lines collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bg96", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def line(self, timeout: float = 10.0) -> str:
        """The next stdout line ("" once stdout has ended)."""
        got = self._lines.get(timeout=timeout)
        return "" if got is None else got

    def stop(self, sig: signal.Signals, timeout: float = 5.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def rest(self) -> str:
        """The remaining stdout, after the process ended."""
        self._reader.join(5)
        out = []
        while (line := self.line(0.1)) != "":
            out.append(line)
        return "".join(out)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def read_until(sock: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {got!r}")
        got += chunk
    return got


def read_fd_until(fd: int, marker: bytes, timeout: float = 5.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got:
        assert time.monotonic() < deadline, got
        try:
            got += os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.005)
    return got


def test_version() -> None:
    result = bg96("--version")
    assert result.returncode == 0
    assert result.stdout == f"bg96 {__version__}\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_tcp_until_signalled(tmp_path: Path, sig: signal.Signals) -> None:
    files = tmp_path / "ufs"
    trace = tmp_path / "trace.txt"
    with ServeProcess(
        "--tcp", "127.0.0.1:0", "--files", str(files), "--trace", str(trace)
    ) as serve:
        first = serve.line()
        found = re.fullmatch(
            r"bg96: virtual BG96 on socket://127\.0\.0\.1:(\d+) \(files in (.*)\)\n", first
        )
        assert found, first
        assert found[2] == str(files.resolve())
        with socket.create_connection(("127.0.0.1", int(found[1])), timeout=5) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assert read_until(sock, b"SMS DONE\r\n") == BOOT
            sock.sendall(b"AT\r")
            assert read_until(sock, b"OK\r\n") == b"AT\r\r\nOK\r\n"
            sock.sendall(b'AT+QFUPL="hello.txt",5,5\r')
            assert read_until(sock, b"CONNECT\r\n") == b'AT+QFUPL="hello.txt",5,5\r\r\nCONNECT\r\n'
            sock.sendall(b"hello")
            assert read_until(sock, b"OK\r\n") == (
                f"\r\n+QFUPL: 5,{HELLO_CHECKSUM}\r\n\r\nOK\r\n".encode()
            )
            started = time.monotonic()
            assert serve.stop(sig) == 0
            assert time.monotonic() - started < 5
            try:
                sock.settimeout(2)
                assert sock.recv(100) == b""  # the module hung up on its host
            except ConnectionResetError:
                pass
        assert serve.rest() == "bg96: stopping, closing connections\n"
        assert serve.stderr() == ""
    assert (files / "hello.txt").read_bytes() == b"hello"
    assert sorted(p.name for p in files.iterdir()) == ["hello.txt"]  # no temp files left
    lines = trace.read_text().splitlines()
    assert any(re.fullmatch(r" *\d+\.\d{6} >> AT\\r", line) for line in lines), lines
    assert any(line.endswith("<< \\r\\n+QFUPL: 5,6b09\\r\\n") for line in lines), lines
    assert any(line.endswith("-- host connected") for line in lines), lines


def test_serve_handles_sigterm_sent_as_soon_as_it_is_ready(tmp_path: Path) -> None:
    """The signal handlers are in place before the ready line: a supervisor may signal at once."""
    for attempt in range(3):
        with ServeProcess("--tcp", "127.0.0.1:0", "--files", str(tmp_path / "ufs")) as serve:
            assert "socket://" in serve.line()
            assert serve.stop(signal.SIGTERM) == 0, f"attempt {attempt}"


@linux_only
def test_serve_defaults_to_a_pty(tmp_path: Path) -> None:
    with ServeProcess("--files", str(tmp_path / "ufs")) as serve:
        first = serve.line()
        found = re.fullmatch(r"bg96: virtual BG96 on (/dev/pts/\d+) \(files in .*\)\n", first)
        assert found, first
        fd = os.open(found[1], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert read_fd_until(fd, b"SMS DONE\r\n") == BOOT
            os.write(fd, b"AT\r")
            assert read_fd_until(fd, b"OK\r\n") == b"AT\r\r\nOK\r\n"
        finally:
            os.close(fd)
        assert serve.stop(signal.SIGTERM) == 0
        assert serve.rest() == "bg96: stopping, closing connections\n"


@linux_only
def test_serve_pty_link(tmp_path: Path) -> None:
    link = tmp_path / "ttyBG96"
    with ServeProcess("--pty", "--link", str(link), "--files", str(tmp_path / "ufs")) as serve:
        found = re.search(r" on (/dev/pts/\d+) ", serve.line())
        assert found
        path = found[1]
        assert serve.line() == f"bg96: linked {link} -> {path}\n"
        assert link.is_symlink()
        assert os.readlink(link) == path
        fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert read_fd_until(fd, b"SMS DONE\r\n") == BOOT
            os.write(fd, b"ATI\r")
            assert read_fd_until(fd, b"OK\r\n").endswith(b"Revision: BG96MAR02A07M1G\r\n\r\nOK\r\n")
        finally:
            os.close(fd)
        assert serve.stop(signal.SIGINT) == 0
    assert not link.is_symlink()
    assert not link.exists()


def test_serve_resolve_without_an_address_is_a_usage_error() -> None:
    result = bg96("serve", "--resolve", "bad")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "argument --resolve: expected NAME=ADDR, got 'bad'" in result.stderr
    assert result.stderr.startswith("usage: bg96 serve")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--resolve", "name=not-an-address"], "argument --resolve"),
        (["serve", "--tcp", "127.0.0.1"], "argument --tcp: expected HOST:PORT"),
        (["serve", "--tcp", "127.0.0.1:65536"], "argument --tcp: expected HOST:PORT"),
        (["serve", "--pty", "--tcp", "127.0.0.1:0"], "not allowed with argument"),
        (["serve", "--network", "wifi"], "argument --network: invalid choice: 'wifi'"),
        (["serve", "--latency", "soon"], "argument --latency: not a time: 'soon'"),
        (["serve", "--down", "fast"], "argument --down: not a rate: 'fast'"),
        (["serve", "--loss", "150%"], "argument --loss: loss must be at least 0%"),
        ([], "the following arguments are required"),
    ],
)
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_serve_with_a_network_profile_says_what_the_link_is(tmp_path: Path) -> None:
    args = ["--tcp", "127.0.0.1:0", "--files", str(tmp_path), "--network", "nb-iot"]
    with ServeProcess(*args, "--loss", "1%", "--seed", "7") as serve:
        assert "socket://" in serve.line()
        assert serve.line() == (
            "bg96: network custom: latency 400 ms +/- 100 ms each way, down 32 kbit/s, "
            "up 70 kbit/s, loss 1%, attach 6 s, QIACT 1.5 s, seed 7\n"
        )
        assert serve.stop(signal.SIGTERM) == 0


def test_serve_on_a_busy_port_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli_main(["serve", "--tcp", f"127.0.0.1:{port}", "--files", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("bg96: ")
    assert "address already in use" in err.lower()


@pytest.mark.parametrize(
    "where",
    [
        ["--tcp", "0.0.0.0:0"],
        ["--rfc2217", "0.0.0.0:0"],
        ["--tcp", "[::]:0"],
        ["--tcp", "192.0.2.1:5555"],
        ["--rfc2217", "bg96.example:5556"],
    ],
)
def test_serve_refuses_a_non_loopback_at_port_without_allow_remote(
    where: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.txt"
    code = cli_main(["serve", *where, "--files", str(tmp_path), "--trace", str(trace)])
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("bg96: the AT port on ")
    assert "would be reachable from other machines, with no authentication" in err
    assert "(bg96 serve --allow-remote)" in err
    assert not trace.exists()  # refused before anything was opened or bound


class NotBinding(VirtualModule):
    """A module that records how it was made and refuses to start (no test binds off
    loopback)."""

    made: ClassVar[list[dict[str, object]]] = []

    def __init__(self, **options: Any) -> None:
        NotBinding.made.append(options)
        super().__init__(**options)

    async def start(self) -> None:
        raise OSError("not binding in a test")


@pytest.mark.parametrize("kind", ["--tcp", "--rfc2217"])
def test_serve_allow_remote_warns_on_stderr(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_cli, "VirtualModule", NotBinding)
    NotBinding.made.clear()
    argv = ["serve", kind, "0.0.0.0:5555", "--allow-remote", "--files", str(tmp_path)]
    assert cli_main(argv) == 1  # the stand-in's start fails; the warning came before
    err = capsys.readouterr().err
    assert err == (
        f"bg96: warning: {kind} 0.0.0.0:5555 serves the AT port to the network with no "
        "authentication: anyone who reaches it can read, write and delete the files in "
        f"{tmp_path.resolve()} and open TLS connections from this machine\n"
        "bg96: not binding in a test\n"
    )
    assert [(m["host"], m["allow_remote"]) for m in NotBinding.made] == [("0.0.0.0", True)]
    # on loopback the flag changes nothing and warns of nothing
    assert cli_main(["serve", kind, "127.0.0.1:0", "--allow-remote", "--files", str(tmp_path)])
    assert capsys.readouterr().err == "bg96: not binding in a test\n"


def test_serve_help_tells_of_allow_remote() -> None:
    result = bg96("serve", "--help")
    assert result.returncode == 0
    assert "--allow-remote" in result.stdout
    assert "listen on loopback addresses only" in result.stdout


def test_demo_in_process() -> None:
    out = io.StringIO()
    assert asyncio.run(run_demo(out)) == 0
    text = out.getvalue()
    assert "<< \\r\\n+QSSLOPEN: 4,0\\r\\n" in text
    assert "<< \\r\\n+QSSLRECV: 18\\r\\n" in text
    assert '>> AT+QSSLCFG="seclevel",1,1\\r' in text  # as real firmware spells it
    assert "secllevel" not in text  # the manual's typo, and the hint it earns
    assert "demo failed" not in text
    assert text.rstrip().endswith("demo finished")


def test_demo_on_a_shaped_network_waits_for_registration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["demo", "--latency", "20ms", "--down", "1mbit", "--attach-time", "0.6s"]
    assert cli_main(argv) == 0
    text = capsys.readouterr().out
    assert "-- network custom: latency 20 ms" in text
    assert "<< \\r\\n+CEREG: 0,2\\r\\n" in text  # searching at first
    assert "registered on the network after 0.6 s" in text
    assert text.rstrip().endswith("demo finished")


def test_demo_command() -> None:
    result = bg96("demo")
    assert result.returncode == 0, result.stderr
    assert "+QSSLOPEN: 4,0" in result.stdout
    assert "demo finished" in result.stdout
