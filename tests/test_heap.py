"""The malloc settings ``bg96 serve`` and ``bg96 fleet`` make (``bg96.module.heap``)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from bg96.module import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_both_thresholds() -> None:
    # in a process of its own, as the commands call it
    code = "from bg96.module import heap; print(heap.tune())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_nothing_changes_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert heap.tune() is False


def test_importing_the_module_changes_nothing() -> None:
    code = "import bg96, bg96.module.virtual, sys; print('bg96.module.heap' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
