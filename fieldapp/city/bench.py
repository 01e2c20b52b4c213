"""Benchmark of issue 21: the analytics export and the indicators' SQL in DuckDB, against
`fieldapp report` on SQLite, on one district database (figures printed, not asserted)."""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from fieldapp import db
from fieldapp.report import build


def measure(db_path: Path, year: int, today: date | None = None) -> dict[str, float]:
    """Seconds: the export, DuckDB's queries (and whether they equal the report), the report."""
    from fieldapp.analytics.export import export
    from fieldapp.analytics.run import duckdb_figures

    day = today or date.today()
    conn = db.connect(db_path, create=False)
    try:
        t0 = time.perf_counter()
        report = build(conn, year, today=day)
        t_report = time.perf_counter() - t0
        with tempfile.TemporaryDirectory(prefix="fieldapp-bench-") as tmp:
            done = export(conn, Path(tmp) / "pq", today=day)
            t1 = time.perf_counter()
            got = duckdb_figures(Path(tmp) / "pq", year, report.as_of or day)
            t_duck = time.perf_counter() - t1
    finally:
        conn.close()
    want = {(f.area_code, f.indicator): (f.numerator, f.denominator) for f in report.figures}
    return {
        "export_s": round(done.seconds, 2),
        "duckdb_query_s": round(t_duck, 2),
        "report_s": round(t_report, 2),
        "rows": float(sum(done.rows.values())),
        "same_figures": float(got == want),
    }
