"""The virtual module, pure: bytes, events and time in; bytes and intents out."""

from .core import Engine
from .events import (
    Close,
    Closed,
    Connect,
    Connected,
    ConnectFailed,
    Intent,
    NetEvent,
    NetFault,
    Note,
    PeerClosed,
    Received,
    Resolve,
    Resolved,
    Send,
    Sent,
    SetReading,
    TcpConnected,
    TlsParams,
)
from .files import FileStore, MemoryStore, checksum
from .state import ModuleConfig

__all__ = [
    "Close",
    "Closed",
    "Connect",
    "ConnectFailed",
    "Connected",
    "Engine",
    "FileStore",
    "Intent",
    "MemoryStore",
    "ModuleConfig",
    "NetEvent",
    "NetFault",
    "Note",
    "PeerClosed",
    "Received",
    "Resolve",
    "Resolved",
    "Send",
    "Sent",
    "SetReading",
    "TcpConnected",
    "TlsParams",
    "checksum",
]
