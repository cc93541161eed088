"""``bg96 files URL ls|put|get|rm`` against a virtual module, in-process and as a command."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bg96.cli.app import main as cli_main
from bg96.cli.files import ProgressBar, describe
from bg96.host import CommandError
from bg96.module.virtual import VirtualModule

CA = (Path(__file__).parent / "test_file.py").read_bytes()[:3000]  # any few kB of bytes


@pytest.fixture
def module(tmp_path: Path) -> Iterator[VirtualModule]:
    with VirtualModule(files=tmp_path / "ufs") as vm:
        yield vm


def files(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, str]:
    status = cli_main(["files", url, *args])
    out, err = capsys.readouterr()
    return status, out, err


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_put_ls_get_rm_round_trip(
    module: VirtualModule,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = module.url
    assert files(capsys, url, "ls") == (0, "", "no files\n")  # nothing there yet
    local = tmp_path / "ca.pem"
    local.write_bytes(CA)
    status, out, err = files(capsys, url, "put", str(local))
    assert (status, err) == (0, "")
    assert out.startswith(f"ca.pem: {len(CA)} bytes, checksum ") and out.endswith(" verified\n")
    assert files(capsys, url, "put", str(local), "UFS:key.pem")[0] == 0  # prefix optional
    assert files(capsys, url, "ls") == (0, f"ca.pem   {len(CA)}\nkey.pem  {len(CA)}\n", "")
    assert (tmp_path / "ufs" / "ca.pem").read_bytes() == CA  # really in the module's store

    back = tmp_path / "back.pem"
    status, out, err = files(capsys, url, "get", "ca.pem", str(back))
    assert (status, err) == (0, "") and back.read_bytes() == CA
    assert out.startswith(f"{back}: {len(CA)} bytes")
    monkeypatch.chdir(tmp_path)
    assert files(capsys, url, "get", "key.pem")[0] == 0  # default: ./NAME
    assert (tmp_path / "key.pem").read_bytes() == CA

    assert files(capsys, url, "rm", "ca.pem", "key.pem") == (0, "", "")
    assert files(capsys, url, "ls") == (0, "", "no files\n")


def test_get_to_stdout(
    module: VirtualModule, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    module.store.write("hello.txt", b"hello\r\n\x00\x1a")
    assert cli_main(["files", module.url, "get", "hello.txt", "-"]) == 0
    assert capsysbinary.readouterr().out == b"hello\r\n\x00\x1a"


def test_errors_and_exit_codes(
    module: VirtualModule, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = module.url
    assert files(capsys, url, "rm", "nope.pem") == (
        1, "", "bg96 files: rm nope.pem: file not found (+CME ERROR: 405)\n"
    )  # fmt: skip
    assert files(capsys, url, "get", "nope.pem") == (
        1, "", "bg96 files: get nope.pem: file not found (+CME ERROR: 405)\n"
    )  # fmt: skip
    local = tmp_path / "a.txt"
    local.write_bytes(b"first")
    assert files(capsys, url, "put", str(local))[0] == 0
    local.write_bytes(b"second")
    status, _, err = files(capsys, url, "put", str(local))
    assert status == 1
    assert err == (
        "bg96 files: put a.txt: file already existed (+CME ERROR: 407); use --force to replace it\n"
    )
    assert files(capsys, url, "put", "--force", str(local))[0] == 0
    assert module.store.read("a.txt") == b"second"
    status, _, err = files(capsys, url, "put", str(tmp_path / "missing.txt"))
    assert status == 1 and err.startswith("bg96 files: cannot read ") and "missing.txt" in err
    (tmp_path / "empty").write_bytes(b"")
    status, _, err = files(capsys, url, "put", str(tmp_path / "empty"))
    assert (status, err) == (1, f"bg96 files: put empty: {tmp_path / 'empty'} is empty; "
                                "AT+QFUPL takes 1 byte or more\n")  # fmt: skip
    status, _, err = files(capsys, url, "rm", "nope", "a.txt", "UFS:nope2")  # like rm(1)
    assert status == 1 and module.store.read("a.txt") is None
    assert err == (
        "bg96 files: rm nope: file not found (+CME ERROR: 405)\n"
        "bg96 files: rm UFS:nope2: file not found (+CME ERROR: 405)\n"
    )
    status, _, err = files(capsys, url, "put", str(local), 'bad"name')
    assert status == 2 and "not a valid UFS file name" in err
    status, _, err = files(capsys, url, "put", str(local), "x" * 81)
    assert status == 2 and "longer than 80 bytes" in err


def test_no_module(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = files(capsys, "socket://127.0.0.1:1", "ls")
    assert status == 3 and out == ""
    assert err.startswith("bg96 files: cannot open socket://127.0.0.1:1")
    with pytest.raises(SystemExit) as exit_:
        cli_main(["files", "socket://127.0.0.1:1", "cp"])
    assert exit_.value.code == 2


def test_progress_bar_on_a_terminal(
    module: VirtualModule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = TtyBuffer()
    monkeypatch.setattr(sys, "stderr", stderr)
    local = tmp_path / "big.bin"
    local.write_bytes(bytes(range(256)) * 20)  # 5120 bytes: five 1 kB blocks
    assert cli_main(["files", module.url, "put", str(local)]) == 0
    drawn = stderr.getvalue()
    assert drawn.startswith("\rput big.bin [") and drawn.endswith("100% 5120/5120 B\n")
    assert "#" * 30 in drawn


def test_progress_bar_is_silent_in_logs() -> None:
    log = io.StringIO()
    bar = ProgressBar("put x", log)
    bar(512, 1024)
    bar(1024, 1024)
    bar.close()
    assert log.getvalue() == ""


def test_describe() -> None:
    assert describe(CommandError('AT+QFDEL="x"', b"+CME ERROR: 405", 405)) == (
        "file not found (+CME ERROR: 405)"
    )
    assert describe(CommandError("AT+X", b"ERROR")) == "the module answered ERROR"
    assert describe(CommandError("AT+QFUPL", b"", None, "checksum mismatch: ours 2d13")) == (
        "checksum mismatch: ours 2d13"
    )


def test_as_a_command(module: VirtualModule) -> None:
    module.store.write("cacert.pem", CA)
    result = subprocess.run(
        [sys.executable, "-m", "bg96", "files", module.url, "ls"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, f"cacert.pem  {len(CA)}\n", "")
