"""The baud-rate pacer on a virtual clock: exact byte counts per time.

At 10240 baud a byte takes 1/1024 s, so every time below is exact in binary floating point
and the counts can be asserted exactly; 9600 and 115200 baud check the common rates.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bg96.module.pacing import BITS_PER_BYTE, CHUNK, Pacer

RATE = 10240  # 1024 bytes a second, 8N1
BPS = RATE // BITS_PER_BYTE
DATA = bytes(range(256)) * 16  # 4096 bytes


def test_ten_bits_a_byte() -> None:
    assert BITS_PER_BYTE == 10
    assert Pacer(9600).bytes_per_second == 960
    assert Pacer(115200).bytes_per_second == 11520
    assert Pacer(RATE).bytes_per_second == 1024


def test_exact_counts_at_9600_baud() -> None:
    pacer = Pacer(9600)
    pacer.push(DATA[:2000], 0.0)
    taken = bytearray()
    for k in range(200):  # every 1/64 s: 15 bytes
        taken += pacer.take(k / 64)
        assert len(taken) == min(2000, 15 * k), k
    assert bytes(taken) == DATA[:2000]
    assert len(pacer) == 0


def test_exact_counts_at_115200_baud() -> None:
    pacer = Pacer(115200)
    pacer.push(DATA, 0.0)
    assert len(pacer.take(0.1)) == 1152
    assert len(pacer.take(0.2)) == 1152
    assert len(pacer.take(0.3)) == 1152
    assert len(pacer.take(0.35)) == 576
    assert len(pacer.take(0.4)) == 4096 - 3 * 1152 - 576
    assert len(pacer) == 0


def test_a_byte_is_taken_once_its_last_bit_is_out() -> None:
    pacer = Pacer(RATE)
    pacer.push(b"abc", 5.0)  # an idle line starts at once
    assert pacer.take(5.0) == b""
    assert pacer.take(5.0 + 0.5 / 1024) == b""
    assert pacer.take(5.0 + 1 / 1024) == b"a"
    assert pacer.take(5.0 + 2.999 / 1024) == b"b"
    assert pacer.take(5.0 + 3 / 1024) == b"c"
    assert pacer.take(6.0) == b""


def test_one_take_or_many_give_the_same_bytes() -> None:
    whole, steps = Pacer(RATE), Pacer(RATE)
    whole.push(DATA, 0.0)
    steps.push(DATA, 0.0)
    pieces = [steps.take(k / 1024) for k in range(1, 1500)]
    assert all(len(p) == 1 for p in pieces)
    assert b"".join(pieces) == whole.take(1499 / 1024) == DATA[:1499]


def test_data_pushed_while_sending_queues_behind() -> None:
    pacer = Pacer(RATE)
    pacer.push(DATA[:100], 0.0)
    assert len(pacer.take(50 / 1024)) == 50
    pacer.push(DATA[100:200], 50 / 1024)  # the line is busy: back to back, no gap
    assert len(pacer.take(199 / 1024)) == 149
    assert pacer.take(200 / 1024) == DATA[199:200]


def test_an_idle_line_starts_when_data_comes() -> None:
    pacer = Pacer(RATE)
    pacer.push(DATA[:10], 0.0)
    assert pacer.take(1.0) == DATA[:10]  # long done
    pacer.push(DATA[10:110], 3.0)  # idle since 10/1024 s: no credit for the idle time
    assert pacer.take(3.0) == b""
    assert pacer.take(3.0 + 50 / 1024) == DATA[10:60]
    assert pacer.take(4.0) == DATA[60:110]


def test_next_time_is_the_next_chunk_or_the_rest() -> None:
    pacer = Pacer(RATE)
    assert pacer.next_time() is None
    pacer.push(DATA[:5], 2.0)
    assert pacer.next_time() == 2.0 + 5 / 1024  # less than a chunk: all of it
    pacer.push(DATA[5:100], 2.0)
    assert pacer.next_time() == 2.0 + CHUNK / 1024
    assert len(pacer.take(2.0 + CHUNK / 1024)) == CHUNK
    assert pacer.next_time() == 2.0 + 2 * CHUNK / 1024
    assert len(pacer.take(2.0 + 99 / 1024)) == 99 - CHUNK
    assert pacer.next_time() == 2.0 + 100 / 1024
    pacer.take(3.0)
    assert pacer.next_time() is None


def test_a_rate_change_applies_to_what_is_queued() -> None:
    pacer = Pacer(RATE)
    pacer.push(DATA[:3072], 0.0)
    assert len(pacer.take(1.0)) == 1024
    pacer.rate = 2 * RATE  # AT+IPR: 2048 bytes a second from here
    assert len(pacer.take(1.5)) == 1024
    assert len(pacer.take(2.0)) == 1024
    assert len(pacer) == 0


def test_data_pushed_after_an_untaken_idle_gap_is_not_sent_before_it_came() -> None:
    pacer = Pacer(9600)
    pacer.push(b"a", 0.0)  # done at 1/960 s, but nobody took it yet (a late timer)
    pacer.push(b"x" * 960, 10.0)
    assert pacer.take(10.0) == b"a"  # the 960 bytes were pushed at 10.0: none is out yet
    assert len(pacer.take(10.5)) == 480


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),  # 1/1024 s steps since the previous operation
            st.integers(0, 200),  # bytes pushed then (0: just a take)
        ),
        max_size=30,
    )
)
def test_counts_match_a_uart_that_sends_one_byte_after_the_other(
    ops: list[tuple[int, int]],
) -> None:
    """A caller that takes before it pushes, as the runner does: the bytes out by ``t`` are
    exactly those whose end time ``max(end of the previous byte, push time) + 1/1024`` is at
    most ``t``; they come in order."""
    pacer = Pacer(RATE)
    ends: list[int] = []  # in 1/1024 s
    pushed = bytearray()
    taken = bytearray()
    now = 0
    for step, size in ops:
        now += step
        taken += pacer.take(now / 1024)
        assert len(taken) == sum(1 for e in ends if e <= now)
        if size:
            data = bytes((len(pushed) + i) % 256 for i in range(size))
            pacer.push(data, now / 1024)
            pushed += data
            for _ in range(size):
                ends.append(max(ends[-1] if ends else 0, now) + 1)
        when = pacer.next_time()
        pending = [e for e in ends if e > now]
        if when is None:
            assert not pending
        else:
            assert when * 1024 == pending[min(len(pending), CHUNK) - 1]
    assert bytes(taken) == bytes(pushed[: len(taken)])
