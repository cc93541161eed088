"""The command table: names to handlers, filled by the modules in ``commands/``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from .cmdline import Kind

if TYPE_CHECKING:
    from .cmdline import Command
    from .core import Engine
    from .outcome import Outcome

Handler: TypeAlias = "Callable[[Engine, Command], Outcome]"

ALL_FORMS = frozenset(Kind)
WRITE = frozenset({Kind.WRITE})
WRITE_EXEC = frozenset({Kind.WRITE, Kind.EXEC})


@dataclass(frozen=True)
class Entry:
    """A handler and what the engine answers for it without calling it.

    ``test``: the fixed answer to ``=?`` (lines before ``OK``), or None when the handler
    answers it. ``forms``: the forms the handler takes; any other answers ``ERROR``.
    ``qi``: a TCP/IP or SSL command: its AT+QIGETERROR code is reset when it starts, and
    set to 552 when it is refused without a more specific code.
    """

    handler: Handler
    qi: bool = False
    test: tuple[str, ...] | None = None
    forms: frozenset[Kind] = ALL_FORMS


COMMANDS: dict[str, Entry] = {}


def command(
    *names: str,
    qi: bool = False,
    test: str | tuple[str, ...] | None = None,
    forms: frozenset[Kind] = ALL_FORMS,
) -> Callable[[Handler], Handler]:
    """Register a handler under one or more command names (``+QSSLCFG``, ``E``, ``&F``)."""
    lines = (test,) if isinstance(test, str) else test
    if lines == ("",):
        lines = ()

    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = Entry(handler, qi, lines, forms)
        return handler

    return register
