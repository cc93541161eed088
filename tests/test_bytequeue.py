"""The receive buffer's queue against a bytearray doing the same."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bg96.engine.bytequeue import PIECE, SMALL, ByteQueue

sizes = st.one_of(st.integers(0, 40), st.integers(SMALL - 2, SMALL + 2), st.integers(0, 3 * PIECE))
steps = st.lists(st.tuples(st.booleans(), sizes), max_size=40)


@given(steps)
def test_takes_what_a_bytearray_would(ops: list[tuple[bool, int]]) -> None:
    queue, model, counter = ByteQueue(), bytearray(), 0
    for append, size in ops:
        if append:
            data = bytes((counter + i) % 251 for i in range(size))
            counter += size
            queue.append(data)
            model += data
        else:
            got = queue.take(size)
            assert type(got) is bytes
            assert got == model[:size]
            del model[:size]
        assert len(queue) == len(model)
        assert bool(queue) == bool(model)
    assert queue.take(len(model) + 1) == model
    assert not queue


def test_a_whole_chunk_comes_back_as_it_went_in() -> None:
    queue = ByteQueue()
    chunk = bytes(range(256)) * 1024
    queue.append(chunk)
    assert queue.take(1 << 20) is chunk


def test_a_callers_bytearray_is_never_grown() -> None:
    queue = ByteQueue()
    theirs = bytearray(b"x" * SMALL)
    queue.append(theirs)  # type: ignore[arg-type]
    queue.append(b"y")
    assert theirs == b"x" * SMALL
    assert queue.take(SMALL + 1) == b"x" * SMALL + b"y"


def test_tiny_chunks_share_pieces() -> None:
    queue = ByteQueue()
    for _ in range(10000):
        queue.append(b"z")
    assert "in 1 pieces" in repr(queue)
    queue.clear()
    assert not queue and queue.take(5) == b""
