"""The current tables' rows derived from a record: one function for the device's saves and the district's merge."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from fieldapp import initials
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
    (单田芳 → "dtf ctf stf", 张长春 → "zzc zcc"): a worker types the reading she knows, and a
    search matches any of them. Past MAX_INITIALS alternatives a character adds its common
    reading only. Cached: a merge writes the same names again and again.

    The readings are pypinyin's for single characters, kept as a table in the package
    (`fieldapp.initials`). Its dictionary of phrases, for words and not names, is not used: it
    read a given name by the phrase it happened to spell (长春 cháng chūn, but 长林 zhǎng lín)."""
    out = [""]
    for ch in name:
        heads = initials.of(ch)
        if not heads:
            continue  # not a Chinese character: no initial
        if len(out) * len(heads) > MAX_INITIALS:
            heads = heads[:1]
        out = [o + h for o in out for h in heads]
    return " ".join(out)


# one encoder, not one per call (json.dumps builds one for any non-default option)
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _columns(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload's fields as columns: lists and objects as canonical JSON, booleans as 0/1;
    anything else as it is. Written out, without a call per field: the merge's writer does it
    for every version (issue 20)."""
    out = dict(payload)
    for k, v in payload.items():
        t = type(v)
        if t is str or t is int or t is float or v is None:
            continue
        if t is bool:
            out[k] = int(v)
        elif t is list and all(type(x) is str for x in v):  # most lists: of codes, or empty
            out[k] = _str_list(v)
        elif isinstance(v, list | dict):
            out[k] = _encode(v)
    return out


def _str_list(v: list[str]) -> str:
    """`_encode` of a list of strings: orjson writes strings as the json module does with
    ensure_ascii=False (a lone surrogate, which orjson refuses, goes to the json module)."""
    if not v:
        return "[]"
    try:
        return orjson.dumps(v).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError
        return _encode(v)


def _derived(kind: str, record: Record, payload: dict[str, Any]) -> dict[str, Any]:
    """The columns computed from a record: name initials, the computed level, the totals."""
    models = lazy_models()
    row: dict[str, Any] = {}
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


def current_row(kind: str, record: Record, payload: dict[str, Any]) -> dict[str, Any]:
    """The current table's columns for a record: its payload plus the derived columns."""
    return {**_columns(payload), **_derived(kind, record, payload)}


class BuiltRow(NamedTuple):
    """What a record puts in its current table, in plain values, so that the merge's validating
    process can build it and send it to the writer: the record's payload (`columns=False`) or
    its columns already (`_columns`), the columns derived from the record, and its child rows
    (retrofit items, event participants; None otherwise). Which side turns the payload into
    columns is the pipeline's choice of who has the time to spare (sync/pipeline.py)."""

    payload: dict[str, Any]
    columns: bool
    derived: dict[str, Any]
    children: list[tuple[Any, ...]] | None


def built_row(kind: str, record_id: str, record: Record, *, columns: bool = True) -> BuiltRow:
    """The BuiltRow of a validated record; `columns=False` leaves the payload as it is."""
    payload = record.payload()
    return BuiltRow(
        _columns(payload) if columns else payload,
        columns,
        _derived(kind, record, payload),
        _children(record_id, record),
    )


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
    _insert_or_replace(conn, kind, tuple(row), [tuple(row.values())])
    _write_children(conn, kind, record_id, _children(record_id, record))


def _insert_or_replace(
    conn: sqlite3.Connection, kind: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Rows of a current table, each with the columns `cols` (by position); a record's row
    replaces the one it had. write_current and write_current_many both write through here."""
    marks = ", ".join("?" * len(cols))
    conn.executemany(f"INSERT OR REPLACE INTO {kind} ({', '.join(cols)}) VALUES ({marks})", rows)


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


def _children(record_id: str, record: Record) -> list[tuple[Any, ...]] | None:
    """The child rows of a retrofit (items) or a volunteer event (participants); None otherwise."""
    models = lazy_models()
    if isinstance(record, models.Retrofit):
        return [
            (record_id, i, it.code, float(it.qty), float(it.unit_price))
            for i, it in enumerate(record.items)
        ]
    if isinstance(record, models.VolunteerEvent):
        ev = record
        return [
            (record_id, p.volunteer_id, float(p.hours), float(ev.points(p)))
            for p in ev.participants
        ]
    return None


_CHILDREN = {
    "retrofit": (
        "DELETE FROM retrofit_line WHERE retrofit_id = ?",
        "INSERT INTO retrofit_line (retrofit_id, line_no, code, qty, unit_price) VALUES (?, ?, ?, ?, ?)",
    ),
    "volunteer_event": (
        "DELETE FROM volunteer_participant WHERE event_id = ?",
        "INSERT INTO volunteer_participant (event_id, volunteer_id, hours, points) VALUES (?, ?, ?, ?)",
    ),
}


def _write_children(
    conn: sqlite3.Connection, kind: str, record_id: str, rows: list[tuple[Any, ...]] | None
) -> None:
    """The child rows of a retrofit or a volunteer event, rewritten with the record."""
    if kind not in _CHILDREN:
        return
    delete, insert = _CHILDREN[kind]
    conn.execute(delete, (record_id,))
    conn.executemany(insert, rows or [])


def write_current_many(
    conn: sqlite3.Connection, kind: str, items: list[tuple[str, dict[str, Any], Record | BuiltRow]]
) -> None:
    """write_current for many records of one kind (the merge's bulk path), in few executemany. Each
    item's record is a validated Record or its BuiltRow, built already (the merge's pipeline)."""
    if not items:
        return
    built = [
        (rid, meta, r if isinstance(r, BuiltRow) else built_row(kind, rid, r))
        for rid, meta, r in items
    ]
    rows = [
        {
            "id": rid,
            **meta,
            **(cur.payload if cur.columns else _columns(cur.payload)),
            **cur.derived,
        }
        for rid, meta, cur in built
    ]
    _schema1_community(conn, kind, rows)
    # one executemany for each run of rows with the same columns, in order: a payload schema 1
    # record has no column for its kind's schema 2 fields, which then take their defaults as in
    # write_current (one statement for all took the first row's columns: it dropped the schema
    # 2 fields of the rows after a schema 1 row, or failed on a schema 1 row after a schema 2
    # one); values by position, not by name (sqlite3 looks each name up for every row)
    run: list[tuple[Any, ...]] = []
    cols: tuple[str, ...] = tuple(rows[0])
    for row in rows:
        keys = tuple(row)
        if keys != cols:
            _insert_or_replace(conn, kind, cols, run)
            run, cols = [], keys
        run.append(tuple(row.values()))
    _insert_or_replace(conn, kind, cols, run)
    for rid, _, cur in built:
        _write_children(conn, kind, rid, cur.children)
