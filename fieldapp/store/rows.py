"""The current tables' rows derived from a record: one function for the device's saves and the district's merge."""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Any

from fieldapp.sqlite import sqlite3

if (
    TYPE_CHECKING
):  # the models (pydantic) load on the first save or read of a record, not at start-up
    from types import ModuleType

    from fieldapp.models import Record


def lazy_models() -> ModuleType:
    """The record models, imported when first needed (pydantic costs ~0.1 s of start-up)."""
    from fieldapp import models

    return models


# a name's initials list every reading of each character, up to this many alternatives in all
MAX_INITIALS = 16


@functools.lru_cache(maxsize=4096)
def _initials(name: str) -> str:
    """Pinyin initials of a name, with every reading of each character, the common one first
    (单田芳 → "dtf stf ctf", 张长春 → "zzc zcc"): a worker types the reading she knows, and a
    search matches any of them. Past MAX_INITIALS alternatives a character adds its common
    reading only. Cached: a merge writes the same names again and again."""
    out = [""]
    for ch in name:
        heads = _char_initials(ch)
        if not heads:
            continue  # not a Chinese character: no initial
        if len(out) * len(heads) > MAX_INITIALS:
            heads = heads[:1]
        out = [o + h for o in out for h in heads]
    return " ".join(out)


@functools.cache
def _char_initials(ch: str) -> tuple[str, ...]:
    """The initials of every reading of one character, the common one first (长 → z, c); none for
    what is not a Chinese character. Cached: a district's names share a few thousand characters.

    The readings are pypinyin's for single characters. Its dictionary of phrases, for words and
    not names, is never loaded (PYPINYIN_NO_PHRASES): it held ~50 MB in every process that saved
    or merged a name (issue 20: the merge's peak memory), and it read a given name by the phrase
    it happened to spell (长春 cháng chūn, but 长林 zhǎng lín). pypinyin is imported only when a
    name is saved."""
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")  # no custom dictionaries: no copies
    from pypinyin import Style
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.style import convert

    readings = PINYIN_DICT.get(ord(ch), "")  # "zhǎng,cháng": the common one first
    heads = (convert(r, Style.FIRST_LETTER, strict=True).lower() for r in readings.split(","))
    return tuple(dict.fromkeys(h for h in heads if h)) if readings else ()


def _column_value(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if isinstance(v, bool):
        return int(v)
    return v


def current_row(kind: str, record: Record, payload: dict[str, Any]) -> dict[str, Any]:
    """The current table's columns for a record: its payload plus the derived columns."""
    models = lazy_models()
    row = {k: _column_value(v) for k, v in payload.items()}
    if kind in ("elder", "volunteer"):
        row["name_initials"] = _initials(payload["name"])
    if isinstance(record, models.Assessment):
        row["level_computed"] = record.computed_level()
    elif isinstance(record, models.MealCount):
        row["total"] = record.total
        row["subsidized_total"] = sum(record.subsidized.values())
    elif isinstance(record, models.VolunteerEvent):
        ev = record
        row["total_hours"] = float(sum(p.hours for p in ev.participants))
        row["total_points"] = float(sum(ev.points(p) for p in ev.participants))
    return row


def write_current(
    conn: sqlite3.Connection,
    kind: str,
    record_id: str,
    meta: dict[str, Any],
    record: Record,
    payload: dict[str, Any],
) -> None:
    """Put a record's winning version into its current table (and the child rows). Used by saves and by the merge."""
    row = {"id": record_id, **meta, **current_row(kind, record, payload)}
    _schema1_community(conn, kind, [row])
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    conn.execute(f"INSERT OR REPLACE INTO {kind} ({cols}) VALUES ({marks})", row)
    _write_children(conn, record_id, record)


_OWNER = {
    "home_visit": ("elder", "elder_id"),
    "assessment": ("elder", "elder_id"),
    "retrofit": ("elder", "elder_id"),
    "meal_count": ("meal_point", "point_id"),
}


def _schema1_community(conn: sqlite3.Connection, kind: str, rows: list[dict[str, Any]]) -> None:
    """A payload schema 1 visit, assessment, retrofit or meal count has no community_code: its
    current row takes the one community its device is enrolled for (SPEC §3 v2), else its elder's
    or point's, else this database's own."""
    if kind not in _OWNER:
        return
    table, field = _OWNER[kind]
    for row in rows:
        if row.get("community_code"):
            continue
        found = conn.execute(
            "SELECT COALESCE("
            " (SELECT json_extract(communities, '$[0]') FROM enrolled_devices"
            "  WHERE device_id = ? AND json_array_length(communities) = 1),"
            f" (SELECT community_code FROM {table} WHERE id = ?),"
            " (SELECT community_code FROM device))",
            (row.get("device_id"), row.get(field)),
        ).fetchone()
        row["community_code"] = found[0] if found else None


def _write_children(conn: sqlite3.Connection, record_id: str, record: Record) -> None:
    """The child rows of a retrofit (items) or a volunteer event (participants), rewritten with the record."""
    models = lazy_models()
    if isinstance(record, models.Retrofit):
        conn.execute("DELETE FROM retrofit_line WHERE retrofit_id = ?", (record_id,))
        conn.executemany(
            "INSERT INTO retrofit_line (retrofit_id, line_no, code, qty, unit_price) VALUES (?, ?, ?, ?, ?)",
            [
                (record_id, i, it.code, float(it.qty), float(it.unit_price))
                for i, it in enumerate(record.items)
            ],
        )
    elif isinstance(record, models.VolunteerEvent):
        ev = record
        conn.execute("DELETE FROM volunteer_participant WHERE event_id = ?", (record_id,))
        conn.executemany(
            "INSERT INTO volunteer_participant (event_id, volunteer_id, hours, points) VALUES (?, ?, ?, ?)",
            [
                (record_id, p.volunteer_id, float(p.hours), float(ev.points(p)))
                for p in ev.participants
            ],
        )


def write_current_many(
    conn: sqlite3.Connection, kind: str, items: list[tuple[str, dict[str, Any], Record]]
) -> None:
    """write_current for many records of one kind (the merge's bulk path): one executemany."""
    if not items:
        return
    rows = [
        {"id": rid, **meta, **current_row(kind, record, record.payload())}
        for rid, meta, record in items
    ]
    _schema1_community(conn, kind, rows)
    cols = ", ".join(rows[0])
    marks = ", ".join(f":{c}" for c in rows[0])
    conn.executemany(f"INSERT OR REPLACE INTO {kind} ({cols}) VALUES ({marks})", rows)
    if kind in ("retrofit", "volunteer_event"):
        for rid, _, record in items:
            _write_children(conn, rid, record)
