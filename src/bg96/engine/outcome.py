"""What a command handler returns: a final result, an error, or "not finished yet"."""

from __future__ import annotations

from dataclasses import dataclass

from .codes import Result


@dataclass(frozen=True)
class Final:
    """A final result code (``OK``, ``NO CARRIER``, ``SEND OK`` as text...)."""

    result: Result | str = Result.OK


@dataclass(frozen=True)
class Error:
    """``ERROR``, or ``+CME ERROR: <cme>`` when CMEE allows and ``cme`` is given."""

    cme: int | None = None


@dataclass(frozen=True)
class Pending:
    """The command goes on (waiting for the network, a timer or a data phase)."""


@dataclass(frozen=True)
class Transparent:
    """``CONNECT``, and the port belongs to connection ``client_id`` (transparent mode)."""

    client_id: int


Outcome = Final | Error | Pending | Transparent

OK = Final(Result.OK)
ERROR = Error()
PENDING = Pending()


def cme(code: int) -> Error:
    return Error(code)
