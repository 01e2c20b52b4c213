"""Issue 21's measurement: the de-identified Parquet export and the indicators' SQL in DuckDB
against the report on SQLite, on one district database, several runs each (the benchmark's rows
are made from it in fieldapp.bench.figures)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from fieldapp import db
from fieldapp.report import build


@dataclass
class Timings:
    """Seconds per run of each step, the rows exported, and whether DuckDB's figures equalled the
    report's (numerator and denominator of every area and indicator) in every run."""

    report_s: list[float] = field(default_factory=list)
    export_s: list[float] = field(default_factory=list)
    duckdb_s: list[float] = field(default_factory=list)
    rows: int = 0
    same_figures: bool = True


def measure(db_path: Path, year: int, runs: int = 3, today: date | None = None) -> Timings:
    """The report's build (in-process, the same work as `fieldapp report` without the printing),
    the export into a fresh folder, and DuckDB's queries over it, `runs` times."""
    from fieldapp.analytics.export import export
    from fieldapp.analytics.run import duckdb_figures

    day = today or date.today()
    out = Timings()
    conn = db.connect(db_path, create=False)
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            report = build(conn, year, today=day)
            out.report_s.append(time.perf_counter() - t0)
            want = {
                (f.area_code, f.indicator): (f.numerator, f.denominator) for f in report.figures
            }
            with tempfile.TemporaryDirectory(prefix="fieldapp-bench-") as tmp:
                done = export(conn, Path(tmp) / "pq", today=day)
                out.export_s.append(done.seconds)
                t1 = time.perf_counter()
                got = duckdb_figures(Path(tmp) / "pq", year, report.as_of or day)
                out.duckdb_s.append(time.perf_counter() - t1)
            out.rows = sum(done.rows.values())
            out.same_figures = out.same_figures and got == want
    finally:
        conn.close()
    return out
