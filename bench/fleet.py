"""Fleets: devices per core, memory per device, commands per second at N = 1 ... 5000, and
the same scenario through Locust (a master and two workers) against ``bg96 fleet``.

    .venv/bin/python bench/fleet.py [--sizes 1,10,100,1000,5000] [--seconds 4] [--loop L] [--gc G]
                                    [--locust-users 400] [--locust-seconds 20] [--no-locust]

**Scaling.** For each N a fresh process (pinned to one CPU; the TLS echo server, its own
process, to the other) attaches an ``AsyncModem`` to each of N ``VirtualModule``s over the
in-memory port, boots them (``sync``, ``AT+QIACT``, the CA by ``AT+QFUPL``, ``AT+QSSLCFG``),
and reads VmRSS: per idle device (module + driver) against the process before; then opens a
TLS connection on each (VmRSS again: per connection), then every device loops ``AT``,
``AT+QSSLSEND`` of 100 bytes and ``AT+QSSLRECV`` of the echo for ``--seconds``. It reports
cycles (AT + send + read) per second and the process's CPU time per cycle (module and driver
together: they share the loop), the ratio against N = 10, and the CPU per device of the boot
and of the TLS open.

**Locust.** ``examples/fleet_scenario.py`` (``rounds=1000,interval=0.5,fault_every=0``: a
send and read every 0.5 s per device) for ``--locust-seconds`` with ``--locust-users`` devices,
once as ``bg96 fleet`` (one process) and once as a Locust master with two workers; the CPU
of the fleet process and of the two workers (``wait4``'s rusage, every thread), the steps
they did, requests per second and the failure ratio from Locust's CSV. Devices per core are
steps per CPU-second divided by the steps a device takes per second. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bg96.module.loops import LOOPS, run

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "examples" / "fleet_scenario.py"
LOCUSTFILE = ROOT / "examples" / "locustfile.py"
SUITE = "ECDHE-RSA-AES128-GCM-SHA256"
BATCH = 200  # devices booted or opened at a time


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- one N, in a child process ----------------------------------------------------------------


async def child(n: int, port: int, ca: bytes, seconds: float, freeze: bool) -> dict[str, Any]:
    from bg96 import AsyncModem, AsyncSslConnection, VirtualModule
    from bg96.tls import session  # noqa: F401  # loads with the first TLS open: not per device

    gc.collect()
    rss0 = rss_kib()
    modules = [VirtualModule(transport="memory", system_resolver=False) for _ in range(n)]
    modems: list[AsyncModem] = []
    for module in modules:
        await module.start()
    gc.collect()
    rss_modules = rss_kib()  # idle modules, powered on, no driver yet
    cpu = time.process_time()
    for start in range(0, n, BATCH):
        batch = modules[start : start + BATCH]
        attached = [await AsyncModem.attach(m) for m in batch]
        modems += attached

        async def boot(modem: AsyncModem) -> None:
            await modem.sync()
            await modem.activate()
            await modem.upload("ca.pem", ca)
            await modem.ssl_config(1, seclevel=1, cacert="ca.pem")

        await asyncio.gather(*(boot(m) for m in attached))
    boot_cpu = (time.process_time() - cpu) / n
    gc.collect()
    rss_idle = rss_kib()
    cpu = time.process_time()
    conns: list[AsyncSslConnection] = []
    for start in range(0, n, BATCH):
        group = modems[start : start + BATCH]
        conns += await asyncio.gather(
            *(m.open_ssl(0, "127.0.0.1", port, ssl_ctx=1, timeout=60) for m in group)
        )
    open_cpu = (time.process_time() - cpu) / n
    gc.collect()
    rss_tls = rss_kib()
    if freeze:
        gc.freeze()  # what bg96.Fleet does once its devices have started (freeze_gc)
    message = b"x" * 100
    cycles = 0
    stop = False

    async def loop(modem: AsyncModem, conn: AsyncSslConnection) -> None:
        nonlocal cycles
        while not stop:
            await modem.command("AT")
            await conn.send(message)
            got = 0
            while got < len(message):
                got += len(await conn.recv(len(message) - got, timeout=30))
            cycles += 1

    tasks = [asyncio.ensure_future(loop(m, c)) for m, c in zip(modems, conns, strict=True)]
    await asyncio.sleep(min(1.0, seconds / 4))  # everyone in the loop
    first, cpu, wall = cycles, time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    done, cpu, wall = cycles - first, time.process_time() - cpu, time.perf_counter() - wall
    stop = True
    await asyncio.gather(*tasks)
    for conn in conns:
        await conn.close()
    for modem in modems:
        await modem.close()
    for module in modules:
        await module.stop()
    return {
        "n": n,
        "module_kib": (rss_modules - rss0) / n,
        "idle_kib": (rss_idle - rss0) / n,
        "tls_kib": (rss_tls - rss_idle) / n,
        "boot_ms": boot_cpu * 1000,
        "open_ms": open_cpu * 1000,
        "cycles_per_s": done / wall,
        "cpu_per_cycle_us": cpu / done * 1e6 if done else float("nan"),
        "cpu_share": cpu / wall,
    }


# ---- the parent -------------------------------------------------------------------------------


def cpus() -> tuple[set[int], set[int]] | None:
    mine = sorted(os.sched_getaffinity(0))
    return ({mine[0]}, {mine[1]}) if len(mine) >= 2 else None


def tls_echo(cert: str, key: str, where: set[int] | None) -> tuple[subprocess.Popen[str], int]:
    sys.path.insert(0, str(ROOT / "bench"))
    from common import tls_echo_cmd

    proc = subprocess.Popen(tls_echo_cmd(cert, key, SUITE), stdout=subprocess.PIPE, text=True)
    if where is not None:
        os.sched_setaffinity(proc.pid, where)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, int(line.rsplit(":", 1)[1])


def scaling(
    sizes: list[int],
    port: int,
    ca_path: str,
    seconds: float,
    where: set[int] | None,
    loop: str,
    gc_mode: str,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes:
        command = [sys.executable, __file__, "--child", str(n), "--port", str(port)]
        command += ["--ca", ca_path, "--seconds", str(seconds), "--loop", loop, "--gc", gc_mode]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        if where is not None:
            os.sched_setaffinity(proc.pid, where)
        out, _ = proc.communicate(timeout=600)
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"N={n:>5}: module {row['module_kib']:5.1f} KiB, booted with driver"
            f" {row['idle_kib']:5.1f} KiB/device, TLS +{row['tls_kib']:5.1f} KiB,"
            f" boot {row['boot_ms']:5.2f} ms CPU, open {row['open_ms']:5.2f} ms CPU,"
            f" {row['cycles_per_s']:7.0f} cycles/s, {row['cpu_per_cycle_us']:6.0f} us CPU/cycle"
            f" (CPU {row['cpu_share'] * 100:3.0f}%)",
            flush=True,
        )
    return rows


def run_measured(
    command: list[str], env: dict[str, str] | None = None, **kw: Any
) -> tuple[int, float, str]:
    """Run to the end; (exit status, CPU seconds of the process and its threads, output)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, **kw)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return proc.returncode, usage.ru_utime + usage.ru_stime, out.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_versus_fleet(port: int, ca_path: str, users: int, seconds: float, tmp: str) -> None:
    options = "rounds=1000,interval=0.5,fault_every=0"
    steps_per_device_s = 2 / 0.5  # a send and a read every 0.5 s
    # bg96 fleet: one process
    jsonl = Path(tmp) / "fleet.jsonl"
    fleet_cmd = [sys.executable, "-m", "bg96", "fleet", str(SCENARIO), "-n", str(users)]
    fleet_cmd += [f"-o{o}" for o in options.split(",")]
    fleet_cmd += [f"-otarget=127.0.0.1:{port}", f"-oca={ca_path}", "--duration", str(seconds)]
    fleet_cmd += ["--jsonl", str(jsonl), "--progress", "1000", "--grace", "2"]
    status, fleet_cpu, _ = run_measured(fleet_cmd)
    summary = json.loads(jsonl.read_text().splitlines()[-1])
    fleet_steps = sum(h["count"] for h in summary["steps"].values())
    fleet_rate = fleet_steps / summary["seconds"]
    # Locust: a master and two workers
    master_port = free_port()
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    master = [
        *base, "--master", "--headless", "--master-bind-host=127.0.0.1",
        f"--master-bind-port={master_port}", "--expect-workers=2", "-u", str(users),
        "-r", str(users), "-t", f"{int(seconds)}s", "--csv", str(Path(tmp) / "locust"),
        "--bg96-target", f"127.0.0.1:{port}", "--bg96-ca", ca_path, "--bg96-options", options,
    ]  # fmt: skip
    worker = [*base, "--worker", "--master-host=127.0.0.1", f"--master-port={master_port}"]
    results: list[tuple[int, float, str]] = []
    import threading

    def measure(command: list[str]) -> None:
        results.append(run_measured(command))

    threads = [threading.Thread(target=measure, args=(c,)) for c in (master, worker, worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with (Path(tmp) / "locust_stats.csv").open(newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    total = rows["Aggregated"]
    requests = int(total["Request Count"])
    failures = int(total["Failure Count"])
    rps = float(total["Requests/s"])
    worker_cpu = sorted(r[1] for r in results)[:2]  # the master does the least
    master_cpu = max(r[1] for r in results)
    locust_steps = requests - int(rows.get("device", {"Request Count": "0"})["Request Count"])
    print(f"\nsame scenario, {users} devices, {seconds:g} s (a send and a read every 0.5 s each):")
    print(
        f"  bg96 fleet (1 process): {fleet_steps} steps, {fleet_rate:.0f}/s, CPU {fleet_cpu:.2f} s,"
        f" {fleet_steps / fleet_cpu:.0f} steps per CPU-s ="
        f" {fleet_steps / fleet_cpu / steps_per_device_s:.0f} devices per core (exit {status})"
    )
    wcpu = sum(worker_cpu)
    print(
        f"  Locust (master + 2 workers): {requests} requests, {rps:.0f} requests/s, failures"
        f" {failures} ({failures / max(requests, 1):.2%}), workers' CPU {wcpu:.2f} s"
        f" (master {master_cpu:.2f} s), {locust_steps / wcpu:.0f} steps per worker CPU-s ="
        f" {locust_steps / wcpu / steps_per_device_s:.0f} devices per core"
        f" ({locust_steps / wcpu / (fleet_steps / fleet_cpu):.2f}x the single process)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100,1000,5000")
    parser.add_argument("--seconds", type=float, default=4.0, help="active phase per N")
    parser.add_argument("--locust-users", type=int, default=400)
    parser.add_argument("--locust-seconds", type=float, default=20.0)
    parser.add_argument("--no-locust", action="store_true")
    parser.add_argument(
        "--gc",
        choices=("freeze", "default"),
        default="freeze",
        help="freeze: gc.freeze() once the devices are connected, as bg96.Fleet does (default)",
    )
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="the fleet's loop")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        ca = Path(args.ca).read_bytes()
        row = run(child(args.child, args.port, ca, args.seconds, args.gc == "freeze"), args.loop)
        print(json.dumps(row))
        return
    from bg96.testing import TestPki

    placement = cpus()
    print(
        f"fleet process on CPU {min(placement[0])}, TLS echo server on CPU {min(placement[1])}"
        if placement
        else "CPU placement left to the OS"
    )
    pki = TestPki("bg96 bench CA")
    with tempfile.TemporaryDirectory() as tmp:
        cert = pki.server_cert()
        cert_path, key_path, ca_path = (Path(tmp) / n for n in ("cert.pem", "key.pem", "ca.pem"))
        cert_path.write_bytes(cert.cert_pem)
        key_path.write_bytes(cert.key_pem)
        ca_path.write_bytes(pki.ca_pem)
        echo, port = tls_echo(str(cert_path), str(key_path), placement[1] if placement else None)
        try:
            sizes = [int(s) for s in args.sizes.split(",")]
            rows = scaling(
                sizes,
                port,
                str(ca_path),
                args.seconds,
                placement[0] if placement else None,
                args.loop,
                args.gc,
            )
            ten = next((r for r in rows if r["n"] == 10), None)
            if ten is not None:
                for row in rows:
                    ratio = row["cpu_per_cycle_us"] / ten["cpu_per_cycle_us"]
                    print(f"  N={row['n']:>5}: CPU per cycle {ratio:.2f}x N=10")
            if not args.no_locust:
                locust_versus_fleet(port, str(ca_path), args.locust_users, args.locust_seconds, tmp)
        finally:
            echo.terminate()
            echo.wait(10)


if __name__ == "__main__":
    main()
