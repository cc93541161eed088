"""Network profiles: the sans-IO shaper, value parsing, and attach/activation times."""

from __future__ import annotations

import argparse
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.engine import ModuleConfig
from bg96.engine.faults import RegistrationLost
from bg96.network import (
    HEADER,
    MSS,
    PROFILES,
    Link,
    Network,
    ProfileError,
    parse_loss,
    parse_rate,
    parse_time,
    profile,
)
from bg96.network.options import add_network_arguments, profile_from_args
from tests.helpers import Module


class Shaper:
    """A link with one flow, read as one stream."""

    def __init__(self, link: Link, seed: int) -> None:
        self.link = link
        link.add("f", random.Random(seed))

    def push(self, data: bytes, now: float) -> None:
        self.link.push("f", data, now)

    def take(self, now: float) -> bytes:
        return self.link.take("f", now)

    def next_time(self) -> float | None:
        return self.link.next_time()

    def clear(self) -> None:
        self.link.remove("f")
        self.link.add("f", random.Random(0))

    def __len__(self) -> int:
        return len(self.link)

    @property
    def rto(self) -> float:
        return self.link.rto

    @property
    def lost(self) -> int:
        return self.link.lost


def shaper(
    rate: float | None = None,
    latency: float = 0.0,
    jitter: float = 0.0,
    loss: float = 0.0,
    seed: int = 1,
) -> Shaper:
    return Shaper(Link(rate=rate, latency=latency, jitter=jitter, loss=loss), seed)


def drain(s: Shaper, limit: float = 1e6) -> list[tuple[float, bytes]]:
    """Every delivery as (time, bytes), stepping from one next_time to the next."""
    out: list[tuple[float, bytes]] = []
    while True:
        when = s.next_time()
        if when is None or when > limit:
            return out
        data = s.take(when)
        if data:
            out.append((when, data))


# ---- the shaper -------------------------------------------------------------------------------


def test_latency_only_delays_each_push_by_the_latency() -> None:
    s = shaper(latency=0.25)
    s.push(b"abc", 1.0)
    assert s.take(1.2) == b""
    assert s.next_time() == pytest.approx(1.25)
    assert s.take(1.25) == b"abc"
    assert len(s) == 0


def test_rate_serialises_segments_with_their_headers() -> None:
    s = shaper(rate=8000.0)  # 1000 bytes a second
    s.push(b"x" * (MSS + 100), 0.0)
    deliveries = drain(s)
    assert [len(d) for _, d in deliveries] == [MSS, 100]
    first = (MSS + HEADER) / 1000
    assert deliveries[0][0] == pytest.approx(first)
    assert deliveries[1][0] == pytest.approx(first + (100 + HEADER) / 1000)


def test_bytes_arriving_while_the_link_is_busy_share_a_segment() -> None:
    one = shaper(rate=8000.0)
    one.push(b"a" * 100, 0.0)
    one.push(b"b" * 100, 0.01)  # the first segment is still on the link
    one.push(b"c" * 100, 0.02)
    many = shaper(rate=8000.0)
    many.push(b"a" * 100, 0.0)
    many.push(b"b" * 100 + b"c" * 100, 0.02)
    assert drain(one) == drain(many)


def test_loss_costs_a_retransmission_timeout_and_holds_up_later_segments() -> None:
    s = shaper(latency=0.1, loss=0.999999)
    assert s.rto == 1.0  # RFC 6298's minimum
    s.push(b"a", 0.0)
    s.push(b"b", 0.5)
    deliveries = drain(s)
    assert deliveries[0][0] == pytest.approx(1.1)
    assert deliveries[0][1] == b"a"
    assert deliveries[1][0] >= deliveries[0][0]
    assert s.lost == 2


def test_the_same_seed_gives_the_same_deliveries() -> None:
    def run(seed: int) -> list[tuple[float, bytes]]:
        s = shaper(rate=64000.0, latency=0.3, jitter=0.2, loss=0.1, seed=seed)
        for i in range(20):
            s.push(bytes([i]) * 700, i * 0.05)
        return drain(s)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_flows_share_the_rate_in_turns() -> None:
    link = Link(rate=8000.0, latency=0.0, jitter=0.0, loss=0.0)  # 1000 bytes a second
    for key in "ab":
        link.add(key, random.Random(key))
    link.push("a", b"a" * 3 * MSS, 0.0)
    link.push("b", b"b" * 3 * MSS, 0.0)
    done: dict[str, float] = {}
    while (when := link.next_time()) is not None:
        for key in "ab":
            if link.take(key, when) and not link.size(key):
                done[key] = when
    one = (MSS + HEADER) / 1000  # a segment's time on the link
    # six segments in turns a, b, a, b, a, b: both take (nearly) twice as long as alone
    assert done["a"] == pytest.approx(5 * one)
    assert done["b"] == pytest.approx(6 * one)


def test_a_flow_that_is_gone_takes_its_bytes_with_it() -> None:
    link = Link(rate=8000.0, latency=0.5, jitter=0.0, loss=0.0)
    link.add("a", random.Random(1))
    link.add("b", random.Random(2))
    link.push("a", b"a" * 5000, 0.0)
    link.push("b", b"b" * 100, 0.0)
    link.remove("a")
    assert len(link) == 100 and "a" not in link
    assert link.take("a", 100.0) == b""
    assert link.take("b", 100.0) == b"b" * 100


def test_clear_drops_everything() -> None:
    s = shaper(rate=8000.0, latency=1.0)
    s.push(b"x" * 5000, 0.0)
    s.clear()
    assert len(s) == 0
    assert s.next_time() is None


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(
        st.tuples(st.binary(min_size=1, max_size=4000), st.floats(0, 0.5)), max_size=12
    ),
    rate=st.one_of(st.none(), st.floats(1000, 1e7)),
    latency=st.floats(0, 2),
    jitter=st.floats(0, 0.5),
    loss=st.floats(0, 0.5),
    seed=st.integers(0, 2**32),
)
def test_every_byte_arrives_once_in_order_never_early(
    chunks: list[tuple[bytes, float]],
    rate: float | None,
    latency: float,
    jitter: float,
    loss: float,
    seed: int,
) -> None:
    s = shaper(rate, latency, jitter, loss, seed)
    now = 0.0
    sent = bytearray()
    got = bytearray()
    last = 0.0
    for data, gap in chunks:
        now += gap
        got += s.take(now)
        s.push(data, now)
        sent += data
    for when, data in drain(s):
        assert when >= last
        last = when
        got += data
    assert bytes(got) == bytes(sent)
    assert len(s) == 0
    if rate is not None and sent:
        segments = -(-len(sent) // MSS)
        assert last >= (len(sent) + segments * HEADER) * 8 / rate - 1e-9


# ---- profiles and their values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("600ms", 0.6), ("1.5s", 1.5), ("250us", 0.00025), ("40", 0.04), (" 2 s ", 2.0)],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("32kbit", 32000), ("1.2mbit", 1.2e6), ("9600", 9600), ("16kbps", 16000), ("0", None)],
)
def test_parse_rate(text: str, bps: float | None) -> None:
    assert parse_rate(text) == bps


@pytest.mark.parametrize(("text", "fraction"), [("1%", 0.01), ("0.5%", 0.005), ("0.02", 0.02)])
def test_parse_loss(text: str, fraction: float) -> None:
    assert parse_loss(text) == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_time, "fast"),
        (parse_time, "-5ms"),
        (parse_time, "5 min"),
        (parse_rate, "lots"),
        (parse_rate, "32 kB"),
        (parse_loss, "100%"),
        (parse_loss, "1.5"),
        (parse_loss, "some"),
    ],
)
def test_bad_values_are_refused(parse: object, text: str) -> None:
    assert callable(parse)
    with pytest.raises(ProfileError):
        parse(text)


def test_profiles_and_an_unknown_name() -> None:
    assert set(PROFILES) == {"ideal", "lte-m", "nb-iot"}
    assert PROFILES["ideal"].ideal
    assert not PROFILES["nb-iot"].ideal
    assert profile("nb-iot").down == 32_000
    with pytest.raises(ProfileError, match="unknown network profile 'wifi'"):
        profile("wifi")


def parse_cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_network_arguments(parser)
    return parser.parse_args(argv)


def test_command_line_values_replace_the_profiles() -> None:
    argv = "--network nb-iot --latency 600ms --jitter 200ms --down 32kbit --up 16kbit"
    p = profile_from_args(parse_cli(*argv.split(), "--loss", "1%", "--seed", "42"))
    assert (p.name, p.latency, p.jitter, p.down, p.up, p.loss, p.seed) == (
        "custom", 0.6, 0.2, 32000, 16000, 0.01, 42
    )  # fmt: skip
    assert p.attach_time == PROFILES["nb-iot"].attach_time
    assert profile_from_args(parse_cli()) == PROFILES["ideal"]
    assert profile_from_args(parse_cli("--network", "lte-m", "--seed", "3")).name == "lte-m"


def test_command_line_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_cli("--latency", "soon")
    assert "not a time: 'soon'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_cli("--network", "wifi")


def test_each_connection_direction_draws_on_its_own() -> None:
    net = Network(profile("lte-m").with_values(seed=5))
    runs = []
    for _ in range(2):
        link = net.link("down")
        link.add(1, net.flow_rng(1, "down"))
        link.push(1, b"x" * 3000, 0.0)
        runs.append([(when, link.take(1, when)) for when in (0.1, 0.2, 0.3)])
    assert runs[0] == runs[1]
    assert net.flow_rng(1, "down").random() != net.flow_rng(1, "up").random()
    assert net.link("up").rate == 375_000
    assert 0 < net.round_trip("connect/1") <= 2 * (0.1 + 0.03)
    assert net.round_trip("connect/1") == net.round_trip("connect/1")
    assert net.round_trip("connect/1") != net.round_trip("connect/2")


# ---- registration and AT+QIACT take the profile's time -------------------------------------------


def test_registration_takes_the_attach_time() -> None:
    m = Module(ModuleConfig(attach_time=3.0))  # Module boots and advances 1 s
    assert m.cmd("AT+CEREG=1") == b"AT+CEREG=1\r\r\nOK\r\n"
    assert m.cmd("AT+CEREG?") == b"AT+CEREG?\r\r\n+CEREG: 1,2\r\n\r\nOK\r\n"
    assert m.cmd("AT+QIACT=1").endswith(b"\r\nERROR\r\n")  # not registered yet
    assert m.cmd("AT+CGATT?") == b"AT+CGATT?\r\r\n+CGATT: 0\r\n\r\nOK\r\n"
    assert m.advance(1.9) == b""
    assert m.advance(0.2) == b"\r\n+CEREG: 1\r\n"
    assert m.cmd("AT+CEREG?").endswith(b"+CEREG: 1,1\r\n\r\nOK\r\n")
    m.activate()


def test_cfun_1_attaches_again_and_cfun_0_cancels_it() -> None:
    m = Module(ModuleConfig(attach_time=2.0))
    m.advance(2.0)
    assert m.cmd("AT+CEREG=1").endswith(b"OK\r\n")
    assert m.cmd("AT+CFUN=0") == b"AT+CFUN=0\r\r\nOK\r\n\r\n+CEREG: 0\r\n"
    out = m.cmd("AT+CFUN=1")
    assert out.endswith(b"\r\n+CEREG: 2\r\n"), out  # searching until attached
    assert m.cmd("AT+CFUN=0").endswith(b"\r\n+CEREG: 0\r\n")
    assert m.advance(5.0) == b""  # the first attach's timer finds CFUN 0
    m.cmd("AT+CFUN=1")
    assert m.advance(2.0) == b"\r\n+CEREG: 1\r\n"


def test_qiact_takes_the_activation_time() -> None:
    m = Module(ModuleConfig(pdp_activation_time=1.5))
    assert m.cmd("AT+QIACT=1") == b"AT+QIACT=1\r"
    assert m.advance(1.4) == b""
    assert m.advance(0.1) == b"\r\nOK\r\n"


def test_registration_lost_while_attaching_says_nothing_new() -> None:
    m = Module(ModuleConfig(attach_time=3.0))
    assert m.cmd("AT+CEREG=1").endswith(b"OK\r\n")
    m.engine.faults.inject(RegistrationLost(recover_after=0.5))
    assert m.out() == b""  # still searching: no second +CEREG: 2
    assert m.advance(0.6) == b""  # back, but not attached yet
    assert m.advance(1.5) == b"\r\n+CEREG: 1\r\n"


def test_qiact_under_way_when_registration_is_lost_fails() -> None:
    m = Module(ModuleConfig(pdp_activation_time=1.5))
    assert m.cmd("AT+QIACT=1") == b"AT+QIACT=1\r"
    m.engine.faults.inject(RegistrationLost())
    assert m.advance(1.5) == b"\r\nERROR\r\n"
    assert m.cmd("AT+QIGETERROR").endswith(
        b"+QIGETERROR: 561,open pdp context failed\r\n\r\nOK\r\n"
    )


def test_a_profile_sets_the_times_the_config_leaves_at_their_defaults() -> None:
    from bg96 import VirtualModule

    module = VirtualModule(network="nb-iot", config=ModuleConfig(pdp_activation_time=0.2))
    assert (module.config.attach_time, module.config.pdp_activation_time) == (6.0, 0.2)
    assert VirtualModule(network="lte-m").config.attach_time == 2.0
