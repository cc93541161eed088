"""A virtual module driven directly through the sans-IO engine, on a virtual clock."""

from __future__ import annotations

from bg96.engine import (
    Connect,
    Connected,
    Engine,
    Intent,
    MemoryStore,
    ModuleConfig,
    NetEvent,
    Note,
    TcpConnected,
    TlsParams,
)


def tls_of(intent: Connect) -> TlsParams:
    """The TLS settings of an SSL open (a plain one has none)."""
    assert intent.tls is not None, "not an SSL open"
    return intent.tls


class Module:
    """An engine after boot, with the helpers a transcript test needs."""

    def __init__(self, config: ModuleConfig | None = None, store: MemoryStore | None = None):
        self.store = store if store is not None else MemoryStore()
        self.engine = Engine(store=self.store, config=config, now=0.0)
        self.now = 0.0
        self.engine.power_on()
        self.boot = self.advance(1.0)
        self.notes: list[str] = []
        self.pending: list[Intent] = []

    def out(self) -> bytes:
        return self.engine.data_to_send()

    def send(self, data: bytes) -> bytes:
        self.engine.receive_data(data)
        return self.out()

    def cmd(self, line: str | bytes) -> bytes:
        data = line.encode("latin-1") if isinstance(line, str) else line
        return self.send(data + b"\r")

    def advance(self, seconds: float) -> bytes:
        self.now += seconds
        self.engine.advance(self.now)
        return self.out()

    def event(self, event: NetEvent) -> bytes:
        self.engine.network_event(event)
        return self.out()

    def intents(self) -> list[Intent]:
        """Network intents since the last call; notes are kept aside in ``notes``."""
        got = self.engine.intents()
        self.notes += [i.text for i in got if isinstance(i, Note)]
        return [i for i in got if not isinstance(i, Note)]

    def activate(self, cid: int = 1) -> None:
        assert self.cmd(f"AT+QIACT={cid}").endswith(b"\r\nOK\r\n")

    def open(
        self,
        client_id: int = 4,
        ssl_ctx: int = 1,
        host: str = "220.180.239.201",
        port: int = 8010,
        local_port: int = 65344,
        pdp: int = 1,
        mode: int = 0,
    ) -> Connect:
        """Open a connection and complete it with network events; returns the intent."""
        if not self.engine.pdp[pdp].active:
            self.activate(pdp)
        out = self.cmd(f'AT+QSSLOPEN={pdp},{ssl_ctx},{client_id},"{host}",{port},{mode}')
        assert out.endswith(b"\r\nOK\r\n"), out
        connects = [i for i in self.intents() if isinstance(i, Connect)]
        assert len(connects) == 1
        intent = connects[0]
        self.event(TcpConnected(client_id, intent.conn_seq, local_port, host))
        urc = self.event(Connected(client_id, intent.conn_seq, "TLSv1.2", "AES256-SHA"))
        assert urc == f"\r\n+QSSLOPEN: {client_id},0\r\n".encode(), urc
        return intent
