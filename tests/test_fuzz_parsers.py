"""The fuzz campaign against the other three parsers (docs/testing.md, "Fuzzing").

- The host's ``DteParser``: random module output (answers, URCs, push and QSSLRECV blocks,
  prompts, CONNECT data, NO CARRIER, garbage), split anywhere: no exception, bounded buffers
  (``fuzz_support.check_parser_bounded``), and ``AT`` / ``OK`` parses again afterwards.
- The fault script parser (``parse_line``, ``FaultScript.parse``): only ``FaultError`` /
  ``FaultScriptError`` escape, and what parses comes back the same through ``str()``.
- The control endpoint (``ControlServer.handle``): any line gets an answer dict that JSON can
  carry, from the request handler itself (never the catch-all), and never an exception.

Short runs in the default suite; long runs with ``pytest -m slow`` (``BG96_FUZZ_SEED``).
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from bg96.host.parser import DteParser
from bg96.module.control import ControlServer
from bg96.module.faults import FaultError, FaultScript, FaultScriptError, parse_line

from .fuzz_support import (
    EngineModule,
    check_bounded,
    control_line,
    fault_line,
    feed_exchange,
    module_output,
    parser_resync,
)

SEEDS = st.integers(0, 2**32 - 1)

# ---- DteParser -------------------------------------------------------------------------------


def fuzz_dte_parser(rng: random.Random, exchanges: int) -> int:
    """``exchanges`` random exchanges through one parser, then its resync; returns the chunks."""
    parser = DteParser()
    chunks = 0
    for _ in range(exchanges):
        exchange = module_output(rng)
        try:
            chunks += feed_exchange(rng, parser, exchange)
        except BaseException:
            note(f"exchange: {exchange!r}")
            raise
    parser_resync(parser)
    return chunks


@settings(max_examples=300, deadline=None)
@given(SEEDS)
def test_dte_parser_takes_any_module_output_split_anywhere(seed: int) -> None:
    fuzz_dte_parser(random.Random(seed), 20)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20), st.booleans())
def test_dte_parser_takes_garbage_and_resyncs(chunks: list[bytes], busy: bool) -> None:
    parser = DteParser()
    if busy:
        parser.begin(b"AT+QSSLRECV=1,1500")
    for chunk in chunks:
        parser.feed(chunk)
        parser.events()
    parser_resync(parser)


# ---- the fault script parser -------------------------------------------------------------------


def check_fault_line(line: str) -> bool:
    """``line`` parses (and round-trips through ``str()``) or raises ``FaultError``; True when
    it parsed to a fault."""
    try:
        parsed = parse_line(line)
    except FaultError:
        return False
    if parsed is None:
        return False
    trigger, fault = parsed
    text = f"{trigger} {fault}" if trigger is not None else str(fault)
    assert parse_line(text) == parsed, (line, text)
    return True


def check_fault_script(text: str) -> None:
    try:
        script = FaultScript.parse(text, "fuzz")
    except FaultScriptError as exc:
        assert 1 <= exc.line <= len(text.splitlines()), exc
        return
    again = FaultScript.parse("\n".join(str(entry) for entry in script))
    assert again.pairs() == script.pairs()


@settings(max_examples=1000, deadline=None)
@given(SEEDS)
def test_fault_lines_parse_or_say_why_and_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    check_fault_line(fault_line(rng))
    check_fault_script("\n".join(fault_line(rng) for _ in range(rng.randint(0, 5))))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_as_a_fault_line(text: str) -> None:
    check_fault_line(text)
    check_fault_script(text)


# ---- the control endpoint --------------------------------------------------------------------


def check_control(server: ControlServer, line: bytes) -> None:
    """Any line: an answer dict JSON can carry, from the request handler itself."""
    answer, _keep = server.handle(line)
    assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
    json.dumps(answer)
    assert not str(answer.get("error", "")).startswith("request failed"), (line, answer)


@settings(max_examples=300, deadline=None)
@given(SEEDS, st.sampled_from(("", "s3cret")))
def test_control_requests_always_get_an_answer(seed: int, token: str) -> None:
    module = EngineModule()
    server = ControlServer(module, token=token)
    rng = random.Random(seed)
    for _ in range(5):
        check_control(server, control_line(rng))
    check_bounded(module.fuzz_engine)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500))
def test_control_takes_any_bytes(line: bytes) -> None:
    check_control(ControlServer(EngineModule()), line)


# ---- long runs -------------------------------------------------------------------------------


def _seed() -> int:
    return int(os.environ.get("BG96_FUZZ_SEED", "20240611"))


@pytest.mark.slow
def test_long_run_dte_parser() -> None:
    seed, start = _seed(), time.monotonic()
    chunks = exchanges = resyncs = 0
    for run in range(20_000):
        rng = random.Random(f"{seed}/parser/{run}")
        n = rng.choice((5, 20, 100))
        try:
            chunks += fuzz_dte_parser(rng, n)
        except BaseException as exc:
            raise AssertionError(
                f"DteParser fuzz: seed {seed} run {run}: {exc!r}; reproduce: "
                f'fuzz_dte_parser(random.Random("{seed}/parser/{run}"), {n})'
            ) from exc
        exchanges += n
        resyncs += 1
    print(
        f"\nDteParser fuzz: seed {seed}: {chunks} chunks fed, {exchanges} exchanges, "
        f"{resyncs} resyncs, {time.monotonic() - start:.1f} s"
    )


@pytest.mark.slow
def test_long_run_fault_scripts() -> None:
    seed, start = _seed(), time.monotonic()
    rng = random.Random(f"{seed}/faults")
    parsed = lines = 0
    for lines in range(1, 1_000_001):  # noqa: B007  # the count is reported
        line = fault_line(rng)
        try:
            parsed += check_fault_line(line)
        except BaseException as exc:
            raise AssertionError(f"fault script fuzz: seed {seed}: line {line!r}: {exc!r}") from exc
    for _ in range(20_000):
        text = "\n".join(fault_line(rng) for _ in range(rng.randint(0, 8)))
        try:
            check_fault_script(text)
        except BaseException as exc:
            message = f"fault script fuzz: seed {seed}: script {text!r}: {exc!r}"
            raise AssertionError(message) from exc
    print(
        f"\nfault script fuzz: seed {seed}: {lines} lines ({parsed} parsed and round-tripped), "
        f"20000 scripts, {time.monotonic() - start:.1f} s"
    )


@pytest.mark.slow
def test_long_run_control() -> None:
    seed, start = _seed(), time.monotonic()
    rng = random.Random(f"{seed}/control")
    requests = 0
    for round_ in range(10_000):
        module = EngineModule()
        server = ControlServer(module, token=rng.choice(("", "s3cret")))
        for _ in range(50):
            line = control_line(rng)
            try:
                check_control(server, line)
            except BaseException as exc:
                raise AssertionError(
                    f"control fuzz: seed {seed} round {round_}: {line[:300]!r}: {exc!r}"
                ) from exc
            requests += 1
    print(f"\ncontrol fuzz: seed {seed}: {requests} requests, {time.monotonic() - start:.1f} s")
