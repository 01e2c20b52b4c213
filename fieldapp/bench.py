"""Benchmarks at district scale, measured by this script and never by timed unit tests.

The machines are shared and noisy: every figure is the median of several runs, and every
comparison is a ratio to a baseline measured in the same run. `python -m fieldapp.bench`
(full, ≈ 10 min on 2 cores) or `--quick` (CI, under 2 minutes); `--json FILE` keeps the table.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click

# ------------------------------------------------------------------ children (fresh interpreters)

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

_DISTRICT_CHILD = """
import asyncio, sys
from pathlib import Path
from fieldapp.tui.district import DistrictApp
from fieldapp.tui.district_report import IndicatorScreen

async def main():
    app = DistrictApp(Path(sys.argv[1]))
    async with app.run_test(size=(100, 34)) as pilot:
        app.goto("indicators")
        while not (isinstance(app.screen, IndicatorScreen) and app.screen.loaded):
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

_MERGE_CHILD = """
import json, resource, sys, time
from pathlib import Path
from fieldapp import db
from fieldapp.sync.merge import bundle_files, merge_files
conn = db.connect(sys.argv[2], create=False)
files = bundle_files([Path(sys.argv[1])])
key = None
if len(sys.argv) > 3:  # format 2: the district's private key (its passphrase in FIELDAPP_KEY_PASSPHRASE)
    import os
    from fieldapp import crypto
    key = crypto.load_district_private(Path(sys.argv[3]), os.environ["FIELDAPP_KEY_PASSPHRASE"])
start = time.perf_counter()
results = merge_files(conn, files, district_key=key, allow_v1=key is None)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "versions": sum(r.versions for r in results),
                  "ok": all(r.ok for r in results), "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def _py(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


# ------------------------------------------------------------------ the table


@dataclass
class Row:
    figure: str
    median: float
    min: float
    max: float
    unit: str
    ratio: float | None
    goal: str
    met: bool | None
    note: str = ""


def _row(
    figure: str,
    values: list[float],
    unit: str,
    goal: str,
    met: bool | None,
    ratio: float | None = None,
    note: str = "",
) -> Row:
    return Row(
        figure,
        round(statistics.median(values), 4),
        round(min(values), 4),
        round(max(values), 4),
        unit,
        None if ratio is None else round(ratio, 2),
        goal,
        met,
        note,
    )


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# ------------------------------------------------------------------ data set


def export_monthly(device_db: Path, out_dir: Path) -> int:
    """Cut a device's year of work into the monthly bundles it would have exported (one per month
    with work in it), as a worker exporting at the end of each month would have."""
    return len(_export_monthly_timed(device_db, out_dir))


def _export_monthly_timed(device_db: Path, out_dir: Path) -> list[float]:
    from fieldapp.store import Store, StoreError
    from fieldapp.sync.export import export

    times: list[float] = []
    with Store.open(device_db) as store:
        first, last = store.conn.execute(
            "SELECT min(hlc), max(hlc) FROM versions WHERE origin = 'local'"
        ).fetchone()
        if first is None:
            return times
        start = date.fromtimestamp(int(first[:13]) / 1000).replace(day=1)
        end = date.fromtimestamp(int(last[:13]) / 1000)
        y, m = start.year, start.month
        while (y, m) <= (end.year, end.month):
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            cut = f"{int(time.mktime(date(ny, nm, 1).timetuple()) * 1000):013d}-00000"
            t0 = time.perf_counter()
            try:
                export(store, out_dir, period=f"{y:04d}-{m:02d}", until_hlc=cut, allow_v1=True)
                times.append(time.perf_counter() - t0)
            except StoreError:
                pass  # nothing that month
            y, m = ny, nm
    return times


_ENROL: list[tuple[str, str, str]] = []  # (device_id, public key, label) of the data set's devices
_KEY: list[Path] = []  # the district's private key file, when the data set is sealed (format 2)
PASSPHRASE = "fieldapp benchmark passphrase"


def _new_district(path: Path) -> Path:
    from fieldapp.store import Store

    with Store.open(path) as s:
        s.setup_district()
        for device_id, public, label in _ENROL:
            s.enroll(device_id, public, label=label, by="bench")
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _seal_devices(devices: Path, keys: Path) -> None:
    """Format 2, the default path: a district key pair, installed on every device, every device enrolled."""
    from fieldapp import crypto
    from fieldapp.store import Store

    os.environ.setdefault("FIELDAPP_KDF", "interactive")
    os.environ["FIELDAPP_KEY_PASSPHRASE"] = PASSPHRASE
    public, private, _ = crypto.district_keygen(keys, PASSPHRASE)
    pub = crypto.load_district_public(public)
    _KEY[:] = [private]
    _ENROL.clear()
    for dev in sorted(devices.glob("*.db")):
        with Store.open(dev) as s:
            s.install_district_key(*pub)
            d = s.device()
            assert d is not None
            _ENROL.append((d.device_id, s.keys()["sign_public"], d.label))


def _merge_child(bundles: Path, db: Path) -> dict[str, Any]:
    args = [str(bundles), str(db)] + ([str(_KEY[0])] if _KEY else [])
    out = subprocess.run(
        _py(_MERGE_CHILD, *args), check=True, capture_output=True, text=True, timeout=3600
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ baselines for the merge


def _stage_raw(district_db: Path, staged: Path) -> int:
    """Every version of a merged district database as ready-made current-table rows in another
    file (json_extract in SQL, no validation): the input of the raw-SQL ceiling and of sqlite-utils."""
    import sqlite3

    from fieldapp import db
    from fieldapp.store import KINDS

    db.connect(staged).close()  # the same schema
    conn = sqlite3.connect(staged)
    conn.execute("ATTACH ? AS src", (str(district_db),))
    n = 0
    for kind in KINDS:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({kind})")]
        exprs = []
        for c in cols:
            if c == "id":
                exprs.append("record_id")
            elif c in ("version_id", "hlc", "device_id", "deleted"):
                exprs.append(c)
            elif c in (
                "hardship_tags",
                "service_items",
                "issues",
                "assessors",
                "items",
                "modes",
                "subsidized",
                "participants",
            ):
                exprs.append(f"json_extract(payload, '$.{c}')")
            elif c == "level_computed":
                exprs.append("json_extract(payload, '$.level')")
            elif c == "total" and kind == "meal_count":
                exprs.append(
                    "json_extract(payload, '$.dine_in') + json_extract(payload, '$.delivery') + json_extract(payload, '$.pickup')"
                )
            elif c in ("name_initials",):
                exprs.append("''")
            elif c in ("subsidized_total", "total_hours", "total_points"):
                exprs.append("0")
            else:
                exprs.append(f"json_extract(payload, '$.{c}')")
        select = ", ".join(f"{e} AS {c}" for e, c in zip(exprs, cols, strict=True))
        conn.execute(
            f"CREATE TABLE staged_{kind} AS SELECT {select} FROM src.versions WHERE kind = ? ORDER BY seq",
            (kind,),
        )
        n += conn.execute(f"SELECT count(*) FROM staged_{kind}").fetchone()[0]
    conn.commit()
    conn.execute("DETACH src")
    conn.close()
    return n


def _raw_sql_merge(staged: Path, target: Path) -> float:
    """ATTACH + INSERT … SELECT … ON CONFLICT DO UPDATE … WHERE excluded.hlc > hlc: last writer wins, no checks."""
    import sqlite3

    from fieldapp.store import KINDS

    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("ATTACH ? AS staged", (str(staged),))
    start = time.perf_counter()
    conn.execute("BEGIN")
    for kind in KINDS:
        cols = [r[1] for r in conn.execute(f"PRAGMA main.table_info({kind})")]
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
        conn.execute(
            f"INSERT INTO main.{kind} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM staged.staged_{kind} WHERE true"
            f" ON CONFLICT (id) DO UPDATE SET {sets} WHERE excluded.hlc > {kind}.hlc"
        )
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def _ndjson(staged: Path, out_dir: Path) -> dict[str, Path]:
    import sqlite3

    from fieldapp.store import KINDS

    out_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(staged)
    conn.row_factory = sqlite3.Row
    files = {}
    for kind in KINDS:
        path = out_dir / f"{kind}.ndjson"
        with path.open("w", encoding="utf-8") as f:
            for r in conn.execute(f"SELECT * FROM staged_{kind}"):
                f.write(json.dumps(dict(r), ensure_ascii=False) + "\n")
        files[kind] = path
    conn.close()
    return files


def _sqlite_utils_upsert(files: dict[str, Path], target: Path) -> float:
    exe = shutil.which("sqlite-utils") or str(Path(sys.executable).parent / "sqlite-utils")
    start = time.perf_counter()
    for kind, path in files.items():
        subprocess.run(
            [exe, "upsert", str(target), kind, str(path), "--nl", "--pk", "id"],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


# ------------------------------------------------------------------ the run


def run(work: Path, *, quick: bool, scale: float | None, echo: Callable[[str], None]) -> list[Row]:
    from fieldapp.demo import generate_community, generate_district

    runs = 3
    scale = scale if scale is not None else (0.03 if quick else 1.0)
    rows: list[Row] = []
    today = date.today()

    def step(msg: str) -> None:
        echo(f"[{time.strftime('%H:%M:%S')}] {msg}")

    step(f"district data set, scale {scale}")
    devices = work / "devices"
    t0 = time.perf_counter()
    generate_district(devices, seed=1, today=today, scale=scale, jobs=2)
    _seal_devices(devices, work / "keys")
    step(
        f"  made in {time.perf_counter() - t0:.0f} s; exporting 12 monthly bundles per community (format 2: signed, sealed)"
    )
    bundles = work / "bundles"
    export_times: list[float] = []
    for dev in sorted(devices.glob("*.db")):
        export_times += _export_monthly_timed(dev, bundles)
    n_bundles = len(list(bundles.glob("*.fieldbundle")))
    rows.append(
        _row(
            "export of one community-month",
            export_times,
            "s",
            "≤ 0.5 s",
            statistics.median(export_times) <= 0.5,
            note=f"{n_bundles} bundles",
        )
    )

    step("merge: fieldapp, end to end")
    merges = []
    for i in range(runs):
        db = _new_district(work / f"district{i}.db")
        merges.append(_merge_child(bundles, db))
    versions = merges[0]["versions"]
    ours = [m["versions"] / m["seconds"] for m in merges]
    assert all(m["ok"] for m in merges)

    step("merge baselines: raw SQL ceiling and sqlite-utils upsert")
    staged = work / "staged.db"
    staged_rows = _stage_raw(work / "district0.db", staged)
    raw = []
    for i in range(runs):
        raw.append(staged_rows / _raw_sql_merge(staged, _new_district(work / f"raw{i}.db")))
    files = _ndjson(staged, work / "ndjson")
    su = []
    for i in range(runs):
        su.append(staged_rows / _sqlite_utils_upsert(files, work / f"su{i}.db"))
    m_ours, m_raw, m_su = statistics.median(ours), statistics.median(raw), statistics.median(su)
    rows.append(
        _row(
            "merge throughput (versions/s)",
            ours,
            "versions/s",
            "≥ 0.5 × raw SQL",
            m_ours >= 0.5 * m_raw,
            m_ours / m_raw,
            f"{versions} versions, {n_bundles} bundles; median {statistics.median([m['seconds'] for m in merges]):.1f} s",
        )
    )
    rows.append(_row("raw-SQL limit (versions/s)", raw, "versions/s", "the ceiling", None))
    rows.append(
        _row(
            "sqlite-utils upsert (rows/s)",
            su,
            "rows/s",
            "fieldapp ≥ 3 × faster",
            m_ours >= 3 * m_su,
            m_ours / m_su,
        )
    )
    peak = [m["maxrss_kb"] / 1024 for m in merges]
    rows.append(_row("merge peak memory (MB), this scale", peak, "MB", "< 150 MB", max(peak) < 150))

    step("re-merge of every bundle (all already merged)")
    again = [_merge_child(bundles, work / f"district{i}.db")["seconds"] for i in range(runs)]
    first = statistics.median([m["seconds"] for m in merges])
    rows.append(
        _row(
            "re-merge, all already merged (s)",
            again,
            "s",
            "≤ 5% of the first merge",
            statistics.median(again) <= 0.05 * first,
            statistics.median(again) / first,
        )
    )

    if not quick:
        step("merge peak memory at scale 0.25")
        small = work / "small"
        generate_district(small / "devices", seed=2, today=today, scale=0.25, jobs=2)
        _seal_devices(small / "devices", small / "keys")
        for dev in sorted((small / "devices").glob("*.db")):
            _export_monthly_timed(dev, small / "bundles")
        quarter = [
            _merge_child(small / "bundles", _new_district(small / f"d{i}.db"))["maxrss_kb"] / 1024
            for i in range(runs)
        ]
        rows.append(
            _row(
                "merge peak memory (MB), scale 0.25",
                quarter,
                "MB",
                "< 150 MB, not growing with data",
                max(quarter) < 150 and max(peak) < 150,
                statistics.median(peak) / statistics.median(quarter),
            )
        )

    step("district report, year, by community (the command, start to end)")
    district = work / "district0.db"
    rep = [
        _run(
            [
                sys.executable,
                "-m",
                "fieldapp.cli",
                "report",
                "--db",
                str(district),
                "--year",
                str(today.year),
                "--by",
                "community",
            ]
        )
        for _ in range(5)
    ]
    rows.append(
        _row(
            "district report, year, by community (s)",
            rep,
            "s",
            "≤ 1 s",
            statistics.median(rep) <= 1.0,
        )
    )

    step("elder search on the district database, 100 queries")
    rows.append(_search(district))

    step("save one home visit on a device database")
    rows.append(_saves(work, quick, generate_community))

    step("TUI start to first screen with data")
    device = sorted(devices.glob("*.db"))[0]
    rows += _startups(device, district, 3 if quick else 5)
    return rows


def _search(district: Path) -> Row:
    from pypinyin import Style, lazy_pinyin

    from fieldapp.store import Store

    rng = random.Random(6)
    with Store.open(district) as s:
        sample = s.conn.execute(
            "SELECT name, id_number FROM elder WHERE id_number IS NOT NULL ORDER BY random() LIMIT 100"
        ).fetchall()
        queries = []
        for i, r in enumerate(sample):
            kind = i % 3
            if kind == 0:
                queries.append(r["name"][: rng.choice([1, 2])])
            elif kind == 1:
                queries.append("".join(lazy_pinyin(r["name"], style=Style.FIRST_LETTER)))
            else:
                queries.append(r["id_number"][-4:])
        times = []
        for q in queries:
            t0 = time.perf_counter()
            s.search_elders(q, limit=100)
            times.append(time.perf_counter() - t0)
    ms = [t * 1000 for t in times]
    p95 = _pct(ms, 95)
    return Row(
        "elder search, district, 100 queries (ms)",
        round(_pct(ms, 50), 2),
        round(min(ms), 2),
        round(max(ms), 2),
        "ms",
        None,
        "p95 ≤ 50 ms",
        p95 <= 50,
        f"p95 {p95:.1f} ms",
    )


def _saves(work: Path, quick: bool, generate_community: Any) -> Row:
    from fieldapp.store import Store

    elders = 2000 if quick else 20000
    path = work / "big-device.db"
    generate_community(path, seed=3, today=date.today(), elders=elders)
    with Store.open(path) as s:
        n_visits = s.count("home_visit")
        ids = [
            r[0]
            for r in s.conn.execute(
                "SELECT id FROM elder WHERE deleted = 0 AND status = 'active' LIMIT 200"
            )
        ]
        dev = s.device()
        times = []
        for eid in ids:
            data = {
                "elder_id": eid,
                "visit_date": date.today().isoformat(),
                "start_time": "09:00",
                "end_time": "09:30",
                "service_type": "daily_visit",
                "contact_mode": "in_person",
                "funding": "gov_purchase",
                "worker": dev.worker if dev else "x",
                "elder_condition": "good",
            }
            t0 = time.perf_counter()
            s.create("home_visit", data)
            times.append(time.perf_counter() - t0)
    ms = [t * 1000 for t in times]
    p95 = _pct(ms, 95)
    return Row(
        f"save one home visit ({elders} elders, {n_visits} visits) (ms)",
        round(_pct(ms, 50), 2),
        round(min(ms), 2),
        round(max(ms), 2),
        "ms",
        None,
        "p95 ≤ 20 ms",
        p95 <= 20,
        f"p95 {p95:.1f} ms, {len(ms)} saves",
    )


def _startups(device: Path, district: Path | None, runs: int) -> list[Row]:
    out = []
    cases = [("device demo database", _FIELDAPP_CHILD, device)]
    if district is not None:
        cases.append(("district database", _DISTRICT_CHILD, district))
    for label, code, db in cases:
        _run(_py(_BASELINE_CHILD))
        _run(_py(code, str(db)))  # warm the file cache for both
        ours, bare = [], []
        for _ in range(runs):
            bare.append(_run(_py(_BASELINE_CHILD)))
            ours.append(_run(_py(code, str(db))))
        ratio = statistics.median(ours) / statistics.median(bare)
        out.append(
            _row(
                f"TUI start to first screen with data, {label} (s)",
                ours,
                "s",
                "≤ 1.5 × bare Textual app",
                ratio <= 1.5,
                ratio,
                f"bare app median {statistics.median(bare):.3f} s",
            )
        )
    return out


def startup(db: Path, runs: int = 5) -> dict[str, Any]:
    """Start-up of the worker's TUI on one database against a bare Textual app, as a dict."""
    row = _startups(db, None, runs)[0]
    return asdict(row)


def machine() -> dict[str, Any]:
    import platform
    import sqlite3

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
        lines.append(
            f"{r.figure:<58} {r.median:>10,.2f} {r.min:>10,.2f} {r.max:>10,.2f} {'' if r.ratio is None else r.ratio:>6}  {r.goal:<32} {met}"
        )
        if r.note:
            lines.append(f"{'':<4}{r.note}")
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.option("--quick", is_flag=True, help="small data set for CI (under 2 minutes)")
@click.option(
    "--scale",
    type=float,
    default=None,
    help="scale of the district data set (default 1.0, --quick 0.03)",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the table as JSON",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="keep the data here (default: a temporary folder)",
)
@click.pass_context
def main(
    ctx: click.Context, quick: bool, scale: float | None, json_out: Path | None, work: Path | None
) -> None:
    """fieldapp benchmarks: medians of several runs, ratios to baselines measured in the same run."""
    if ctx.invoked_subcommand is not None:
        return
    started = time.perf_counter()
    tmp = None
    if work is None:
        tmp = tempfile.mkdtemp(prefix="fieldapp-bench-")
        work = Path(tmp)
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = run(work, quick=quick, scale=scale, echo=lambda m: click.echo(m, err=True))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    info = machine() | {"quick": quick, "seconds": round(time.perf_counter() - started)}
    click.echo(render(rows))
    click.echo(f"machine: {info}")
    if json_out:
        json_out.write_text(
            json.dumps(
                {"machine": info, "rows": [asdict(r) for r in rows]}, ensure_ascii=False, indent=2
            ),
            encoding="utf-8",
        )


@main.command("startup")
@click.option(
    "--db",
    "dbs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    required=True,
)
@click.option("--runs", default=5, show_default=True, type=click.IntRange(1, 50))
def startup_cmd(dbs: tuple[Path, ...], runs: int) -> None:
    """Start-up of the worker's TUI on each database against a bare Textual app."""
    for db in dbs:
        r = startup(db, runs)
        click.echo(
            f"{db.name}: median {r['median']} s (min {r['min']}, max {r['max']}); ratio {r['ratio']} ({r['goal']}: {'met' if r['met'] else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
