"""How a figure is measured and shown: the table row, medians and percentiles, timed child processes."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fieldapp.sqlite import sqlite3


@dataclass
class Row:
    """One figure of the table: the spread of its runs, its goal and (when there is a baseline
    measured in the same run) the ratio to it, which is what survives a noisy shared machine."""

    figure: str
    median: float
    min: float
    max: float
    unit: str
    ratio: float | None
    goal: str
    met: bool | None
    note: str = ""
    detail: dict[str, Any] | None = None  # e.g. the start-up's breakdown by phase (in the JSON)


@dataclass(frozen=True)
class Goal:
    """What a figure is held to: the words printed, whether it was met, and the ratio it was judged by."""

    text: str
    met: bool | None
    ratio: float | None = None


def row(figure: str, values: list[float], unit: str, goal: Goal, note: str = "") -> Row:
    return Row(
        figure,
        round(statistics.median(values), 4),
        round(min(values), 4),
        round(max(values), 4),
        unit,
        None if goal.ratio is None else round(goal.ratio, 2),
        goal.text,
        goal.met,
        note,
    )


def stamped(message: str) -> str:
    """A progress line of the benchmark, with the time of day."""
    return f"[{time.strftime('%H:%M:%S')}] {message}"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def arg(path: Path) -> str:
    """A path for a child's command line. Not str(): str(None) is "None", and a child once created a
    SQLite file of that name at the repository root; os.fspath refuses None (and mypy flags it)."""
    return os.fspath(path)


def py(code: str, *args: str) -> list[str]:
    """The command line of a fresh interpreter running `code` (start-up is part of what is measured)."""
    return [sys.executable, "-c", code, *args]


def child_env() -> dict[str, str]:
    """A timed child's environment: as the caller's, but writing bytecode. An installed fieldapp
    runs from compiled files (pip compiles them); with PYTHONDONTWRITEBYTECODE set, as on this
    workplace's shells, every child compiled fieldapp's modules again (0.1–0.2 s a start) while
    the baselines' libraries came compiled: the warm-up run now leaves them compiled."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=300, env=child_env())
    return time.perf_counter() - start


def machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "date": date.today().isoformat(),
    }


def render(rows: list[Row]) -> str:
    head = f"{'figure':<58} {'median':>10} {'min':>10} {'max':>10} {'ratio':>6}  {'goal':<32} met"
    lines = [head, "-" * len(head)]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "NO")
        ratio = "" if r.ratio is None else r.ratio
        lines.append(
            f"{r.figure:<58} {r.median:>10,.2f} {r.min:>10,.2f} {r.max:>10,.2f} {ratio:>6}  {r.goal:<32} {met}"
        )
        if r.note:
            lines.append(f"{'':<4}{r.note}")
    return "\n".join(lines)
