"""The indicators of SPEC §7 v2 as SQL over the analytics Parquet files, built from the rule
strings of fieldapp.indicators (PERSON_OF, PERSON_AT, COVERING_VISIT, ACCEPTED_RETROFIT,
DONE_EVENT), so that a definition still has one home; only the age rule reads the band.

Each query gives rows (area_level, area_code, numerator, denominator) per community, street and
district, persons counted once per level (as fieldapp.indicators._per_area). Plain ANSI SQL over
the tables elder, home_visit, assessment, retrofit, meal_count, meal_point, volunteer_event,
ref_community and ref_target: the same text runs in DuckDB, Spark SQL and Trino once the tables
name the Parquet folders (`views()` is the DuckDB part, the only engine-specific one).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fieldapp import indicators as ind
from fieldapp.analytics.export import BY_YEAR, SCHEMA
from fieldapp.sqlite import sqlite3

DISTRICT = "district"  # the district row's area_code in the queries' output


def _rule(sql: str, **at: str) -> str:
    cols = {"merged_into": "e.merged_into", "p_status_date": "p.status_date"}
    return sql.format(**cols, **at)


def views(out_dir: Path) -> str:
    """DuckDB: one view per exported kind over its Parquet files."""
    out = []
    for kind in SCHEMA:
        glob = f"{out_dir / kind}/*/*.parquet" if kind in BY_YEAR else f"{out_dir / kind}/*.parquet"
        hive = ", hive_partitioning = true" if kind in BY_YEAR else ""
        out.append(f"CREATE OR REPLACE VIEW {kind} AS SELECT * FROM read_parquet('{glob}'{hive});")
    return "\n".join(out)


def _window_start(as_of: date) -> str:
    """SQLite's date(:t, '-12 months') (what fieldapp.indicators uses), as a literal."""
    with sqlite3.connect(":memory:") as c:
        return str(c.execute("SELECT date(?, '-12 months')", (as_of.isoformat(),)).fetchone()[0])


def _per_area(rows: str, pop: str) -> str:
    """Distinct persons of `rows` (person, c) per community, street and district, with the
    population column `pop` of ref_community summed per area as the denominator."""
    return (
        f"WITH x AS ({rows}),"
        f" pop AS (SELECT 'community' AS lvl, code, {pop} AS d FROM ref_community"
        f"  UNION ALL SELECT 'street', street_code, sum({pop}) FROM ref_community GROUP BY street_code"
        f"  UNION ALL SELECT 'district', '{DISTRICT}', sum({pop}) FROM ref_community),"
        " n AS (SELECT 'community' AS lvl, c AS code, count(DISTINCT person) AS k FROM x GROUP BY c"
        "  UNION ALL SELECT 'street', s.street_code, count(DISTINCT x.person) FROM x"
        "   JOIN ref_community s ON s.code = x.c GROUP BY s.street_code"
        f"  UNION ALL SELECT 'district', '{DISTRICT}', count(DISTINCT person) FROM x)"
        " SELECT pop.lvl AS area_level, pop.code AS area_code, coalesce(n.k, 0) AS numerator,"
        " pop.d AS denominator FROM pop LEFT JOIN n ON n.lvl = pop.lvl AND n.code = pop.code"
    )


def _elders(year: int) -> str:
    return f"(SELECT * FROM elder WHERE year = {year})"


def coverage(year: int, end: date) -> str:
    """home_service_coverage: persons aged ≥ 60 (band) with an in-person visit in the year up to
    `end`, made while active, by the visit's community; ÷ pop_60."""
    e = _elders(year)
    rows = (
        "SELECT p.id AS person, coalesce(v.c, e.community_code) AS c FROM"
        " (SELECT h.elder_id, h.community_code AS c, min(h.visit_date) AS first FROM home_visit h"
        f"  WHERE {ind.COVERING_VISIT} AND h.visit_date BETWEEN DATE '{year}-01-01'"
        f"  AND DATE '{end}' GROUP BY h.elder_id, h.community_code) v"
        f" JOIN {e} e ON e.id = v.elder_id AND e.deleted = 0"
        f" JOIN {e} p ON p.id = {_rule(ind.PERSON_OF)}"
        f" WHERE {_rule(ind.PERSON_AT, d='v.first')} AND p.age_band_min >= 60"
    )
    return _per_area(rows, "pop_60")


def assessment_80(year: int, as_of: date) -> str:
    """assessment_80_coverage: persons aged ≥ 80 (band) assessed while active in the 12 months
    ending on the as-of date, by the assessment's community; ÷ pop_80."""
    e = _elders(as_of.year)
    rows = (
        "SELECT p.id AS person, a.community_code AS c FROM assessment a"
        f" JOIN {e} e ON e.id = a.elder_id AND e.deleted = 0"
        f" JOIN {e} p ON p.id = {_rule(ind.PERSON_OF)}"
        f" WHERE a.deleted = 0 AND a.assess_date BETWEEN DATE '{_window_start(as_of)}'"
        f" AND DATE '{as_of}' AND {_rule(ind.PERSON_AT, d='a.assess_date')}"
        " AND p.age_band_min >= 80"
    )
    return _per_area(rows, "pop_80")


def retrofit(year: int, end: date) -> str:
    """retrofit_households: households (persons) with a retrofit accepted from 2023 to `end`, by
    the retrofit's community (the district adds the 2022 baseline of ref_target)."""
    e = _elders(year)
    rows = (
        "SELECT p.id AS person, r.community_code AS c FROM retrofit r"
        f" JOIN {e} e ON e.id = r.elder_id AND e.deleted = 0"
        f" JOIN {e} p ON p.id = {_rule(ind.PERSON_OF)}"
        f" WHERE {ind.ACCEPTED_RETROFIT} AND r.accept_date BETWEEN DATE '{ind.RETROFIT_FROM}'"
        f" AND DATE '{end}'"
    )
    base = (
        "coalesce((SELECT max(value) FROM ref_target WHERE indicator = 'retrofit_households'"
        f" AND year = {ind.BASELINE_YEAR}), 0)"
    )
    return (
        "SELECT area_level, area_code, numerator + CASE WHEN area_level = 'district'"
        f" THEN {base} ELSE 0 END AS numerator, CAST(NULL AS DOUBLE) AS denominator"
        f" FROM ({_per_area(rows, 'pop_60')}) t"
    )


def _summed(per_community: str, cols: str) -> str:
    """Per community rows (c, …) summed up to street and district (points and events belong to
    one community)."""
    return (
        f"WITH x AS ({per_community}) SELECT 'community' AS area_level, c AS area_code, {cols}"
        " FROM x GROUP BY c UNION ALL SELECT 'street', s.street_code, "
        f"{cols} FROM x JOIN ref_community s ON s.code = x.c GROUP BY s.street_code"
        f" UNION ALL SELECT 'district', '{DISTRICT}', {cols} FROM x"
    )


def meals(year: int, end: date, as_of: date) -> str:
    """meal_monthly_capacity / meal_monthly_servings: Σ capacity_daily of the days served, Σ
    servings (effective counts), and the months from the area's meal data start."""
    last = 12 if as_of.year > year else as_of.month
    per_day = (
        "SELECT m.point_id, m.service_date, sum(m.total) AS n FROM meal_count m"
        f" WHERE m.effective = 1 AND m.service_date BETWEEN DATE '{year}-01-01' AND DATE '{end}'"
        " GROUP BY m.point_id, m.service_date"
    )
    per_comm = (
        "SELECT c.code AS c, coalesce(s.n, 0) AS servings, coalesce(s.cap, 0) AS capacity,"
        " f.first AS first FROM ref_community c LEFT JOIN (SELECT mp.community_code AS c,"
        " sum(x.n) AS n, sum(CASE WHEN x.n > 0 THEN mp.capacity_daily ELSE 0 END) AS cap"
        f" FROM ({per_day}) x JOIN meal_point mp ON mp.id = x.point_id GROUP BY mp.community_code) s"
        " ON s.c = c.code LEFT JOIN (SELECT mp.community_code AS c, min(m.service_date) AS first"
        " FROM meal_count m JOIN meal_point mp ON mp.id = m.point_id WHERE m.deleted = 0"
        " GROUP BY mp.community_code) f ON f.c = c.code"
    )
    months = (
        f"CASE WHEN min(first) IS NULL THEN 0 WHEN EXTRACT(YEAR FROM min(first)) < {year}"
        f" THEN {last} WHEN EXTRACT(YEAR FROM min(first)) = {year}"
        f" THEN greatest(0, {last} - EXTRACT(MONTH FROM min(first)) + 1) ELSE 0 END"
    )
    return _summed(
        per_comm, f"sum(servings) AS servings, sum(capacity) AS capacity, {months} AS months"
    )


def events(year: int, end: date) -> str:
    """volunteer_events: done events in the year up to `end`, by their community."""
    per_comm = (
        "SELECT c.code AS c, count(v.community_code) AS k FROM ref_community c"
        " LEFT JOIN volunteer_event v ON v.community_code = c.code AND"
        f" {ind.DONE_EVENT} AND v.event_date BETWEEN DATE '{year}-01-01' AND DATE '{end}'"
        " GROUP BY c.code"
    )
    return _summed(per_comm, "sum(k) AS numerator, CAST(NULL AS DOUBLE) AS denominator")


def queries(year: int, as_of: date) -> dict[str, str]:
    """The SQL of each indicator for a year as of a date (the report's as-of date)."""
    end = min(date(year, 12, 31), as_of)
    return {
        "home_service_coverage": coverage(year, end),
        "retrofit_households": retrofit(year, end),
        "assessment_80_coverage": assessment_80(year, as_of),
        "meal_monthly_capacity / meal_monthly_servings": meals(year, end, as_of),
        "volunteer_events": events(year, end),
    }
