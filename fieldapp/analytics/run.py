"""Runs the indicators' SQL (fieldapp.analytics.sql) in DuckDB over an export: the figures per
area in the report's terms, to compare with `fieldapp report` (tests, benchmark)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fieldapp.analytics import sql
from fieldapp.analytics.export import duckdb_module
from fieldapp.indicators import DISTRICT_CODE

Key = tuple[str, str]  # (area code, indicator)


def duckdb_figures(out_dir: Path, year: int, as_of: date) -> dict[Key, tuple[float, float | None]]:
    """(numerator, denominator) per area code and indicator, the district under DISTRICT_CODE."""
    duck = duckdb_module().connect()
    out: dict[Key, tuple[float, float | None]] = {}
    try:
        duck.execute(sql.views(out_dir))
        for name, text in sql.queries(year, as_of).items():
            result = duck.execute(text)
            cols = [c[0] for c in result.description]
            for row in result.fetchall():
                r = dict(zip(cols, row, strict=True))
                code = DISTRICT_CODE if r["area_code"] == sql.DISTRICT else str(r["area_code"])
                if name.startswith("meal"):
                    months = float(r["months"]) or None
                    out[(code, "meal_monthly_capacity")] = (float(r["capacity"]), months)
                    out[(code, "meal_monthly_servings")] = (float(r["servings"]), months)
                else:
                    den = r["denominator"]
                    out[(code, name)] = (float(r["numerator"]), None if den is None else float(den))
    finally:
        duck.close()
    return out
