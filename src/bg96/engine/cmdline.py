"""Splitting one command line (the text after ``AT``) into commands, V.25ter style.

``ATE0V1+CMEE=1;+QICSGP=1`` holds basic commands (a letter or ``&`` letter with an
optional number, ``S<n>?`` / ``S<n>=<v>``) and extended commands (``+NAME`` with ``=?``,
``?``, ``=<args>`` or nothing) separated by ``;``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from .params import Param, parse_params


class Kind(Enum):
    TEST = "=?"
    READ = "?"
    WRITE = "="
    EXEC = ""


class LineError(ValueError):
    """The line is not valid AT syntax."""


@dataclass
class Command:
    """One command of a line: its upper-case name, form and raw argument text."""

    name: str
    kind: Kind
    args: str = ""

    @cached_property
    def params(self) -> list[Param]:
        return parse_params(self.args)

    def __str__(self) -> str:
        return f"AT{self.name}{self.kind.value if self.kind is not Kind.WRITE else '='}{self.args}"


_EXT_START = "+$%^"
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.!%-")


def _args_end(text: str, i: int) -> int:
    """Index of the ``;`` that ends an argument list starting at ``i`` (quotes respected)."""
    n = len(text)
    quoted = False
    while i < n:
        c = text[i]
        if c == '"':
            quoted = not quoted
        elif c == ";" and not quoted:
            return i
        i += 1
    if quoted:
        raise LineError("unterminated string")
    return n


def _digits(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i].isdigit() and text[i].isascii():
        i += 1
    return i


def _form(text: str, j: int, args_end: Callable[[str, int], int]) -> tuple[Kind, str, int]:
    """The form after a command name at ``j``: (kind, argument text, index after it)."""
    if text.startswith("=?", j):
        return Kind.TEST, "", j + 2
    if text.startswith("?", j):
        return Kind.READ, "", j + 1
    if text.startswith("=", j):
        end = args_end(text, j + 1)
        return Kind.WRITE, text[j + 1 : end], end
    return Kind.EXEC, "", j


def split_commands(text: str) -> list[Command]:
    """All commands of the line ``text`` (which follows ``AT``)."""
    cmds: list[Command] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " ;":
            i += 1
        elif c in _EXT_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            if j == i + 1:
                raise LineError("empty command name")
            name = text[i:j].upper()
            kind, args, j = _form(text, j, _args_end)
            cmds.append(Command(name, kind, args))
            while j < n and text[j] == " ":
                j += 1
            if j < n and text[j] != ";":
                raise LineError(f"unexpected {text[j]!r} after {name}")
            i = j
        elif c == "&":
            if i + 1 >= n or not text[i + 1].isalpha():
                raise LineError("bad & command")
            j = _digits(text, i + 2)
            args = text[i + 2 : j]
            cmds.append(Command("&" + text[i + 1].upper(), Kind.WRITE if args else Kind.EXEC, args))
            i = j
        elif c in "Ss" and i + 1 < n and text[i + 1].isdigit() and text[i + 1].isascii():
            j = _digits(text, i + 1)
            number = text[i + 1 : j].lstrip("0") or "0"
            if len(number) > 3:  # S registers are 0-255 (and int() refuses 4300 digits)
                raise LineError(f"no S register S{number[:8]}...")
            name = "S" + number
            kind, args, i = _form(text, j, _digits)
            if kind is Kind.EXEC:
                raise LineError("S register without ? or =")
            cmds.append(Command(name, kind, args))
        elif c.isalpha() and c.isascii():
            name = c.upper()
            if text.startswith("=?", i + 1):
                cmds.append(Command(name, Kind.TEST))
                i += 3
            elif text.startswith("?", i + 1):
                cmds.append(Command(name, Kind.READ))
                i += 2
            else:
                j = _digits(text, i + 1)
                args = text[i + 1 : j]
                cmds.append(Command(name, Kind.WRITE if args else Kind.EXEC, args))
                i = j
        else:
            raise LineError(f"unexpected {c!r}")
    return cmds
