"""NSS key logs: bg96 serve --keylog and SSLKEYLOGFILE, for both TLS libraries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bg96 import Modem, VirtualModule
from bg96.module.keylog import keylog_from_env, open_keylog
from bg96.testing import TestPki
from bg96.testing.tls_server import ThreadedTlsEchoServer

LINE = re.compile(r"(CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}|#.*)")


@pytest.mark.parametrize("version", [3, 4], ids=["openssl", "tlslite-ng"])
def test_every_connection_is_logged(tmp_path: Path, version: int) -> None:
    """sslversion 3 (TLS 1.2 only) runs on OpenSSL, the default 4 on tlslite-ng."""
    path = tmp_path / "keys.log"
    pki = TestPki()
    with (
        ThreadedTlsEchoServer(pki.server_ctx()) as echo,
        VirtualModule(system_resolver=False, keylog=open_keylog(path)) as module,
        Modem.open(module.url) as modem,
    ):
        modem.sync()
        modem.activate()
        modem.ssl_config(0, version=version)
        for client_id in (0, 1):
            conn = modem.open_ssl(client_id, "127.0.0.1", echo.port)
            conn.send(b"ping")
            assert conn.recv(10, timeout=5) == b"ping"
            conn.close()
    lines = [x for x in path.read_text().splitlines() if not x.startswith("#")]
    assert len(lines) == 2
    assert all(LINE.fullmatch(x) for x in lines), lines


def test_sslkeylogfile_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSLKEYLOGFILE", raising=False)
    assert keylog_from_env() is None
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "env.log"))
    write = keylog_from_env()
    assert write is not None
    write("CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48)
    assert (tmp_path / "env.log").read_text().count("CLIENT_RANDOM") == 1
