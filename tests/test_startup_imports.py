"""What each entry point loads, in a fresh interpreter: start-up pays only for what it uses
(issue 15: ``bg96 serve`` without the host driver, pyserial or ``cryptography.x509``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

WATCHED = (
    "bg96.engine",
    "bg96.host",
    "bg96.fleet",
    "bg96.tls.session",
    "cryptography.x509",
    "serial",
    "textual",
    "tlslite",
)


def loaded_after(code: str) -> set[str]:
    """The watched modules in ``sys.modules`` after running ``code`` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, text=True)
    return set(json.loads(out.stdout.splitlines()[-1])) & set(WATCHED)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import bg96", set()),
        ("from bg96 import Modem", {"bg96.host", "serial"}),
        ("import bg96.cli.app; bg96.cli.app.build_parser()", set()),
        ("import bg96.cli.serve", {"bg96.engine"}),
        ("import bg96.cli.shell", {"bg96.host", "serial"}),
    ],
    ids=["package", "driver", "parser", "serve", "shell"],
)
def test_an_entry_point_loads_only_what_it_uses(code: str, expected: set[str]) -> None:
    assert loaded_after(code) == expected


def test_the_tls_backends_load_with_the_first_tls_connection() -> None:
    code = r"""
import asyncio, sys
from bg96 import VirtualModule

async def until(reader, marker):
    got = b""
    while marker not in got:
        got += await asyncio.wait_for(reader.read(4096), 10)
    return got

async def main():
    async with VirtualModule(system_resolver=False) as module:
        port = int(module.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await until(reader, b"SMS DONE")
        writer.write(b"AT+QIACT=1\r")
        await until(reader, b"OK")
        before = "cryptography.x509" in sys.modules
        writer.write(b'AT+QSSLOPEN=1,1,0,"127.0.0.1",9,0\r')
        await until(reader, b"+QSSLOPEN: ")
        print("loaded", before, "cryptography.x509" in sys.modules)
        writer.close()

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "loaded False True" in out.stdout, out.stderr
