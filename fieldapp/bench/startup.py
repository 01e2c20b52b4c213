"""Start-up of the two TUIs against a bare Textual app, with a breakdown of where the time goes.

Each child is a fresh interpreter that reports its own phases (wall and CPU, in ms): `imports`
(the app's modules), `open` (the app object: the store), `first_screen` (from `run_test` to the
first screen with its data), `exit` (from there to the end). What the parent measures beyond their
sum is the interpreter's own start (`python`). The CPU figures survive a loaded machine, whose
scheduler stretches every wall time (the load average is printed beside them).

The worker's first screen is the dashboard with its figures and due list. The supervisor's is the
merge screen with its folder scanned: it never waits for the report cache, which the indicators
screen (F3) reads in a thread; the indicators screen's own time is a separate breakdown line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import baselines
from .measure import Goal, Row, arg, child_env, py, row

_PHASES = """
import time
_t0, _c0 = time.perf_counter(), time.process_time()
_marks = []
def mark(name):
    _marks.append((name, time.perf_counter(), time.process_time(), time.time()))
def report():
    import json
    out, prev = {}, (_t0, _c0)
    for name, t, c, epoch in _marks:
        out[name] = [round((t - prev[0]) * 1000, 1), round((c - prev[1]) * 1000, 1)]
        prev = (t, c)
        if name == "first_screen":
            print("SHOWN " + repr(epoch))
    print("PHASES " + json.dumps(out))
"""

# one child for every app: which app and screen (module:name), the screen's attribute that says
# its data is there (not None, not False), the screen to go to first ("" for none), the database
# and, for the supervisor's app, the folder it scans. The modules are imported in `imports`, as a
# script naming them would.
APP_CHILD = (
    _PHASES
    + """
import asyncio, importlib, sys
from pathlib import Path
def named(spec):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)
App, Screen = named(sys.argv[1]), named(sys.argv[2])
ready, goto, db, folder = sys.argv[3], sys.argv[4], Path(sys.argv[5]), sys.argv[6:]
mark("imports")

async def main():
    app = App(db, folder=Path(folder[0])) if folder else App(db)
    mark("open")
    async with app.run_test(size=(100, 34)) as pilot:
        if goto:
            app.goto(goto)
        while not (isinstance(app.screen, Screen) and getattr(app.screen, ready) not in (None, False)):
            await pilot.pause()
        mark("first_screen")
asyncio.run(main())
mark("exit")
report()
"""
)


@dataclass(frozen=True)
class Child:
    """One start-up measured by APP_CHILD: the app, its first screen and when that screen is ready."""

    app: str
    screen: str
    ready: str
    goto: str = ""

    def args(self, db: Path, folder: Path | str | None = None) -> list[str]:
        """The command line of a fresh interpreter starting the app on `db` (and `folder`)."""
        where = [] if folder is None else [os.fspath(folder)]
        return py(APP_CHILD, self.app, self.screen, self.ready, self.goto, arg(db), *where)


# the worker's dashboard with its figures and due list
DEVICE = Child(
    "fieldapp.tui.app:FieldApp", "fieldapp.tui.screens.dashboard:DashboardScreen", "loaded"
)
# the supervisor's merge screen with its folder scanned (`scanned` is [] for an empty folder)
DISTRICT = Child(
    "fieldapp.tui.district:DistrictApp", "fieldapp.tui.district:MergeScreen", "scanned"
)
# the indicators screen (F3) on top of the first screen: the report from its cache
INDICATORS = Child(
    "fieldapp.tui.district:DistrictApp",
    "fieldapp.tui.district_report:IndicatorScreen",
    "loaded",
    goto="indicators",
)


def _child_cpu() -> float:
    """CPU of the finished children (os.times: no `resource` module, which Windows lacks; there
    the children's times read 0 and only the wall figures count)."""
    t = os.times()
    return t.children_user + t.children_system


@dataclass(frozen=True)
class Run:
    """One fresh interpreter: its wall and CPU (s) to its end, its wall (s) to its first screen
    (the child's clock against ours; 0 when it reported none) and its phases."""

    wall: float
    cpu: float
    shown: float
    phases: dict[str, list[float]]


def run_child(args: list[str]) -> Run:
    """One fresh interpreter, measured."""
    c0, t0, epoch = _child_cpu(), time.perf_counter(), time.time()
    out = subprocess.run(
        args, check=True, capture_output=True, text=True, timeout=300, env=child_env()
    )
    wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    phases: dict[str, list[float]] = {}
    shown = 0.0
    for line in out.stdout.splitlines():
        if line.startswith("PHASES "):
            phases = json.loads(line[len("PHASES ") :])
        elif line.startswith("SHOWN "):
            shown = float(line[len("SHOWN ") :]) - epoch
    if phases:
        inside = [sum(v[i] for v in phases.values()) for i in (0, 1)]
        phases = {
            "python": [round(wall * 1000 - inside[0], 1), round(cpu * 1000 - inside[1], 1)]
        } | phases
    return Run(wall, cpu, shown, phases)


def _median_phases(runs: list[dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    names = list(runs[0]) if runs else []
    return {
        n: {
            "wall_ms": round(statistics.median(r[n][0] for r in runs), 1),
            "cpu_ms": round(statistics.median(r[n][1] for r in runs), 1),
        }
        for n in names
    }


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def _case(label: str, child: list[str], goal: float, runs: int) -> Row:
    """The app against the bare app, alternately; the ratio of the wall medians (start to the
    process's end, as the goal was set) is the goal's. The ratio of the CPU medians and the ratio
    to the first screen alone (without the interpreter's exit) are in the note and the detail."""
    bare_child = py(_PHASES + baselines.BARE_APP_CHILD)
    run_child(bare_child)
    run_child(child)  # warm the file cache for both
    ours: list[Run] = []
    bare: list[Run] = []
    for _ in range(runs):
        bare.append(run_child(bare_child))
        ours.append(run_child(child))

    def median(runs: list[Run], what: str) -> float:
        return float(statistics.median(getattr(r, what) for r in runs))

    wall = [r.wall for r in ours]
    ratio = median(ours, "wall") / median(bare, "wall")
    cpu_ratio = median(ours, "cpu") / median(bare, "cpu")
    shown_ratio = median(ours, "shown") / median(bare, "shown")
    breakdown: dict[str, Any] = {
        "figure": label,
        "wall_s": round(median(ours, "wall"), 3),
        "cpu_s": round(median(ours, "cpu"), 3),
        "shown_s": round(median(ours, "shown"), 3),
        "bare_wall_s": round(median(bare, "wall"), 3),
        "bare_cpu_s": round(median(bare, "cpu"), 3),
        "bare_shown_s": round(median(bare, "shown"), 3),
        "ratio_wall": round(ratio, 2),
        "ratio_cpu": round(cpu_ratio, 2),
        "ratio_shown": round(shown_ratio, 2),
        "phases": _median_phases([r.phases for r in ours]),
        "bare_phases": _median_phases([r.phases for r in bare]),
        "load": os.getloadavg(),
    }
    note = (
        f"bare app median {breakdown['bare_wall_s']:.3f} s; CPU {breakdown['cpu_s']:.2f} s vs "
        f"{breakdown['bare_cpu_s']:.2f} s = {cpu_ratio:.2f} ×; to the first screen "
        f"{breakdown['shown_s']:.3f} s vs {breakdown['bare_shown_s']:.3f} s = {shown_ratio:.2f} ×;"
        f" {load()}"
    )
    r = row(
        f"TUI start to first screen with data, {label} (s)",
        wall,
        "s",
        Goal(f"≤ {goal:g} × bare Textual app", ratio <= goal, ratio),
        note,
    )
    r.detail = breakdown
    return r


def startup_rows(device: Path, district: Path | None, runs: int) -> list[Row]:
    """Each app's start to its first screen with data, against a bare Textual app (issue 20: ≤ 1.5 ×
    on the device demo database, ≤ 1.8 × on the district database); each row's `detail` holds
    its breakdown by phase (the benchmark's JSON)."""
    out = [_case("device demo database", DEVICE.args(device), 1.5, runs)]
    if district is not None:
        with tempfile.TemporaryDirectory(prefix="fieldapp-usb-") as usb:
            r = _case("district database", DISTRICT.args(district, usb), 1.8, runs)
            ind = _case("indicators", INDICATORS.args(district, usb), 1.8, runs)
        assert r.detail is not None
        r.detail["indicators_from_cache"] = ind.detail
        r.note += f"; F3 indicators from the report cache: {ind.median:.3f} s ({ind.ratio} ×)"
        out.append(r)
    return out
