"""The command table: names to handlers, filled by the modules in ``commands/``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from .cmdline import Command
    from .core import Engine
    from .outcome import Outcome

Handler: TypeAlias = "Callable[[Engine, Command], Outcome]"


@dataclass(frozen=True)
class Entry:
    """A handler and how the engine answers for it when its parameters are wrong.

    ``qi``: a TCP/IP or SSL command; a bad parameter answers ``ERROR`` and sets the
    AT+QIGETERROR code to 552, and the code is reset to 0 when the command starts.
    """

    handler: Handler
    qi: bool = False


COMMANDS: dict[str, Entry] = {}


def command(*names: str, qi: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler under one or more command names (``+QSSLCFG``, ``E``, ``&F``)."""

    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = Entry(handler, qi)
        return handler

    return register
