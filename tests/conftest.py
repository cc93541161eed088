"""Fixtures more than one test module uses. A module's own ``pki`` (its CA) is the one these
take."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bg96.testing import TestPki
from bg96.testing.http_server import HttpServer


@pytest.fixture(scope="module")
def http() -> Iterator[HttpServer]:
    """A loopback HTTP server (``bg96.testing.http_server``) for the module's tests."""
    with HttpServer() as server:
        yield server


@pytest.fixture(scope="module")
def https(pki: TestPki) -> Iterator[HttpServer]:
    """The same over TLS, with a certificate from the test module's ``pki``."""
    with HttpServer(pki.server_ctx()) as server:
        yield server
