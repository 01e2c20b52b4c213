"""District decisions written as versions made by the district (SPEC §4 v2): one store function.

A conflict choice, a "same person", a meal-slot choice or a transfer becomes a version with the
district's device_id and clock, so it travels and survives any re-merge. This only writes the
version row; settling the record (who wins) is the merge engine's job (`settle_records`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fieldapp import hlc, ids, kinds
from fieldapp.sqlite import sqlite3
from fieldapp.store.errors import StoreError
from fieldapp.store.rows import lazy_models


def district_version(
    conn: sqlite3.Connection,
    kind: str,
    record_id: str,
    payload: dict[str, Any],
    *,
    parent: str | None,
    also_parents: Sequence[str] = (),
    deleted: bool = False,
) -> str:
    """Write one district version (payload schema 2, checked with the district's date) inside the
    caller's transaction, and return its version_id. The district's clock moves with it."""
    models = lazy_models()
    row = conn.execute("SELECT device_id, hlc_last FROM device WHERE role = 'district'").fetchone()
    if row is None:
        raise StoreError("本库不是区级数据库", "this database is not the district's")
    record = models.validate_record(
        kind, payload, context=models.ValidationContext(today=kinds.today())
    )
    version_id = ids.uuid7()
    envelope = {
        "kind": kind,
        "record_id": record_id,
        "version_id": version_id,
        "parent_version_id": parent,
        "also_parents": list(also_parents),
        "payload_schema": models.SCHEMA_VERSION,
        "hlc": hlc.Clock(row[1]).tick(),
        "device_id": row[0],
        "deleted": deleted,
        "payload": record.payload(),
    }
    envelope["content_hash"] = models.content_hash(deleted, envelope["payload"])
    version, _ = models.validate_version(envelope)  # self-parent, duplicate parents: refused
    conn.execute(
        "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id,"
        " deleted, content_hash, payload, origin, also_parents, payload_schema, saved_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'local', ?, ?, ?)",
        (
            version_id,
            kind,
            record_id,
            parent,
            version.hlc,
            version.device_id,
            int(deleted),
            version.content_hash,
            version.payload_json,
            json.dumps(list(also_parents)),
            models.SCHEMA_VERSION,
            datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        ),
    )
    conn.execute("UPDATE device SET hlc_last = ?", (version.hlc,))
    return version_id


def set_supervisor(conn: sqlite3.Connection, name: str) -> None:
    """The supervisor's name, asked once at `district init`: every decision records it (the
    district device's `worker`), not the operating system's login."""
    name = name.strip()
    if not name or len(name) > 40:
        raise StoreError(
            "审核人姓名（supervisor）：须为1到40个字",
            "supervisor: 1 to 40 characters",
            "supervisor",
        )
    cur = conn.execute("UPDATE device SET worker = ? WHERE role = 'district'", (name,))
    if cur.rowcount != 1:
        raise StoreError("本库不是区级数据库", "this database is not the district's")
