"""The README.md written beside the analytics Parquet files: the schema, what was removed and
why, and the indicators' SQL (fieldapp.analytics.sql, built from fieldapp.indicators)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fieldapp import indicators as ind
from fieldapp.analytics import sql
from fieldapp.analytics.export import BY_YEAR, REMOVED, SCHEMA
from fieldapp.sqlite import sqlite3

PORTABLE = """## The same files and SQL elsewhere (Spark SQL, Trino)

The indicator SQL above is plain ANSI SQL (`WITH`, `JOIN`, `GROUP BY`, `UNION ALL`,
`count(DISTINCT …)`, `CASE`, `coalesce`, `DATE 'YYYY-MM-DD'` literals, `EXTRACT(YEAR|MONTH FROM …)`,
`greatest`, `CAST(NULL AS DOUBLE)`): it runs unchanged in DuckDB, Spark SQL and Trino once each
table name points at its folder. Only that step differs by engine:

- DuckDB: `CREATE VIEW elder AS SELECT * FROM read_parquet('elder/*/*.parquet', hive_partitioning = true);`
- Spark SQL: `CREATE TABLE elder USING parquet LOCATION '/data/analytics/elder';`
  (the `year=YYYY` folders become the partition column `year`).
- Trino (Hive connector): `CREATE TABLE hive.fieldapp.elder (… columns as below …, year integer)
  WITH (external_location = 's3://…/elder', format = 'PARQUET', partitioned_by = ARRAY['year']);`
  then `CALL system.sync_partition_metadata('fieldapp', 'elder', 'ADD');`

For a province, many districts' folders sit side by side under one prefix with a `district=`
level above `kind`; the queries then add `district` to their `GROUP BY`.
"""


def write_readme(
    conn: sqlite3.Connection, out_dir: Path, years: list[int], counts: dict[str, int]
) -> Path:
    today = date.today()
    year = years[-1] if years else today.year
    as_of = ind.period(year, None, today).as_of(today)
    parts = [
        "# De-identified analytics export (fieldapp)",
        "",
        "Pseudonymised personal data under PIPL: a community, an age band and hardship tags can",
        "still single a person out. These files stay at the district, for its own analysts; only",
        "the signed aggregates (`fieldapp district publish`) travel upward.",
        "",
        "- `elder.id`, `*.elder_id`, `elder.merged_into`: HMAC-SHA-256 pseudonyms under the",
        "  district's analytics secret (not the dedupe secret); the same elder has the same",
        "  pseudonym in every export of this district, and no other district's.",
        "- ages: `age_band` (5 years, `80-84`) and `age_band_min`, as of 31 Dec of the partition",
        "  `year`; the elder table has one row per record and year. 60 and 80 are band edges, so",
        "  the indicators' age rules read exactly from the band.",
        "",
        "## Files and columns",
        "",
    ]
    for kind, cols in SCHEMA.items():
        where = f"`{kind}/year=YYYY/*.parquet`" if kind in BY_YEAR else f"`{kind}/*.parquet`"
        parts.append(f"### {kind} — {where}, {counts.get(kind, 0):,} rows")
        parts.append("")
        parts.append(", ".join(f"`{c}` {t}" for c, t in cols))
        if kind in REMOVED:
            parts.append("")
            parts.append(f"Removed: {REMOVED[kind]}.")
        parts.append("")
    parts += [
        f"## The indicators of {year} (as of {as_of}), SQL over these files",
        "",
        "Generated from `fieldapp/indicators.py` (its rule strings); a test runs it in DuckDB on",
        "an export and gets exactly the figures of `fieldapp report --year` for the same year.",
        "Each query returns `area_level, area_code, numerator, denominator` (the meal query:",
        "servings, capacity and months; value = capacity ÷ months, servings ÷ months).",
        "",
    ]
    for name, text in sql.queries(year, as_of).items():
        parts += [f"### {name}", "", "```sql", text, "```", ""]
    parts.append(PORTABLE)
    path = out_dir / "README.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
