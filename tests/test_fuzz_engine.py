"""The fuzz campaign against the engine (docs/testing.md, "Fuzzing").

Every input a module can get: AT command lines from the command table (in range, then
mutated), random bytes, the same bytes split anywhere, CR/LF variants, data phases, ``+++``
with and without its guard times, network events from a model of the runner (late ones
too), time jumps, DTR, host disconnects and every fault with every trigger. After every
input: no exception and every buffer bounded (``fuzz_support.check_bounded``); after every
sequence the module resyncs (``Harness.resync``: ``AT`` answers exactly ``OK``).

The short run is part of the default suite; the long run (``pytest -m slow``) gives at least
10**6 inputs from a seeded driver (``BG96_FUZZ_SEED``, ``BG96_FUZZ_INPUTS``; a failure names
the session that reproduces it: ``BG96_FUZZ_SESSION``).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from bg96.engine import Engine, MemoryStore
from bg96.module.status import snapshot

from .fuzz_support import (
    ACTION_KINDS,
    KNOWN_UNBOUNDED,
    Action,
    Context,
    Harness,
    command_line,
    random_config,
    replay,
    run_session,
    splits,
    terminator,
    transcript,
)

SEEDS = st.integers(0, 2**32 - 1)
TIMES = st.sampled_from((0.0, 0.001, 0.02, 0.2, 0.999, 1.0, 1.1, 5.0, 150.0, 301.0, 70000.0))
ACTIONS = st.one_of(
    st.builds(Action, st.sampled_from(ACTION_KINDS), seed=SEEDS),
    st.builds(Action, st.just("bytes"), seed=SEEDS, data=st.binary(max_size=200)),
    st.builds(Action, st.just("advance"), seconds=TIMES | st.floats(0, 400)),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTIONS, max_size=100), SEEDS)
def test_action_lists_never_crash_stay_bounded_and_resync(
    actions: list[Action], config_seed: int
) -> None:
    """Hypothesis-drawn lists of inputs (it shrinks a failure to the fewest actions)."""
    harness = Harness(random.Random(config_seed), random_config(random.Random(config_seed)))
    try:
        for action in actions:
            harness.apply(action)
        harness.resync()
    except BaseException:
        note(transcript(harness.steps))
        raise


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SEEDS)
def test_seeded_sessions_never_crash_stay_bounded_and_resync(seed: int) -> None:
    """Whole sequences from the long run's driver: connections opened first, then a few
    hundred inputs chosen by the mode the module is in, a resync after each."""
    rng = random.Random(seed)
    harness = Harness(rng, random_config(rng))
    try:
        for _ in range(4):
            harness.run_sequence(100)
    except BaseException:
        note(transcript(harness.steps))
        raise


def test_replay_gives_a_session_again_without_the_generator() -> None:
    """What a failure prints (the steps) is enough to run it again."""
    rng = random.Random(7)
    config = random_config(rng)
    harness = Harness(rng, config)
    for _ in range(3):
        harness.run_sequence(80)
    engine = replay(harness.steps, config)
    assert snapshot(engine) == snapshot(harness.engine)
    assert engine.now == harness.engine.now
    assert engine.faults.log == harness.engine.faults.log


def answer(chunks: list[bytes]) -> bytes:
    engine = Engine(store=MemoryStore(), now=0.0)
    engine.power_on()
    engine.advance(1.0)
    engine.data_to_send()
    for chunk in chunks:
        engine.receive_data(chunk)
    return engine.data_to_send()


@settings(max_examples=300, deadline=None)
@given(SEEDS)
def test_grammar_lines_split_anywhere_answer_as_sent_whole(seed: int) -> None:
    """Command lines from the grammar (mutated, any CR/LF), cut anywhere or byte by byte:
    the module's answer does not depend on where the host's writes were cut."""
    rng = random.Random(seed)
    stream = b"".join(
        command_line(rng, Context()) + terminator(rng, 13) for _ in range(rng.randint(1, 8))
    )
    if rng.random() < 0.2:
        pieces = [stream[i : i + 1] for i in range(len(stream))]
    else:
        pieces = splits(rng, stream)
    assert answer(pieces) == answer([stream])


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None else int(value)


@pytest.mark.slow
def test_long_run_engine() -> None:
    """At least BG96_FUZZ_INPUTS (10**6) inputs, session after session of the seeded driver;
    BG96_FUZZ_SESSION runs that one session only (what a failure says to rerun)."""
    seed = _env_int("BG96_FUZZ_SEED", 20240611)
    target = _env_int("BG96_FUZZ_INPUTS", 10**6)
    only = os.environ.get("BG96_FUZZ_SESSION")
    print(f"\nengine fuzz: seed {seed}, at least {target} inputs")
    start = time.monotonic()
    inputs = steps = sessions = sequences = refused = attempts = 0
    peaks: dict[str, tuple[int, int]] = {}  # bound -> (largest size, session)
    session = int(only) if only is not None else 0
    while inputs < target:
        harness = run_session(seed, session)  # SessionFailed says how to run it again
        inputs += harness.inputs
        steps += len(harness.steps)
        sequences += harness.sequences
        refused += harness.faults_refused
        attempts = max(attempts, harness.resync_attempts)
        sessions += 1
        for name, size in harness.peaks.items():
            if size > peaks.get(name, (0, 0))[0]:
                peaks[name] = (size, session)
        if only is not None:
            break
        session += 1
    elapsed = time.monotonic() - start
    print(
        f"engine fuzz: {inputs} inputs ({steps} steps with host reads) in {sessions} sessions, "
        f"{sequences} sequences each ended by a resync (at most {attempts + 1} attempts); "
        f"{refused} faults refused as documented (nothing to act on); {elapsed:.1f} s"
    )
    for name, (size, where) in sorted(peaks.items()):
        known = "known unbounded" if name in KNOWN_UNBOUNDED else "NOT KNOWN"
        print(f"  over its bound ({known}): {name}: {size} (session {where})")
    unknown = sorted(set(peaks) - set(KNOWN_UNBOUNDED))
    assert not unknown, f"bounds exceeded that are not in KNOWN_UNBOUNDED: {unknown}"
