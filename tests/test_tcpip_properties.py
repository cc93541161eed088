"""One table of 12 client IDs: opens and closes of both families in any order never let
QISTATE and QSSLSTATE disagree with each other or with what was opened."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.engine import Closed, Connect, Connected, PeerClosed, TcpConnected

from .helpers import Module

Action = tuple[str, int]
ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["tcp", "udp", "ssl", "qiclose", "qsslclose", "connect", "peer"]),
        st.integers(0, 11),
    ),
    max_size=40,
)
_STATE = re.compile(rb"\+Q(SSL|I)STATE: (\d+),")


def listed(m: Module) -> tuple[set[int], set[int]]:
    """The IDs QISTATE lists, and those QSSLSTATE lists."""
    plain = {int(i) for kind, i in _STATE.findall(m.cmd("AT+QISTATE")) if kind == b"I"}
    ssl = {int(i) for kind, i in _STATE.findall(m.cmd("AT+QSSLSTATE")) if kind == b"SSL"}
    return plain, ssl


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS)
def test_the_two_families_share_one_table(actions: list[Action]) -> None:
    m = Module()
    m.cmd("ATE0")
    m.activate()
    model: dict[int, str] = {}  # id -> "ssl" | "ip"
    pending: dict[int, Connect] = {}
    for action, cid in actions:
        if action in ("tcp", "udp", "ssl"):
            if action == "ssl":
                out = m.cmd(f'AT+QSSLOPEN=1,1,{cid},"10.0.0.1",443,0')
            else:
                out = m.cmd(f'AT+QIOPEN=1,{cid},"{action.upper()}","10.0.0.1",80,0,0')
            family = b"QSSLOPEN" if action == "ssl" else b"QIOPEN"
            if cid in model:
                assert out.endswith(b"\r\n+" + family + f": {cid},563\r\n".encode()), out
            else:
                assert out == b"\r\nOK\r\n", out
                model[cid] = "ssl" if action == "ssl" else "ip"
                (intent,) = [i for i in m.intents() if isinstance(i, Connect)]
                pending[cid] = intent
        elif action == "connect" and cid in pending:
            intent = pending.pop(cid)
            m.event(TcpConnected(cid, intent.conn_seq, 65344, "10.0.0.1"))
            m.event(Connected(cid, intent.conn_seq))
        elif action == "peer" and cid in model and cid not in pending:
            sock = m.engine.sockets[cid]
            m.event(PeerClosed(cid, sock.conn_seq))
        elif action in ("qiclose", "qsslclose"):
            right = "ip" if action == "qiclose" else "ssl"
            out = m.cmd(f"AT+{action.upper()}={cid},0")
            if cid not in model:
                assert out == b"\r\nOK\r\n"
            elif model[cid] != right:
                assert out == b"\r\nERROR\r\n"  # the other family's socket stays
            else:
                assert out == b"\r\nOK\r\n"
                seq = m.engine.sockets[cid].conn_seq if cid in m.engine.sockets else 0
                del model[cid]
                pending.pop(cid, None)
                m.event(Closed(cid, seq))
        m.intents()
        plain, ssl = listed(m)
        assert not plain & ssl
        assert plain == {i for i, f in model.items() if f == "ip"}
        assert ssl == {i for i, f in model.items() if f == "ssl"}
        assert set(m.engine.sockets) == set(model)
