"""The pytest plugin, as a user's test run sees it: fixtures, a fresh module per test,
``--bg96-url`` against ``bg96 serve``, and what is skipped there."""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import pytest

from bg96 import Modem
from bg96.pytest_plugin import VIRTUAL_ONLY
from tests.test_cli import ServeProcess

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).parent.parent / "examples" / "test_with_bg96.py"
PORTABLE = Path(__file__).parent / "test_driver_portable.py"

SUITE = """
import pytest

from bg96 import Modem, OpenFailed, VirtualModule
from bg96.engine import ModuleConfig
from bg96.testing.loopback import LoopbackTlsServer


def test_modem_is_synced(bg96_modem: Modem) -> None:
    assert bg96_modem.identify()[:2] == ["Quectel", "BG96"]
    assert bg96_modem.query("AT+CMEE?", "+CMEE:") == ["1"]


def test_echo_through_the_module(bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer) -> None:
    assert bg96_tls_server.host == "127.0.0.1"
    assert bg96_tls_server.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    if bg96_modem.ip_address(1) is None:
        bg96_modem.activate(1)
    if "ca.pem" in bg96_modem.list_files():
        bg96_modem.delete("ca.pem")
    bg96_modem.upload("ca.pem", bg96_tls_server.ca_pem)
    bg96_modem.ssl_config(2, seclevel=1, cacert="ca.pem")
    conn = bg96_modem.open_ssl(3, bg96_tls_server.host, bg96_tls_server.port, ssl_ctx=2)
    conn.send(b"ping")
    assert conn.recv(4, timeout=10) == b"ping"
    assert bg96_tls_server.received == b"ping"
    # left open on purpose: with --bg96-url the fixture closes it, so the next run can reuse 3


@pytest.mark.bg96_virtual_only
@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_module(
    run: int, bg96_module: VirtualModule, bg96_modem: Modem, bg96_url: str
) -> None:
    assert bg96_url == bg96_module.url
    assert bg96_module.store.names() == []
    assert bg96_modem.ip_address(1) is None
    bg96_modem.activate(1)
    bg96_modem.upload(f"run{run}.txt", b"x")
    assert bg96_module.store.names() == [f"run{run}.txt"]


@pytest.mark.bg96_virtual_only
def test_names_resolve_only_through_overrides(bg96_modem: Modem) -> None:
    bg96_modem.activate(1)
    with pytest.raises(OpenFailed) as failed:
        bg96_modem.open_ssl(0, "localhost", 443)
    assert failed.value.code == 565  # DNS parse failed


@pytest.mark.bg96_virtual_only
@pytest.mark.parametrize(
    "bg96_module_options",
    [{"config": ModuleConfig(revision="BG96TEST"), "resolve": {"echo.test": "127.0.0.1"}}],
)
def test_options_reach_the_module(bg96_modem: Modem, bg96_tls_server: LoopbackTlsServer) -> None:
    assert bg96_modem.identify()[2] == "Revision: BG96TEST"
    bg96_modem.activate(1)
    conn = bg96_modem.open_ssl(0, "echo.test", bg96_tls_server.port)  # seclevel 0
    conn.send(b"by name")
    assert conn.recv(7, timeout=10) == b"by name"
"""

NEEDS_MODULE = """
def test_asks_for_the_module(bg96_module):
    raise AssertionError("not skipped")
"""

NEEDS_SERVER = """
def test_asks_for_the_server(bg96_url, bg96_tls_server):
    raise AssertionError("not skipped")
"""


def copy_test_file(pytester: pytest.Pytester, source: Path) -> None:
    """A test file under another name (the outer run may have imported it under its own)."""
    shutil.copy(source, pytester.path / f"{source.stem}_copy.py")


def serve_url(serve: ServeProcess) -> str:
    """The ``socket://`` URL ``bg96 serve --tcp 127.0.0.1:0`` announces on its first line."""
    first = serve.line()
    m = re.search(r"socket://127\.0\.0\.1:\d+", first)
    assert m, first
    return m.group(0)


def test_fixtures_on_a_virtual_module_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    copy_test_file(pytester, EXAMPLE)
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=9)


def test_the_same_files_against_bg96_serve(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_suite=SUITE, test_needs_module=NEEDS_MODULE)
    copy_test_file(pytester, EXAMPLE)
    files = tmp_path / "files"
    with ServeProcess("--tcp", "127.0.0.1:0", "--files", str(files)) as serve:
        url = serve_url(serve)
        # twice: the module keeps its state between runs, as hardware does
        for _ in range(2):
            result = pytester.runpytest("--bg96-url", url, "-rs")
            result.assert_outcomes(passed=4, skipped=6)
        assert serve.stop(signal.SIGTERM) == 0
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED [[]1[]] test_needs_module.py:*: bg96_module: running against --bg96-url"
            f" {url}, no virtual module",
            f"SKIPPED [[]2[]] test_suite.py:*: bg96_virtual_only: running against --bg96-url {url}",
        ]
    )
    assert sorted(p.name for p in files.iterdir()) == ["ca.pem", "cacert.pem"]


def test_the_portable_driver_tests_against_bg96_serve(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """tests/test_driver_portable.py with --bg96-url: all pass but the bg96_virtual_only
    ones, which are skipped, and the module is left as clean as it started."""
    copy_test_file(pytester, PORTABLE)
    files = tmp_path / "files"
    with ServeProcess("--tcp", "127.0.0.1:0", "--files", str(files)) as serve:
        url = serve_url(serve)
        reprec = pytester.inline_run("--bg96-url", url, "--strict-markers")
        passed, skipped, failed = reprec.listoutcomes()
        assert [r.nodeid for r in failed] == []
        assert passed and not [r.nodeid for r in passed if VIRTUAL_ONLY in r.keywords]
        assert skipped and not [r.nodeid for r in skipped if VIRTUAL_ONLY not in r.keywords]
        reason = f"Skipped: {VIRTUAL_ONLY}: running against --bg96-url {url}"
        for report in skipped:
            assert isinstance(report.longrepr, tuple) and report.longrepr[2] == reason
        with Modem.open(url) as modem:
            modem.sync()
            assert modem.ssl_state() == []
        assert serve.stop(signal.SIGTERM) == 0
    assert list(files.iterdir()) == []


def test_no_loopback_server_for_a_module_elsewhere(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_needs_module=NEEDS_MODULE, test_needs_server=NEEDS_SERVER)
    for url in ("/dev/ttyUSB2", "socket://192.0.2.1:7000"):
        result = pytester.runpytest("--bg96-url", url, "-rs")
        result.assert_outcomes(skipped=2)
        result.stdout.fnmatch_lines(
            [f"*bg96_tls_server listens on 127.0.0.1, which the module at {url} cannot reach"]
        )


def test_option_and_marker_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--bg96-url=URL*"])
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.bg96_virtual_only: *skipped with --bg96-url"])


NETWORK_SUITE = """
import pytest

def test_on_the_profile(bg96_module, bg96_modem):
    assert bg96_module.network.name == "lte-m"
    assert bg96_modem.query("AT+CEREG?", "+CEREG:") == ["0,1"]  # waited for registration

@pytest.mark.parametrize("bg96_module_options", [{"network": "ideal"}])
def test_own_profile_wins(bg96_module):
    assert bg96_module.network.name == "ideal"
"""


def test_a_whole_suite_over_a_network_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_network_suite=NETWORK_SUITE)
    result = pytester.runpytest("--bg96-network", "lte-m")
    result.assert_outcomes(passed=2)
    result = pytester.runpytest("--bg96-network", "wifi")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--bg96-network: invalid choice: 'wifi'*"])
