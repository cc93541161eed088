"""``bg96 monitor``: a live terminal view of a running module, through its control endpoint.

It polls ``status`` (registration, PDP contexts, the 12 sockets, SSL contexts, files),
follows the ``trace`` stream and sends the fault lines typed into its input line. When the
endpoint goes away it says so and keeps trying. The strings it shows come from
``monitor_model``; this module only places them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Input, Log, Static

from ..module.control import ControlClient, ControlError
from .monitor_model import (
    FILE_COLUMNS,
    SOCKET_COLUMNS,
    SSL_COLUMNS,
    Row,
    fault_outcome,
    file_rows,
    mqtt_rows,
    pdp_summary,
    socket_rows,
    sockets_summary,
    ssl_rows,
    summary,
    trace_lines,
)

TRACE_LINES = 5000  # the log keeps this many lines
TALL = 40  # rows from which the socket table lists the free client IDs too
_GONE = (OSError, ControlError, ValueError, asyncio.TimeoutError)  # the endpoint went away


class MonitorApp(App[None]):
    """The monitor of the module whose control endpoint is ``host:port``."""

    TITLE = "bg96 monitor"
    # Fits 80x24: no header, borderless fault line, the tables as tall as their rows; on a
    # short terminal (under TALL rows) the free client IDs are left out of the socket table.
    CSS = """
    #summary { height: 2; padding: 0 1; }
    #sockets { height: auto; max-height: 13; }
    #lower { height: auto; max-height: 7; }
    #ssl { width: auto; height: auto; max-height: 7; }
    #files { width: 1fr; min-width: 16; height: auto; max-height: 7; }
    #trace { height: 1fr; min-height: 4; border: round $primary; }
    #fault { height: 1; border: none; padding: 0 1; background: $boost; }
    #message { height: 1; padding: 0 1; }
    MonitorApp.-short #sockets { max-height: 8; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("f", "focus_fault", "fault"),
        Binding("escape", "leave_fault", "back", show=False),
    ]

    def __init__(
        self,
        host: str,
        port: int,
        token: str = "",
        *,
        poll: float = 0.5,
        retry: float = 1.0,
    ) -> None:
        super().__init__()
        self.host, self.port, self.token = host, port, token
        self.poll, self.retry = poll, retry
        self.connected = False
        self.trace_live = False  # subscribed to the trace stream
        self.status: dict[str, Any] = {}
        self._client: ControlClient | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def compose(self) -> ComposeResult:
        yield Static(Text(f"connecting to {self.endpoint} ..."), id="summary")
        yield DataTable(id="sockets", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="lower"):
            yield DataTable(id="ssl", cursor_type="row")
            yield DataTable(id="files", cursor_type="row")
        yield Log(id="trace", max_lines=TRACE_LINES)
        yield Input(placeholder="a fault line, e.g. server-reset 0 (Enter sends)", id="fault")
        yield Static(id="message")
        yield Footer()

    @property
    def short(self) -> bool:
        """Too few rows for all 12 client IDs: the socket table lists those in use."""
        return self.size.height < TALL

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(self.short, "-short")
        if self.status:
            self._show(self.status)

    def on_mount(self) -> None:
        for table_id, columns in (
            ("#sockets", SOCKET_COLUMNS),
            ("#ssl", SSL_COLUMNS),
            ("#files", FILE_COLUMNS),
        ):
            self.query_one(table_id, DataTable).add_columns(*columns)
        self.query_one("#trace", Log).border_title = "AT trace"
        self.run_worker(self._poll_status(), name="status", exit_on_error=False)
        self.run_worker(self._follow_trace(), name="trace", exit_on_error=False)

    # ---- keys and the fault line ------------------------------------------------------

    def action_focus_fault(self) -> None:
        self.query_one("#fault", Input).focus()

    def action_leave_fault(self) -> None:
        self.query_one("#sockets", DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        if not line:
            return
        client = self._client
        if client is None:
            self._message(f"not connected to {self.endpoint}: the fault was not sent", True)
            return
        # in a worker: a module that is slow to answer must not freeze the keys
        self.run_worker(self._send_fault(client, line, event.input), exit_on_error=False)

    async def _send_fault(self, client: ControlClient, line: str, field: Input) -> None:
        try:
            answer = await client.request({"op": "fault", "script": line})
        except _GONE as exc:
            why = exc or type(exc).__name__
            self._message(f"no answer to the fault (it may still act): {why}", True)
            return
        text, failed = fault_outcome(line, answer)
        self._message(text, failed)
        if not failed and field.value.strip() == line:
            field.value = ""

    # ---- the endpoint -----------------------------------------------------------------

    async def _poll_status(self) -> None:
        while True:
            try:
                client = await ControlClient.connect(self.host, self.port, self.token)
            except OSError as exc:
                self._disconnected(str(exc))
                await asyncio.sleep(self.retry)
                continue
            self._client = client
            try:
                while True:
                    answer = await client.request({"op": "status"})
                    if not answer.get("ok"):
                        self._disconnected(str(answer.get("error")))
                        break
                    self._show(answer.get("status", {}))
                    await asyncio.sleep(self.poll)
            except _GONE as exc:
                self._disconnected(str(exc) or "the connection was lost")
            finally:
                self._client = None
                await client.close()
            await asyncio.sleep(self.retry)

    async def _follow_trace(self) -> None:
        log = self.query_one("#trace", Log)
        while True:
            try:
                client = await ControlClient.connect(self.host, self.port, self.token)
                try:
                    await client.subscribe_trace()
                    self.trace_live = True
                    log.write_line(f"{'':>10} -- following the trace of {self.endpoint}")
                    async for item in client.lines():
                        log.write_lines(trace_lines(item))
                finally:
                    await client.close()
            except _GONE:
                pass
            if self.trace_live:
                log.write_line(f"{'':>10} -- disconnected")
            self.trace_live = False
            await asyncio.sleep(self.retry)

    # ---- showing ------------------------------------------------------------------------

    def _show(self, status: dict[str, Any]) -> None:
        self.connected = True
        self.status = status
        self.query_one("#summary", Static).update(
            Text(
                f"{self.endpoint} · {summary(status)}\n"
                f"{pdp_summary(status)} · {sockets_summary(status)}"
            )
        )
        rows = socket_rows(status, free=not self.short) + mqtt_rows(status)
        _fill(self.query_one("#sockets", DataTable), rows)
        _fill(self.query_one("#ssl", DataTable), ssl_rows(status))
        _fill(self.query_one("#files", DataTable), file_rows(status))

    def _disconnected(self, reason: str) -> None:
        self.connected = False
        self.query_one("#summary", Static).update(
            Text(f"disconnected from {self.endpoint}: {reason}; retrying every {self.retry:g} s")
        )

    def _message(self, text: str, error: bool = False) -> None:
        self.query_one("#message", Static).update(Text(text, style="bold red" if error else ""))


def _fill(table: DataTable[Any], rows: Sequence[Row]) -> None:
    """Show ``rows``, changing only the cells that changed when the rows are the same."""
    keys = [key for key, _ in rows]
    if [key.value for key in table.rows] != keys:
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        return
    columns = list(table.columns)
    for key, cells in rows:
        for column, was, now in zip(columns, table.get_row(key), cells, strict=True):
            if was != now:
                table.update_cell(key, column, now, update_width=True)


def run(host: str, port: int, token: str = "") -> int:
    """Run the monitor in this terminal until the user quits."""
    MonitorApp(host, port, token).run()
    return 0
