"""The city database: its own small schema (enrolled districts, merged indicator bundles with their
history, figures, the city's reference divisions) and its own `PRAGMA user_version`.

It is a different kind of database from the device/district one (schema.sql): it never holds a
record or a version, is never migrated with them, and is opened only by `fieldapp city`; so its
DDL lives here, not in schema.sql, and `application_id` tells the two apart.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from fieldapp import paths
from fieldapp.sqlite import sqlite3

APPLICATION_ID = 0x46434954  # "FCIT"
CITY_SCHEMA_VERSION = 1
DDL = """
CREATE TABLE ref_division (
    code       TEXT PRIMARY KEY,          -- 6 digits (county-level division)
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    pop_60     INTEGER NOT NULL,
    pop_80     INTEGER NOT NULL,
    pop_sample INTEGER NOT NULL,          -- 1 = 示例 illustrative populations
    pop_year   INTEGER NOT NULL
);
CREATE TABLE district (
    code             TEXT PRIMARY KEY REFERENCES ref_division (code),
    public           TEXT NOT NULL,       -- base64 X25519 (not used by the city; kept to compare)
    fingerprint      TEXT NOT NULL,
    sign_public      TEXT NOT NULL UNIQUE,
    sign_fingerprint TEXT NOT NULL,
    enrolled_at      TEXT NOT NULL
);
CREATE TABLE bundle (
    bundle_id    TEXT PRIMARY KEY,
    district     TEXT NOT NULL REFERENCES district (code),
    year         INTEGER NOT NULL,
    as_of        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    file_sha256  TEXT NOT NULL UNIQUE,
    rows         INTEGER NOT NULL,
    merged_at    TEXT NOT NULL,
    current      INTEGER NOT NULL CHECK (current IN (0, 1))  -- the newest of its district and year
);
CREATE UNIQUE INDEX bundle_current ON bundle (district, year) WHERE current = 1;
CREATE TABLE figure (
    bundle_id       TEXT NOT NULL REFERENCES bundle (bundle_id),
    area_level      TEXT NOT NULL,
    area_code       TEXT NOT NULL,
    indicator       TEXT NOT NULL,
    period          TEXT NOT NULL,
    numerator       REAL NOT NULL,
    denominator     REAL,
    value           REAL,
    target          REAL,
    data_start      TEXT,
    population_year INTEGER NOT NULL,
    PRIMARY KEY (bundle_id, area_code, indicator, period)
);
"""


class CityDbError(ValueError):
    """The file is not a city database (or a newer one)."""


@dataclass(frozen=True)
class Division:
    code: str
    name_zh: str
    name_en: str
    pop_60: int
    pop_80: int
    sample: bool


def read_divisions(path: Path | None = None) -> list[Division]:
    """seed/city_divisions.csv: the city's county-level divisions and their populations."""
    path = path or paths.seed_dir() / "city_divisions.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [
            Division(
                r["code"],
                r["name_zh"],
                r["name_en"],
                int(r["pop_60"]),
                int(r["pop_80"]),
                r["pop_sample"] == "yes",
            )
            for r in csv.DictReader(f)
        ]


def init(path: Path) -> sqlite3.Connection:
    """Create a new city database with the city's reference divisions."""
    if path.exists():
        raise CityDbError(f"{path} 已存在 (exists)")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(DDL)
        conn.executemany(
            "INSERT INTO ref_division VALUES (?, ?, ?, ?, ?, ?, ?, 2022)",
            [
                (d.code, d.name_zh, d.name_en, "division", d.pop_60, d.pop_80, int(d.sample))
                for d in read_divisions()
            ],
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {CITY_SCHEMA_VERSION}")
    return conn


def connect(path: Path) -> sqlite3.Connection:
    """Open an existing city database; anything else is refused with the reason."""
    if not path.is_file():
        raise CityDbError(f"找不到市级数据库：{path}（先运行 fieldapp city init）")
    try:
        conn = sqlite3.connect(path)
        app, version = (
            conn.execute("PRAGMA application_id").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
        )
    except sqlite3.DatabaseError:
        raise CityDbError(f"{path.name} 不是SQLite数据库 (not an SQLite database)") from None
    if app != APPLICATION_ID:
        conn.close()
        raise CityDbError(f"{path.name} 不是市级数据库 (not a city database)")
    if version != CITY_SCHEMA_VERSION:
        conn.close()
        raise CityDbError(f"{path.name} 的版本{version}不受支持 (unsupported version)")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
