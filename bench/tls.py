"""TLS session costs: handshakes per second and bulk throughput, against plain ``ssl``.

Everything runs in memory in one process (no sockets), so the numbers are TLS work only.
"client" columns count only the time spent in the client's calls: the server's share (an RSA
signature per handshake, its encryption) is measured apart and left out of the ratios.

    .venv/bin/python bench/tls.py        # [--handshakes 200] [--mib 8] [--runs 3]

Rows:
  handshakes  TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 against Python's ssl as the server:
              plain ssl client (one reused SSLContext) vs TlsClientSession run by OpenSSL
              (sslversion 3, 0XC02F) and by tlslite-ng (the same offer forced, and the
              module's defaults, sslversion 4 with 0XFFFF, which need tlslite-ng);
              plus SSL 3.0 RC4-SHA and TLS 1.0 3DES against a tlslite-ng server.
  throughput  client encrypt (send) and decrypt (receive) of N MiB in 16 KiB records.
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from bg96.engine.events import TlsParams
from bg96.testing import TestPki, server_context
from bg96.tls import TlsClientSession, expand_suites
from bg96.tls.legacy_backend import VERSION_TUPLES, BufferSocket, FastTLSConnection
from bg96.tls.session import Backend

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tlslite.handshakesettings import HandshakeSettings  # type: ignore[import-untyped]
    from tlslite.utils.keyfactory import parsePEMKey  # type: ignore[import-untyped]
    from tlslite.x509certchain import X509CertChain  # type: ignore[import-untyped]

CHUNK = 16384

# ---- servers in memory ----------------------------------------------------------------


class SslServer:
    """Python's ssl as the server, over memory BIOs."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=True)
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self.inc.write(data)
        if not self.done:
            try:
                self.obj.do_handshake()
                self.done = True
            except ssl.SSLWantReadError:
                pass
        return self.out.read()

    def records(self, payload: bytes) -> bytes:
        self.obj.write(payload)
        return self.out.read()


class TlsliteServer:
    """tlslite-ng as the server (SSL 3.0, RC4, 3DES), over byte buffers."""

    def __init__(self, pki: TestPki, version: str, suite: tuple[str, str, str]) -> None:
        cert = pki.server_cert()
        chain = X509CertChain()
        chain.parsePemList(cert.cert_pem.decode())
        key = parsePEMKey(cert.key_pem.decode(), private=True)
        s = HandshakeSettings()
        s.minVersion = s.maxVersion = VERSION_TUPLES[version]
        s.versions = [VERSION_TUPLES[version]]
        s.cipherNames, s.macNames, s.keyExchangeNames = [suite[0]], [suite[1]], [suite[2]]
        self.sock = BufferSocket()
        self.conn = FastTLSConnection(self.sock)
        self.gen = self.conn.handshakeServerAsync(certChain=chain, privateKey=key, settings=s)
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self.sock.feed(data)
        if not self.done:
            for result in self.gen:
                if result == 0:
                    break
            else:
                self.done = True
        return self.sock.take()

    def records(self, payload: bytes) -> bytes:
        for _ in self.conn.writeAsync(payload):
            pass
        return self.sock.take()


Server = SslServer | TlsliteServer

# ---- clients --------------------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.total = 0.0

    def run(self, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.total += time.perf_counter() - t


def handshake_ours(params: TlsParams, backend: Backend, server: Server, timer: Timer) -> Any:
    client = timer.run(lambda: TlsClientSession(params, None, backend=backend))
    data = timer.run(client.start)
    while not client.handshake_done:
        step = timer.run(partial(client.receive, server.feed(data)))
        assert step.failure is None, step.failure
        data = step.outgoing
    server.feed(data)
    return client


def handshake_plain(ctx: ssl.SSLContext, server: Server, timer: Timer) -> Any:
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = timer.run(lambda: ctx.wrap_bio(inc, out))

    def step() -> bool:
        try:
            obj.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False

    done = timer.run(step)
    while not done:
        inc.write(server.feed(out.read()))
        done = timer.run(step)
    server.feed(out.read())
    return obj, inc, out


def plain_ctx(cipher: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    return ctx


def best(runs: int, measure: Callable[[], float]) -> float:
    """The best of ``runs`` measurements (this machine's speed varies run to run)."""
    return max(measure() for _ in range(runs))


# ---- handshakes -----------------------------------------------------------------------


def handshakes_per_second(one: Callable[[Timer], object], count: int) -> tuple[float, float]:
    """(client-only, client+server) handshakes per second."""
    timer = Timer()
    started = time.perf_counter()
    for _ in range(count):
        one(timer)
    wall = time.perf_counter() - started
    return count / timer.total, count / wall


# ---- throughput -----------------------------------------------------------------------


def plain_rates(ctx: ssl.SSLContext, server: SslServer, size: int) -> tuple[float, float]:
    obj, inc, out = handshake_plain(ctx, server, Timer())
    payload = bytes(range(256)) * (CHUNK // 256)
    count = size // CHUNK
    records = [server.records(payload) for _ in range(count)]
    t = time.perf_counter()
    for _ in range(count):
        obj.write(payload)
        out.read()
    send = size / (time.perf_counter() - t) / 1e6
    t = time.perf_counter()
    for rec in records:
        inc.write(rec)
        with contextlib.suppress(ssl.SSLWantReadError):
            while obj.read(65536):
                pass
    return send, size / (time.perf_counter() - t) / 1e6


def our_rates(
    params: TlsParams, backend: Backend, server: Server, size: int
) -> tuple[float, float]:
    client = handshake_ours(params, backend, server, Timer())
    payload = bytes(range(256)) * (CHUNK // 256)
    count = size // CHUNK
    records = [server.records(payload) for _ in range(count)]
    t = time.perf_counter()
    for _ in range(count):
        client.send(payload)
    send = size / (time.perf_counter() - t) / 1e6
    t = time.perf_counter()
    got = sum(len(client.receive(rec).app_data) for rec in records)
    recv = size / (time.perf_counter() - t) / 1e6
    assert got == size, (params, backend, got)
    return send, recv


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--handshakes", type=int, default=200, help="per run (default 200)")
    ap.add_argument("--mib", type=int, default=8, help="MiB each way per run (default 8)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each, best shown (default 3)")
    args = ap.parse_args()
    pki = TestPki()
    sctx = server_context(pki)

    def p(version: int, *codes: int) -> TlsParams:
        return TlsParams(ssl_ctx_id=0, sslversion=version, ciphersuites=codes, seclevel=0)

    gcm, cbc = p(3, 0xC02F), p(3, 0x0035)
    defaults = p(4, *expand_suites([0xFFFF]))
    rc4, des3 = p(0, 0x0005), p(1, 0x000A)
    n, runs = args.handshakes, args.runs
    ctx_gcm = plain_ctx("ECDHE-RSA-AES128-GCM-SHA256")

    rc4_server = ("SSLv3", ("rc4", "sha", "rsa"))
    des3_server = ("TLSv1", ("3des", "sha", "rsa"))

    def server_for(legacy: tuple[str, tuple[str, str, str]] | None) -> Server:
        return SslServer(sctx) if legacy is None else TlsliteServer(pki, *legacy)

    def hs(
        params: TlsParams, backend: Backend, legacy: tuple[str, tuple[str, str, str]] | None = None
    ) -> Callable[[Timer], object]:
        return lambda t: handshake_ours(params, backend, server_for(legacy), t)

    hs_rows: list[tuple[str, Callable[[Timer], object], int]] = [
        (
            "plain ssl, ECDHE-RSA-AES128-GCM",
            lambda t: handshake_plain(ctx_gcm, SslServer(sctx), t),
            n,
        ),
        ("ours/OpenSSL, same suite", hs(gcm, "exact"), n),
        ("ours/tlslite-ng, same suite", hs(gcm, "tlslite"), n),
        ("ours/tlslite-ng, defaults (4, 0XFFFF)", hs(defaults, "exact"), n),
        ("ours/tlslite-ng, SSL 3.0 RC4-SHA", hs(rc4, "exact", rc4_server), n // 5),
        ("ours/tlslite-ng, TLS 1.0 DES-CBC3-SHA", hs(des3, "exact", des3_server), n // 5),
    ]
    for _, one, _ in hs_rows:
        one(Timer())  # warm up: imports, caches
    results: dict[str, tuple[float, float]] = {label: (0.0, 0.0) for label, _, _ in hs_rows}
    for _ in range(runs):  # alternate, keep each row's best
        for label, one, count in hs_rows:
            client, wall = handshakes_per_second(one, count)
            results[label] = max(results[label], (client, wall))
    print(f"handshakes in memory, best of {runs} runs (client CPU only: server time left out)")
    print(f"  {'':40} {'client/s':>9} {'ms each':>8} {'with server/s':>14}")
    for label, (client, wall) in results.items():
        print(f"  {label:40} {client:9.0f} {1000 / client:8.2f} {wall:14.0f}")
    base = results[hs_rows[0][0]][0]
    print(
        "  client ratio vs plain ssl: ours/OpenSSL "
        f"{results[hs_rows[1][0]][0] / base:.2f}, ours/tlslite-ng same suite "
        f"{results[hs_rows[2][0]][0] / base:.2f}, defaults {results[hs_rows[3][0]][0] / base:.2f}"
    )

    size = args.mib << 20
    print(
        f"\nthroughput in memory, {args.mib} MiB each way in {CHUNK}-byte records, best of {runs}"
    )
    print("(client CPU only; ratio against plain ssl with the same suite)")
    print(f"  {'':40} {'send MB/s':>10} {'recv MB/s':>10} {'ratio':>12}")

    def ours(
        params: TlsParams, backend: Backend, legacy: tuple[str, tuple[str, str, str]] | None = None
    ) -> Callable[[], tuple[float, float]]:
        return lambda: our_rates(params, backend, server_for(legacy), size)

    ctx_cbc = plain_ctx("AES256-SHA")
    tp_rows: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("plain ssl, ECDHE-RSA-AES128-GCM", lambda: plain_rates(ctx_gcm, SslServer(sctx), size)),
        ("ours/OpenSSL, ECDHE-RSA-AES128-GCM", ours(gcm, "exact")),
        ("ours/tlslite-ng, ECDHE-RSA-AES128-GCM", ours(gcm, "tlslite")),
        ("plain ssl, AES256-SHA", lambda: plain_rates(ctx_cbc, SslServer(sctx), size)),
        ("ours/OpenSSL, AES256-SHA", ours(cbc, "exact")),
        ("ours/tlslite-ng, AES256-SHA", ours(cbc, "tlslite")),
        ("ours/tlslite-ng, RC4-SHA (SSL 3.0)", ours(rc4, "exact", rc4_server)),
        ("ours/tlslite-ng, DES-CBC3-SHA (TLS 1.0)", ours(des3, "exact", des3_server)),
    ]
    rates: dict[str, tuple[float, float]] = {label: (0.0, 0.0) for label, _ in tp_rows}
    for _ in range(runs):
        for label, measure in tp_rows:
            send, recv = measure()
            old = rates[label]
            rates[label] = (max(old[0], send), max(old[1], recv))
    baseline: tuple[float, float] | None = None
    for label, (send, recv) in rates.items():
        if label.startswith("plain ssl"):
            baseline = (send, recv)
        ratio = ""
        if baseline is not None and not label.startswith("plain") and "AES" in label:
            ratio = f"{send / baseline[0]:.2f} / {recv / baseline[1]:.2f}"
        print(f"  {label:40} {send:10.0f} {recv:10.0f} {ratio:>12}")


if __name__ == "__main__":
    main()
