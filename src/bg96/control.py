"""The control endpoint of a running module (``bg96 serve --control HOST:PORT``).

One JSON object a line each way. Requests: ``{"op": "fault", "script": "<fault lines>"}``
(the fault script format, docs/faults.md) and ``{"op": "status"}``; each may carry
``"token"``. Answers: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. Loopback only
unless a token is set; with a token every request must carry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
from typing import Any

from .faults import FaultError
from .virtual import VirtualModule

MAX_REQUEST = 65536  # bytes of one request line


class ControlError(Exception):
    """The control endpoint cannot start as asked, or a request failed."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlServer:
    """Serves requests for ``module`` on ``host:port``."""

    def __init__(
        self, module: VirtualModule, host: str = "127.0.0.1", port: int = 0, token: str = ""
    ) -> None:
        if not _is_loopback(host) and not token:
            raise ControlError(f"the control endpoint on {host} needs a token (--control-token)")
        self.module = module
        self.host = host
        self.port = port
        self.token = token
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._client, self.host, self.port, limit=MAX_REQUEST
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await self._reply(writer, {"ok": False, "error": "request too long"})
                    return
                if not line:
                    return
                answer, keep = self.handle(line)
                await self._reply(writer, answer)
                if not keep:
                    return
        except (ConnectionError, OSError):
            return  # the client went away mid-request: nothing to undo
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, answer: dict[str, Any]) -> None:
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()

    def handle(self, line: bytes) -> tuple[dict[str, Any], bool]:
        """One request line: (the answer, whether the connection stays open)."""
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return {"ok": False, "error": "not a JSON object"}, True
        if not isinstance(request, dict):
            return {"ok": False, "error": "not a JSON object"}, True
        if self.token and not hmac.compare_digest(str(request.get("token", "")), self.token):
            return {"ok": False, "error": "bad or missing token"}, False
        op = request.get("op")
        if op == "fault":
            script = request.get("script")
            if not isinstance(script, str):
                return {"ok": False, "error": '"script" must be a string'}, True
            try:
                self.module.faults.run(script)
            except (FaultError, ValueError, RuntimeError) as exc:
                return {"ok": False, "error": str(exc)}, True
            return {"ok": True}, True
        if op == "status":
            return {"ok": True, "status": self.status()}, True
        return {"ok": False, "error": f"unknown op {op!r} (fault, status)"}, True

    def status(self) -> dict[str, Any]:
        """What a person wants at a glance: registration, PDP contexts, sockets, files."""
        engine = self.module.engine
        if engine is None:
            return {}
        return {
            "registered": engine.registered,
            "mode": engine.mode.value,
            "pdp": {cid: ctx.ip for cid, ctx in engine.pdp.items() if ctx.active},
            "sockets": [
                {
                    "client_id": s.client_id,
                    "state": int(s.state),
                    "access_mode": int(s.access_mode),
                    "host": s.host,
                    "port": s.port,
                    "buffered": len(s.recv),
                    "received": s.total_received,
                }
                for s in sorted(engine.sockets.values(), key=lambda s: s.client_id)
            ],
            "files": {name: engine.store.size(name) for name in engine.store.names()},
        }


async def request(host: str, port: int, payload: dict[str, Any], token: str = "") -> Any:
    """Send one request to a control endpoint and return its answer."""
    if token:
        payload = {**payload, "token": token}
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    if not line:
        raise ControlError("the control endpoint closed the connection")
    return json.loads(line)
