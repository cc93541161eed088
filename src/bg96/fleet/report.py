"""The fleet's console: a progress line while it runs, a summary table at the end."""

from __future__ import annotations

from typing import Any

from .fleet import Progress


def progress_line(p: Progress) -> str:
    outcomes = " ".join(f"{k} {v}" for k, v in sorted(p.outcomes.items()))
    return (
        f"[{p.elapsed:7.1f}s] devices {p.started}/{p.devices} running {p.running}"
        f" done {p.finished}{' (' + outcomes + ')' if outcomes else ''}"
        f" | steps {p.steps} ({p.steps_per_second:.0f}/s) failures {p.failures}"
    )


def summary_table(summary: dict[str, Any]) -> str:
    """Steps with their latency (ms) and failures, then failures by module code, then the
    devices' outcomes."""
    steps: dict[str, dict[str, Any]] = summary["steps"]
    failed: dict[str, dict[str, Any]] = summary["failed_steps"]
    names = sorted(set(steps) | set(failed), key=lambda n: list({**steps, **failed}).index(n))
    width = max([len(n) for n in names] + [4])
    lines = [
        f"{'step':<{width}} {'ok':>7} {'failed':>6} {'mean':>8} {'p50':>8} {'p90':>8}"
        f" {'p99':>8} {'max':>8}  (ms)"
    ]
    for name in names:
        ok = steps.get(name, {"count": 0})
        bad = failed.get(name, {"count": 0})
        if ok["count"]:
            figures = " ".join(
                f"{ok[k]:>8.1f}" for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")
            )
        else:
            figures = " ".join(f"{'-':>8}" for _ in range(5))
        lines.append(f"{name:<{width}} {ok['count']:>7} {bad['count']:>6} {figures}")
    if summary["failures"]:
        lines.append("failures by code:")
        for item in summary["failures"]:
            lines.append(f"  {item['step']:<{width}} {item['code']:<20} {item['count']:>7}")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items()))
    state = " (interrupted)" if summary["interrupted"] else ""
    lines.append(
        f"devices: {summary['finished']}/{summary['devices']} ended{state}"
        f"{': ' + outcomes if outcomes else ''}; {summary['seconds']:.1f} s"
    )
    return "\n".join(lines)
