"""Methods made from procedures, so that each operation is written once.

``Modem`` declares ``identify = blocking(operations.identify)``, ``AsyncModem`` declares
``identify = awaitable(operations.identify)``: the method takes the procedure's parameters
(after its first, the state: ``ModemCore`` or a socket's ``Link``), has its docstring, and
runs it on ``self._state`` through ``self._run`` (to completion in the caller's thread, or
awaited).
``wrap`` turns the procedure's result into the face's (a link into a connection object).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

from .requests import Procedure

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


@overload
def blocking(
    proc: Callable[Concatenate[Any, P], Procedure[T]],
) -> Callable[Concatenate[Any, P], T]: ...
@overload
def blocking(
    proc: Callable[Concatenate[Any, P], Procedure[T]], wrap: Callable[[Any, T], R]
) -> Callable[Concatenate[Any, P], R]: ...
def blocking(
    proc: Callable[..., Procedure[Any]], wrap: Callable[[Any, Any], Any] | None = None
) -> Callable[..., Any]:
    """A method that runs ``proc`` to completion in the caller's thread."""
    if wrap is None:

        def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return self._run(proc(self._state, *args, **kwargs))

    else:
        wrapper = wrap

        def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return wrapper(self, self._run(proc(self._state, *args, **kwargs)))

    return _present(method, proc, wrap is None)


@overload
def awaitable(
    proc: Callable[Concatenate[Any, P], Procedure[T]],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]: ...
@overload
def awaitable(
    proc: Callable[Concatenate[Any, P], Procedure[T]], wrap: Callable[[Any, T], R]
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]: ...
def awaitable(
    proc: Callable[..., Procedure[Any]], wrap: Callable[[Any, Any], Any] | None = None
) -> Callable[..., Any]:
    """A coroutine method that runs ``proc``, awaiting what it asks for."""
    if wrap is None:

        async def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return await self._run(proc(self._state, *args, **kwargs))

    else:
        wrapper = wrap

        async def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return wrapper(self, await self._run(proc(self._state, *args, **kwargs)))

    return _present(method, proc, wrap is None)


def _present(
    method: Callable[..., Any], proc: Callable[..., Any], same_result: bool
) -> Callable[..., Any]:
    """Name, docstring and signature of ``proc`` (its state parameter shown as ``self``), for
    ``help()`` and ``inspect.signature``."""
    signature = inspect.signature(proc)
    _state, *rest = signature.parameters.values()
    me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    returns = signature.return_annotation if same_result else inspect.Signature.empty
    if isinstance(returns, str) and returns.startswith("Procedure[") and returns.endswith("]"):
        returns = returns[len("Procedure[") : -1]  # what the method gives back
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[me, *rest], return_annotation=returns
    )
    method.__name__ = method.__qualname__ = proc.__name__
    method.__doc__ = proc.__doc__
    return method
