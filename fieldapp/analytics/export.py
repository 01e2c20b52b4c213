"""The district's de-identified analytics export: its records as Parquet files, partitioned by
`kind/year=YYYY/`, written through DuckDB (the optional extra `fieldapp[analytics]`).

De-identified, not anonymous: the elder becomes an HMAC pseudonym under a district secret kept
apart from the dedupe secret (table `analytics_secret`), the birth date a 5-year age band as of
31 Dec of each year, and names, ID numbers, phones, addresses, emergency contacts, workers,
free-text notes, record ids of people and device ids are left out; community and street codes,
dates and every coded field stay. The files stay at the district (docs/security.md).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fieldapp import crypto
from fieldapp.sqlite import sqlite3

# kind → (columns with their DuckDB types) — what is written, nothing else
SCHEMA: dict[str, list[tuple[str, str]]] = {
    "elder": [
        ("id", "VARCHAR"),
        ("community_code", "VARCHAR"),
        ("street_code", "VARCHAR"),
        ("gender", "VARCHAR"),
        ("age_band", "VARCHAR"),
        ("age_band_min", "INTEGER"),
        ("living_status", "VARCHAR"),
        ("hardship_tags", "VARCHAR"),
        ("visit_risk", "VARCHAR"),
        ("status", "VARCHAR"),
        ("status_date", "DATE"),
        ("merged_into", "VARCHAR"),
        ("consent", "VARCHAR"),
        ("deleted", "INTEGER"),
    ],
    "home_visit": [
        ("elder_id", "VARCHAR"),
        ("community_code", "VARCHAR"),
        ("visit_date", "DATE"),
        ("duration_min", "INTEGER"),
        ("service_type", "VARCHAR"),
        ("service_items", "VARCHAR"),
        ("contact_mode", "VARCHAR"),
        ("funding", "VARCHAR"),
        ("elder_condition", "VARCHAR"),
        ("issues", "VARCHAR"),
        ("referral", "VARCHAR"),
        ("satisfaction", "INTEGER"),
        ("deleted", "INTEGER"),
    ],
    "assessment": [
        ("elder_id", "VARCHAR"),
        ("community_code", "VARCHAR"),
        ("assess_date", "DATE"),
        ("reason", "VARCHAR"),
        ("score_self_care", "INTEGER"),
        ("score_mobility", "INTEGER"),
        ("score_mental", "INTEGER"),
        ("score_perception_social", "INTEGER"),
        ("total", "INTEGER"),
        ("level", "VARCHAR"),
        ("level_computed", "VARCHAR"),
        ("next_due", "DATE"),
        ("deleted", "INTEGER"),
    ],
    "retrofit": [
        ("elder_id", "VARCHAR"),
        ("community_code", "VARCHAR"),
        ("project_year", "INTEGER"),
        ("funding_type", "VARCHAR"),
        ("status", "VARCHAR"),
        ("apply_date", "DATE"),
        ("accept_date", "DATE"),
        ("items", "VARCHAR"),
        ("cost_total", "DOUBLE"),
        ("subsidy", "DOUBLE"),
        ("self_paid", "DOUBLE"),
        ("deleted", "INTEGER"),
    ],
    "meal_count": [
        ("point_id", "VARCHAR"),
        ("community_code", "VARCHAR"),
        ("service_date", "DATE"),
        ("meal", "VARCHAR"),
        ("dine_in", "INTEGER"),
        ("delivery", "INTEGER"),
        ("pickup", "INTEGER"),
        ("total", "INTEGER"),
        ("subsidized_total", "INTEGER"),
        ("effective", "INTEGER"),
        ("deleted", "INTEGER"),
    ],
    "volunteer_event": [
        ("community_code", "VARCHAR"),
        ("event_date", "DATE"),
        ("category", "VARCHAR"),
        ("status", "VARCHAR"),
        ("beneficiaries", "INTEGER"),
        ("total_hours", "DOUBLE"),
        ("total_points", "DOUBLE"),
        ("deleted", "INTEGER"),
    ],
    # not by year: the meal points and the reference data
    "meal_point": [
        ("id", "VARCHAR"),
        ("community_code", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("modes", "VARCHAR"),
        ("capacity_daily", "INTEGER"),
        ("status", "VARCHAR"),
        ("deleted", "INTEGER"),
    ],
    "ref_community": [
        ("code", "VARCHAR"),
        ("street_code", "VARCHAR"),
        ("name_zh", "VARCHAR"),
        ("pop_60", "INTEGER"),
        ("pop_80", "INTEGER"),
        ("sample", "INTEGER"),
    ],
    "ref_target": [
        ("indicator", "VARCHAR"),
        ("year", "INTEGER"),
        ("value", "DOUBLE"),
        ("unit", "VARCHAR"),
    ],
}
BY_YEAR = ("elder", "home_visit", "assessment", "retrofit", "meal_count", "volunteer_event")
REMOVED = {
    "elder": "name, name_initials, id_number, id_missing_reason, birth_date (→ age_band), phone,"
    " address, emergency_contact_name/phone/relation, notes, moved_to, version/device ids;"
    " id and merged_into are HMAC pseudonyms",
    "home_visit": "record id, worker, start/end time, notes, version/device ids; elder_id pseudonymised",
    "assessment": "record id, assessors, override_reason, coma/dementia flags, version/device ids;"
    " elder_id pseudonymised",
    "retrofit": "record id, contractor, assess/start dates, notes, version/device ids;"
    " elder_id pseudonymised",
    "meal_count": "record id, notes, subsidy detail, version/device ids; point_id pseudonymised",
    "volunteer_event": "record id, title, location, organizer, participants, times",
    "meal_point": "name, version/device ids; id pseudonymised",
}


class ExportError(ValueError):
    """The export cannot run, and why (zh)."""


@dataclass(frozen=True)
class Exported:
    out_dir: Path
    rows: dict[str, int]
    years: list[int]
    seconds: float


def duckdb_module() -> Any:
    """DuckDB, imported only here: without the extra, a clear message."""
    try:
        import duckdb
    except ImportError:
        raise ExportError(
            '需要安装 DuckDB：pip install "fieldapp[analytics]" (the analytics extra is not installed)'
        ) from None
    return duckdb


def analytics_secret(conn: sqlite3.Connection) -> bytes:
    """The district's pseudonym secret (made once, kept in the district database; separate from
    the dedupe secret so that the pseudonyms cannot be matched to the dedupe HMACs)."""
    row = conn.execute("SELECT secret FROM analytics_secret").fetchone()
    if row is None:
        with conn:
            conn.execute(
                "INSERT INTO analytics_secret VALUES (1, ?, ?)",
                (crypto.new_hmac_secret(), datetime.now().isoformat(timespec="seconds")),
            )
        row = conn.execute("SELECT secret FROM analytics_secret").fetchone()
    return crypto.unb64(row[0])


def pseudonym(secret: bytes) -> Callable[[str | None], str | None]:
    def of(record_id: str | None) -> str | None:
        if record_id is None:
            return None
        return hmac.new(secret, record_id.encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    return of


def age_band(birth_date: str | None, year: int) -> tuple[str | None, int | None]:
    """The 5-year band of the age on 31 Dec of `year` (what SPEC §7 counts ages by): 60 and 80
    are band edges, so every age rule of the indicators reads the same from the band."""
    if not birth_date or len(birth_date) < 4 or not birth_date[:4].isdigit():
        return None, None
    low = (year - int(birth_date[:4])) // 5 * 5
    return f"{low}-{low + 4}", low


def _years(conn: sqlite3.Connection, today: date) -> list[int]:
    lows, highs = [], []
    for table, col in (
        ("home_visit", "visit_date"),
        ("assessment", "assess_date"),
        ("retrofit", "accept_date"),
        ("meal_count", "service_date"),
        ("volunteer_event", "event_date"),
    ):
        lo, hi = conn.execute(f"SELECT min({col}), max({col}) FROM {table}").fetchone()
        if lo:
            lows.append(int(lo[:4]))
            highs.append(int(hi[:4]))
    first = max(2000, min(lows, default=today.year))
    return list(range(first, max(highs + [today.year]) + 1))


# kind → (SELECT of its columns in SCHEMA order and the partition year last, the pseudonymised
# column positions); NULL-safe, read straight from the district database
SOURCES: dict[str, tuple[str, tuple[int, ...]]] = {
    "home_visit": (
        "SELECT elder_id, community_code, visit_date, duration_min, service_type, service_items,"
        " contact_mode, funding, elder_condition, issues, referral, satisfaction, deleted,"
        " substr(visit_date, 1, 4) FROM home_visit",
        (0,),
    ),
    "assessment": (
        "SELECT elder_id, community_code, assess_date, reason, score_self_care, score_mobility,"
        " score_mental, score_perception_social, total, level, level_computed, next_due, deleted,"
        " substr(assess_date, 1, 4) FROM assessment",
        (0,),
    ),
    "retrofit": (
        "SELECT elder_id, community_code, project_year, funding_type, status, apply_date,"
        " accept_date, items, cost_total, subsidy, self_paid, deleted, project_year FROM retrofit",
        (0,),
    ),
    "meal_count": (
        "SELECT point_id, community_code, service_date, meal, dine_in, delivery, pickup, total,"
        " subsidized_total, id IN (SELECT id FROM meal_count_effective), deleted,"
        " substr(service_date, 1, 4) FROM meal_count",
        (0,),
    ),
    "volunteer_event": (
        "SELECT community_code, event_date, category, status, beneficiaries, total_hours,"
        " total_points, deleted, substr(event_date, 1, 4) FROM volunteer_event",
        (),
    ),
    "meal_point": (
        "SELECT id, community_code, kind, modes, capacity_daily, status, deleted FROM meal_point",
        (0,),
    ),
    "ref_community": (
        "SELECT code, street_code, name_zh, pop_60, pop_80, sample FROM ref_community",
        (),
    ),
    "ref_target": ("SELECT indicator, year, value, unit FROM ref_target", ()),
}


def _elders(conn: sqlite3.Connection, secret: bytes, years: list[int]) -> Iterator[list[Any]]:
    """Each elder record once per year, with the age band of that year (the partition)."""
    ps = pseudonym(secret)
    streets = dict(conn.execute("SELECT code, street_code FROM ref_community").fetchall())
    for r in conn.execute(
        "SELECT id, community_code, gender, birth_date, living_status, hardship_tags,"
        " visit_risk, status, status_date, merged_into, consent, deleted FROM elder"
    ):
        head = [ps(r[0]), r[1], streets.get(r[1]), r[2]]
        tail = [*r[4:9], ps(r[9]), r[10], r[11]]
        for y in years:
            yield [*head, *age_band(r[3], y), *tail, y]


def _rows(
    conn: sqlite3.Connection, kind: str, secret: bytes, years: list[int]
) -> Iterator[list[Any]]:
    """One kind's exported rows, de-identified (the partition year last, for kinds by year)."""
    if kind == "elder":
        yield from _elders(conn, secret, years)
        return
    ps = pseudonym(secret)
    sql, hidden = SOURCES[kind]
    for r in conn.execute(sql):
        row = list(r)
        for i in hidden:
            row[i] = ps(row[i])
        yield row


def _write_csv(path: Path, rows: Iterable[list[Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
            n += 1
    return n


def export(
    conn: sqlite3.Connection, out_dir: Path, *, overwrite: bool = False, today: date | None = None
) -> Exported:
    """Write every kind as Parquet into `out_dir` (refused when it is not empty, unless
    `overwrite`), and README.md beside them."""
    duckdb = duckdb_module()
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExportError(
                f"目录{out_dir}不是空的；加 --overwrite 覆盖 (not empty: use --overwrite)"
            )
        shutil.rmtree(out_dir)
    started = time.perf_counter()
    today = today or date.today()
    secret = analytics_secret(conn)
    years = _years(conn, today)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="fieldapp-analytics-") as tmp:
        duck = duckdb.connect()
        try:
            for kind, cols in SCHEMA.items():
                csv_path = Path(tmp) / f"{kind}.csv"
                counts[kind] = _write_csv(csv_path, _rows(conn, kind, secret, years))
                _copy(duck, (kind, cols), csv_path, out_dir, None if counts[kind] else today.year)
        finally:
            duck.close()
    from fieldapp.analytics.readme import write_readme

    write_readme(conn, out_dir, years, counts)
    return Exported(out_dir, counts, years, time.perf_counter() - started)


def _copy(
    duck: Any,
    spec_of: tuple[str, list[tuple[str, str]]],
    csv_path: Path,
    out_dir: Path,
    empty_year: int | None,
) -> None:
    """CSV → Parquet through DuckDB, typed by SCHEMA, partitioned by year where the kind has one
    (an empty kind: one empty file in this year's folder, so that its glob still reads)."""
    kind, cols = spec_of
    by_year = kind in BY_YEAR
    types = dict(cols) | ({"year": "INTEGER"} if by_year else {})
    spec = ", ".join(f"'{name}': '{t}'" for name, t in types.items())
    source = (
        f"SELECT * FROM read_csv('{csv_path}', header = false, columns = {{{spec}}},"
        " nullstr = '', quote = '\"', escape = '\"')"
    )
    if empty_year is not None:  # DuckDB cannot sniff an empty CSV: the typed columns, no row
        typed = ", ".join(f"CAST(NULL AS {t}) AS {name}" for name, t in types.items())
        source = f"SELECT {typed} WHERE false"
    if by_year and empty_year is not None:
        (out_dir / kind / f"year={empty_year}").mkdir(parents=True)
        target = out_dir / kind / f"year={empty_year}" / "data_0.parquet"
        duck.execute(
            f"COPY (SELECT * EXCLUDE (year) FROM ({source})) TO '{target}' (FORMAT parquet)"
        )
    elif by_year:
        duck.execute(
            f"COPY ({source}) TO '{out_dir / kind}' (FORMAT parquet, PARTITION_BY (year),"
            " OVERWRITE_OR_IGNORE true)"
        )
    else:
        (out_dir / kind).mkdir()
        duck.execute(f"COPY ({source}) TO '{out_dir / kind / 'data_0.parquet'}' (FORMAT parquet)")
