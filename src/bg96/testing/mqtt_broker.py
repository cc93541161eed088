"""Loopback MQTT brokers for tests and examples: Eclipse Mosquitto when its binary is
installed, amqtt (in-process, on its own loop in a thread) everywhere.

Both take the same options: TLS with a server certificate of a ``TestPki``, client
certificates required (mutual TLS, as AWS IoT does), and a user table (anything else is
refused). ``broker(kind, ...)`` yields a ``RunningBroker`` with its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .certs import TestPki

BrokerKind = Literal["amqtt", "mosquitto"]
LOOPBACK = "127.0.0.1"


def mosquitto_path() -> str | None:
    """The mosquitto binary (``/usr/sbin`` is not on every PATH), or None."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class RunningBroker:
    kind: BrokerKind
    port: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def broker(
    kind: BrokerKind,
    pki: TestPki | None = None,
    *,
    client_certs: bool = False,
    users: dict[str, str] | None = None,
) -> Iterator[RunningBroker]:
    """A broker on 127.0.0.1 until the block ends: plain TCP, or TLS with ``pki``."""
    with tempfile.TemporaryDirectory() as tmp:
        files = _Files(Path(tmp), pki)
        if kind == "mosquitto":
            with _mosquitto(files, client_certs, users) as port:
                yield RunningBroker(kind, port)
        else:
            with _amqtt(files, client_certs, users) as port:
                yield RunningBroker(kind, port)


@dataclass
class _Files:
    dir: Path
    pki: TestPki | None

    def tls(self) -> tuple[str, str, str]:
        """CA, certificate and key files of the broker."""
        assert self.pki is not None
        ca, cert, key = self.dir / "ca.pem", self.dir / "broker.crt", self.dir / "broker.key"
        ca.write_bytes(self.pki.ca_pem)
        issued = self.pki.server_cert()
        cert.write_bytes(issued.cert_pem)
        key.write_bytes(issued.key_pem)
        return str(ca), str(cert), str(key)


# ---- mosquitto -------------------------------------------------------------------------------


@contextlib.contextmanager
def _mosquitto(files: _Files, client_certs: bool, users: dict[str, str] | None) -> Iterator[int]:
    binary = mosquitto_path()
    if binary is None:
        raise RuntimeError("mosquitto is not installed")
    port = free_port()
    lines = [f"listener {port} {LOOPBACK}", "log_dest stderr", "log_type all"]  # stderr: unbuffered
    if os.geteuid() == 0:
        lines.append("user root")  # else it drops to a user that cannot read the temp files
    if users is None:
        lines.append("allow_anonymous true")
    else:
        pwfile = files.dir / "passwd"
        pwfile.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
        tool = shutil.which("mosquitto_passwd") or str(Path(binary).with_name("mosquitto_passwd"))
        subprocess.run([tool, "-U", str(pwfile)], check=True, capture_output=True)
        lines += ["allow_anonymous false", f"password_file {pwfile}"]
    if files.pki is not None:
        ca, cert, key = files.tls()
        lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        if client_certs:
            lines.append("require_certificate true")
    conf = files.dir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        [binary, "-c", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for raw in proc.stdout:  # the log says when it listens
            line = raw.decode(errors="replace")
            seen.append(line)
            if "running" in line:
                break
        else:
            raise RuntimeError("mosquitto did not start: " + "".join(seen))
        drain = threading.Thread(target=proc.stdout.read, daemon=True)  # keep its pipe empty
        drain.start()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- amqtt -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _amqtt(files: _Files, client_certs: bool, users: dict[str, str] | None) -> Iterator[int]:
    from amqtt.broker import Broker

    port = free_port()
    listener: dict[str, Any] = {"type": "tcp", "bind": f"{LOOPBACK}:{port}"}
    if files.pki is not None:
        ca, cert, key = files.tls()
        listener |= {"ssl": True, "certfile": cert, "keyfile": key, "cafile": ca}
    plugins: dict[str, Any]
    if users is None:
        plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    else:
        from pwdlib.hashers.argon2 import Argon2Hasher

        hasher = Argon2Hasher()
        pwfile = files.dir / "passwd"
        pwfile.write_text("".join(f"{u}:{hasher.hash(p)}\n" for u, p in users.items()))
        plugins = {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(pwfile)}}
    config = {"listeners": {"default": listener}, "plugins": plugins}

    class StrictBroker(Broker):  # type: ignore[misc]
        """amqtt asks for a client certificate but lets a client without one in; this one
        requires it, as mosquitto's ``require_certificate`` and AWS IoT do."""

        @staticmethod
        def _create_ssl_context(listener: Any) -> ssl.SSLContext:
            context: ssl.SSLContext = Broker._create_ssl_context(listener)
            if client_certs:
                context.verify_mode = ssl.CERT_REQUIRED
            return context

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Any:
        server = StrictBroker(config)
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield port
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
