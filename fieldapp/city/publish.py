"""The district's indicator bundle for the city: the report's figures (aggregates only) as
`indicators.ndjson` in a ZIP with a manifest signed by the district's Ed25519 key.

Only what travels upward is here: per area (district, street, community), indicator and period
the numerator, denominator, value, target, meal data start and population reference year. No
record, person, device or worker leaves the district (PIPL minimisation); a test scans a bundle
for every personal value of its database.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from nacl.signing import SigningKey

from fieldapp import __version__
from fieldapp import indicators as ind
from fieldapp.crypto import KeyError_, b64
from fieldapp.report import figures as fig
from fieldapp.sqlite import sqlite3

FORMAT = "fieldapp-indicators"
FORMAT_VERSION = 1
MEMBER = "indicators.ndjson"
CHINA = timezone(timedelta(hours=8))
ROW_FIELDS = (
    "area_level",
    "area_code",
    "indicator",
    "period",
    "numerator",
    "denominator",
    "value",
    "target",
    "data_start",
    "population_year",
)


@dataclass(frozen=True)
class Published:
    path: Path
    rows: int
    bundle_id: str


def _area_starts(conn: sqlite3.Connection, areas: list[fig.Area]) -> dict[str, str | None]:
    """Each area's meal data start: the earliest of its communities' (fieldapp.indicators.meals)."""
    far = date(9999, 12, 31)
    starts = {k: m.start for k, m in ind.meals(conn, date(1900, 1, 1), far).items()}
    out: dict[str, str | None] = {}
    for a in areas:
        own = [s for c in a.members if (s := starts.get(c))]
        out[a.code] = min(own) if own else None
    return out


def _rows(
    conn: sqlite3.Connection, year: int, district_code: str, today: date
) -> Iterator[dict[str, object]]:
    """The year's figures and each month's up to the as-of date, by fieldapp.report's own
    functions (the same numbers as `fieldapp report`), the district row under its own code."""
    areas = fig.areas(conn)
    starts = _area_starts(conn, areas)
    targets = ind.targets_in_force(conn, year)
    baseline = ind.retrofit_baseline(conn)
    year_p = ind.period(year, None, today)
    periods = [year_p] + [
        ind.period(year, m, today) for m in range(1, 13) if date(year, m, 1) <= year_p.as_of(today)
    ]
    for p in periods:
        as_of = p.as_of(today) if p.month is None else min(p.end, year_p.as_of(today))
        raw = fig.raw_counts(conn, p, as_of)
        for a in areas:
            code = district_code if a.level == "district" else a.code
            for m in fig.measures(a, raw, baseline):
                f = fig.figure(a, m, targets, year)
                meal = m.indicator.startswith("meal_")
                yield {
                    "area_level": a.level,
                    "area_code": code,
                    "indicator": m.indicator,
                    "period": p.label,
                    "numerator": f.numerator,
                    "denominator": f.denominator,
                    "value": f.value,
                    "target": f.target,
                    "data_start": starts.get(a.code) if meal else None,
                    "population_year": ind.POPULATION_YEAR,
                }


def _check_codes(conn: sqlite3.Connection, district_code: str) -> None:
    streets = [r[0] for r in conn.execute("SELECT code FROM ref_street")]
    foreign = [s for s in streets if not s.startswith(district_code)]
    if foreign:
        raise KeyError_(
            f"数据库的街道代码{foreign[0]}不属于密钥文件的区县{district_code}",
            f"street {foreign[0]} of the database is not in the key's district {district_code}",
        )


def publish(
    conn: sqlite3.Connection,
    year: int,
    *,
    signing: SigningKey,
    district_code: str,
    out_dir: Path,
    today: date | None = None,
) -> Published:
    """Write `<district>-indicators-<year>-<date>.fieldbundle` into `out_dir`."""
    today = today or date.today()
    if not 2000 <= year <= today.year:
        raise KeyError_(f"年份{year}无效（2000至今年）", f"year {year} is not 2000 … this year")
    _check_codes(conn, district_code)
    body = "".join(
        json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n"
        for r in _rows(conn, year, district_code, today)
    ).encode("utf-8")
    bundle_id, rows = str(uuid.uuid4()), body.count(b"\n")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "bundle_id": bundle_id,
        "district_code": district_code,
        "year": year,
        "as_of": ind.period(year, None, today).as_of(today).isoformat(),
        "created_at": datetime.now(CHINA).isoformat(timespec="seconds"),
        "population_year": ind.POPULATION_YEAR,
        "rows": rows,
        "members": {MEMBER: {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}},
        "sign_public": b64(bytes(signing.verify_key)),
        "app_version": __version__,
    }
    mbytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{district_code}-indicators-{year}-{today.isoformat()}"
    path, n = out_dir / f"{stem}.fieldbundle", 1
    while path.exists():
        n += 1
        path = out_dir / f"{stem}-{n}.fieldbundle"
    tmp = path.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", mbytes)
        z.writestr("manifest.sig", b64(signing.sign(mbytes).signature) + "\n")
        z.writestr(MEMBER, body)
    tmp.replace(path)
    return Published(path, rows, bundle_id)
