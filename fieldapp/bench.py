"""Benchmarks measured by a script, never by timed unit tests: medians of several runs and ratios to a
baseline measured in the same run (the machines are shared and noisy).

So far: TUI start-up to the first screen with data, against a bare Textual app (header, table,
footer) started the same way. `python -m fieldapp.bench startup --db PATH`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

# Each child is a fresh interpreter: imports count, as they do for a worker starting the app.
_FIELDAPP_CHILD = """
import asyncio, sys
from pathlib import Path
from fieldapp.tui.app import FieldApp
from fieldapp.tui.screens.dashboard import DashboardScreen

async def main():
    app = FieldApp(Path(sys.argv[1]))
    async with app.run_test(size=(100, 34)) as pilot:
        while not (isinstance(app.screen, DashboardScreen) and app.screen.loaded):
            await pilot.pause()
asyncio.run(main())
"""

_BASELINE_CHILD = """
import asyncio
from textual.app import App
from textual.widgets import DataTable, Footer, Header

class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()
    def on_mount(self):
        t = self.query_one(DataTable)
        t.add_columns("a", "b", "c")
        for i in range(20):
            t.add_row(str(i), "x", "y")
        self.loaded = True

async def main():
    app = Bare()
    app.loaded = False
    async with app.run_test(size=(100, 34)) as pilot:
        while not app.loaded:
            await pilot.pause()
asyncio.run(main())
"""


def _time_child(code: str, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def startup(db: Path, runs: int = 5) -> dict[str, Any]:
    """Median wall time from process start until the dashboard shows its numbers, and the ratio
    to a bare Textual app measured in the same run (interleaved, so both see the same noise)."""
    ours, bare = [], []
    _time_child(_BASELINE_CHILD)  # warm the OS file cache for both
    _time_child(_FIELDAPP_CHILD, str(db))
    for _ in range(runs):
        bare.append(_time_child(_BASELINE_CHILD))
        ours.append(_time_child(_FIELDAPP_CHILD, str(db)))
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    return {
        "figure": f"TUI start to first screen with data ({db.name})",
        "median_s": round(m_ours, 3),
        "min_s": round(min(ours), 3),
        "max_s": round(max(ours), 3),
        "baseline_median_s": round(m_bare, 3),
        "ratio": round(m_ours / m_bare, 2),
        "goal": "≤ 1.5 × bare Textual app",
        "met": m_ours / m_bare <= 1.5,
    }


def export_monthly(device_db: Path, out_dir: Path) -> int:
    """Cut a device's year of work into the monthly bundles it would have exported (one per month
    with work in it), as a worker exporting at the end of each month would have."""
    from datetime import date

    from fieldapp.store import Store, StoreError
    from fieldapp.sync.export import export

    made = 0
    with Store.open(device_db) as store:
        first, last = store.conn.execute(
            "SELECT min(hlc), max(hlc) FROM versions WHERE origin = 'local'"
        ).fetchone()
        if first is None:
            return 0
        start = date.fromtimestamp(int(first[:13]) / 1000).replace(day=1)
        end = date.fromtimestamp(int(last[:13]) / 1000)
        y, m = start.year, start.month
        while (y, m) <= (end.year, end.month):
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            cut = f"{int(time.mktime(date(ny, nm, 1).timetuple()) * 1000):013d}-00000"
            try:
                export(store, out_dir, period=f"{y:04d}-{m:02d}", until_hlc=cut)
                made += 1
            except StoreError:
                pass  # nothing that month
            y, m = ny, nm
    return made


def merge_run(bundles: Path, district_db: Path) -> dict[str, Any]:
    """Merge a folder of bundles into a new district database in a child process: wall time,
    versions per second and the child's peak RSS (ru_maxrss of the finished child)."""
    import resource

    from fieldapp.store import Store

    if district_db.exists():
        raise click.ClickException(f"{district_db} exists")
    with Store.open(district_db) as s:
        s.setup_district()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "fieldapp.cli", "merge", str(bundles), "--db", str(district_db)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with Store.open(district_db) as s:
        versions = s.conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        n_bundles = s.conn.execute("SELECT count(*) FROM bundles").fetchone()[0]
    return {
        "bundles": n_bundles,
        "versions": versions,
        "seconds": round(seconds, 1),
        "versions_per_s": round(versions / seconds),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "peak_rss_note": ""
        if peak_kb > before
        else "(peak of an earlier child; merge stayed below it)",
        "exit_code": proc.returncode,
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """fieldapp benchmarks (medians, ratios to baselines measured in the same run)."""


@main.command("startup")
@click.option(
    "--db",
    "dbs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
)
@click.option("--runs", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def startup_cmd(dbs: tuple[Path, ...], runs: int, json_out: Path | None) -> None:
    """Start-up of the worker's TUI on each database against a bare Textual app."""
    results = [startup(db, runs) for db in dbs]
    for r in results:
        click.echo(
            f"{r['figure']}: median {r['median_s']} s (min {r['min_s']}, max {r['max_s']}); "
            f"bare app {r['baseline_median_s']} s; ratio {r['ratio']} ({r['goal']}: {'met' if r['met'] else 'NOT met'})"
        )
    if json_out:
        json_out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


@main.command("district-merge")
@click.option(
    "--district-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="device databases made by `fieldapp demo --district`",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="folder for bundles and the district database",
)
def district_merge_cmd(district_dir: Path, work: Path) -> None:
    """Export every device's year as monthly bundles, then merge them all into a new district database."""
    bundles = work / "bundles"
    start = time.perf_counter()
    made = sum(export_monthly(db, bundles) for db in sorted(district_dir.glob("*.db")))
    click.echo(f"exported {made} monthly bundles in {time.perf_counter() - start:.1f} s")
    r = merge_run(bundles, work / "district.db")
    click.echo(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
