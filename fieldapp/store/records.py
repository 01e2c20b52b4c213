"""A record's life: saving a version and its current row in one transaction, reading it back, paging, history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from fieldapp import kinds, reference
from fieldapp.kinds import mask_id_number
from fieldapp.sqlite import sqlite3
from fieldapp.store import checks
from fieldapp.store.base import StoreBase
from fieldapp.store.errors import NotFound, StaleEdit, StoreError
from fieldapp.store.rows import lazy_models, write_current

if TYPE_CHECKING:
    from fieldapp.models import Record

KINDS: tuple[str, ...] = kinds.KINDS


@dataclass(frozen=True)
class Saved:
    """What a save made: the record's id and the new version's id and stamp."""

    kind: str
    record_id: str
    version_id: str
    hlc: str


@dataclass(frozen=True)
class Current:
    """A record as the current table holds it: its winning version and its validated fields."""

    kind: str
    id: str
    version_id: str
    hlc: str
    device_id: str
    deleted: bool
    record: Record


@dataclass(frozen=True)
class VersionRow:
    """One version as the append-only `versions` table holds it (the audit trail)."""

    seq: int
    version_id: str
    kind: str
    record_id: str
    parent_version_id: str | None
    hlc: str
    device_id: str
    deleted: bool
    content_hash: str
    payload: dict[str, Any]
    origin: str
    also_parents: tuple[str, ...] = ()
    payload_schema: int = 1
    saved_at: str | None = None


@dataclass(frozen=True)
class FieldChange:
    """One field a version changed: its name, the value before and after."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    """One version as the elder page's history shows it: what it did, when (local time of the
    save on this laptop when known, else its clock stamp) and which fields it changed."""

    version_id: str
    action: str  # created | edited | deleted | restored
    when: str  # YYYY-MM-DD HH:MM, local
    local_time: bool  # False: the time comes from the version's clock (a version from elsewhere)
    device_id: str
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True)
class ListFilter:
    """What a list screen narrows to: a date range on the kind's date column, and a text that
    matches the elder's name or the worker (an empty filter narrows nothing)."""

    date_field: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    text: str = ""
    text_fields: tuple[str, ...] = ()


def _when(v: VersionRow) -> tuple[str, bool]:
    if v.saved_at:
        return datetime.fromisoformat(v.saved_at).strftime("%Y-%m-%d %H:%M"), True
    return datetime.fromtimestamp(int(v.hlc[:13]) / 1000).strftime("%Y-%m-%d %H:%M"), False


def changes(history: Sequence[VersionRow]) -> list[Change]:
    """Each version against the one before it, field by field (old → new), oldest first."""
    out: list[Change] = []
    previous: VersionRow | None = None
    for v in history:
        if previous is None:
            action = "deleted" if v.deleted else "created"
            fields: tuple[FieldChange, ...] = ()
        else:
            action = "deleted" if v.deleted else "restored" if previous.deleted else "edited"
            keys = [k for k in v.payload if k not in previous.payload] + list(previous.payload)
            fields = tuple(
                FieldChange(k, previous.payload.get(k), v.payload.get(k))
                for k in dict.fromkeys(keys)
                if previous.payload.get(k) != v.payload.get(k)
            )
        when, local = _when(v)
        out.append(Change(v.version_id, action, when, local, v.device_id, fields))
        previous = v
    return out


class RecordsMixin(StoreBase):
    """Create, update and delete records (each a new version), and read the current tables a page at a time."""

    # ------------------------------------------------------------ writes

    def create(self, kind: str, data: dict[str, Any] | Record) -> Saved:
        """A new record, saved with the current payload schema (its community filled in here)."""
        record = lazy_models().validate_record(kind, self._prepared(kind, data))
        return self._save(kind, self._new_id(), None, record, deleted=False)

    def _prepared(self, kind: str, data: dict[str, Any] | Record) -> dict[str, Any]:
        """The form's fields plus what the store fills in itself: the community of the elder or the
        point (SPEC §3 v2: never typed, never changed on a device)."""
        raw = data.payload() if isinstance(data, lazy_models().Record) else dict(data)
        return checks.fill_community(self.conn, kind, raw)

    def _elder_status_date(self, record_id: str, raw: dict[str, Any]) -> dict[str, Any]:
        """An edit that leaves a non-active status as it was keeps its status_date (a record from
        before v2 has it only in the current table); an edit that sets it takes today by default
        (the 标记迁出/标记已故 actions; the form may give another day)."""
        status = raw.get("status")
        if status in (None, "", "active") or raw.get("status_date") not in (None, ""):
            return raw
        row = self.conn.execute(
            "SELECT status, status_date FROM elder WHERE id = ?", (record_id,)
        ).fetchone()
        if row is not None and row["status"] == status and row["status_date"]:
            return raw | {"status_date": row["status_date"]}
        return raw | {"status_date": kinds.today().isoformat()}

    def mark_status(
        self,
        elder_id: str,
        status: str,
        *,
        status_date: str | None = None,
        moved_to: str | None = None,
        base_version_id: str | None = None,
    ) -> Saved:
        """标记迁出 / 标记已故 (SPEC §3 v2): the elder's status, the day it took effect (today when not
        given) and, for a move inside the district, the community moved to."""
        cur = self.get("elder", elder_id)
        data = cur.record.payload() | {
            "status": status,
            "status_date": status_date or kinds.today().isoformat(),
            "moved_to": moved_to,
        }
        return self.update(
            "elder", elder_id, data, base_version_id=base_version_id or cur.version_id
        )

    def update(
        self,
        kind: str,
        record_id: str,
        data: dict[str, Any] | Record,
        *,
        base_version_id: str | None = None,
    ) -> Saved:
        """Edit a record. `base_version_id` is the version the form was opened on: when the record
        has moved on since, the edit is refused instead of overwriting what changed."""
        raw = self._prepared(kind, data)
        if kind == "elder":
            raw = self._elder_status_date(record_id, raw)
        record = lazy_models().validate_record(kind, raw)
        with self.transaction():
            cur = self._current_meta(kind, record_id)
            if cur["deleted"]:
                raise StoreError(
                    "该记录已删除，不能修改", "the record is deleted and cannot be edited"
                )
            self._check_base(cur, base_version_id)
            return self._save(kind, record_id, cur["version_id"], record, deleted=False)

    def delete(self, kind: str, record_id: str, *, base_version_id: str | None = None) -> Saved:
        """A tombstone version carrying the last payload; the rows stay, flagged deleted."""
        with self.transaction():
            cur = self._current_meta(kind, record_id)
            if cur["deleted"]:
                raise StoreError("该记录已删除", "the record is already deleted")
            self._check_base(cur, base_version_id)
            record = self.get(kind, record_id).record
            return self._save(kind, record_id, cur["version_id"], record, deleted=True)

    def restore(self, kind: str, record_id: str) -> Saved:
        """Undo a delete: a new version carrying the tombstone's payload, not deleted (README:
        nothing is ever lost; the tombstone stays in the history)."""
        with self.transaction():
            cur = self._current_meta(kind, record_id)
            if not cur["deleted"]:
                raise StoreError("该记录未被删除，无需恢复", "the record is not deleted")
            record = self.get(kind, record_id).record
            return self._save(kind, record_id, cur["version_id"], record, deleted=False)

    def revert(self, kind: str, record_id: str, version_id: str) -> Saved:
        """Undo edits: a new version whose fields are those of the chosen earlier version
        (checked again by today's rules; the versions after it stay in the history)."""
        row = self.conn.execute(
            "SELECT payload, payload_schema, deleted FROM versions"
            " WHERE version_id = ? AND record_id = ? AND kind = ?",
            (version_id, record_id, kind),
        ).fetchone()
        if row is None:
            raise NotFound("找不到该版本", f"no version {version_id} of {kind} {record_id}")
        data = json.loads(row["payload"])
        with self.transaction():
            cur = self._current_meta(kind, record_id)
            if cur["deleted"]:
                self.restore(kind, record_id)
            return self.update(kind, record_id, data)

    def _check_base(self, cur: sqlite3.Row, base_version_id: str | None) -> None:
        if base_version_id is not None and base_version_id != cur["version_id"]:
            raise StaleEdit(
                "该记录在您打开后已被修改，请重新打开后再编辑",
                "the record changed since it was opened: reopen it and edit again",
            )

    def _current_meta(self, kind: str, record_id: str) -> sqlite3.Row:
        _check_kind(kind)
        row: sqlite3.Row | None = self.conn.execute(
            f"SELECT version_id, deleted FROM {kind} WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            raise NotFound(
                f"找不到该记录（{kinds.LABELS[kind][0]}）", f"no {kind} record {record_id}"
            )
        return row

    def _save(
        self, kind: str, record_id: str, parent: str | None, record: Record, *, deleted: bool
    ) -> Saved:
        with self.transaction():
            if not deleted:
                self._check_references(kind, record_id, record)
            dev = self._require_device()
            if parent is not None:
                self._check_not_moved(kind, record_id)
            payload = record.payload()
            payload_json = lazy_models().canonical_json(payload)
            version_id = self._new_id()
            stamp = self._tick()
            self.conn.execute(
                "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id, deleted,"
                " content_hash, payload, origin, payload_schema, saved_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'local', ?, ?)",
                (
                    version_id,
                    kind,
                    record_id,
                    parent,
                    stamp,
                    dev.device_id,
                    int(deleted),
                    lazy_models().content_hash_of(deleted, payload_json),
                    payload_json,
                    record.payload_schema,  # a tombstone keeps the schema of the payload it carries
                    self._local_now_iso(),
                ),
            )
            meta = {
                "version_id": version_id,
                "hlc": stamp,
                "device_id": dev.device_id,
                "deleted": int(deleted),
            }
            write_current(self.conn, kind, record_id, meta, record, payload)
        return Saved(kind, record_id, version_id, stamp)

    def recorded_by(self) -> dict[str, str]:
        """device_id → who recorded on it, for versions from other laptops (their names arrive
        in return bundles) and the district's decisions; this laptop's own are not named."""
        dev = self.device()
        names = {
            str(r[0]): str(r[1])
            for r in self.conn.execute(
                "SELECT device_id, label FROM enrolled_devices WHERE label IS NOT NULL"
            )
        }
        district = self.conn.execute("SELECT district_device_id FROM device_keys").fetchone()
        if district is not None and district[0]:
            names[str(district[0])] = "区里"
        if dev is not None:
            names.pop(dev.device_id, None)
        return names

    def moved_by_district(self, record_id: str) -> str | None:
        """The community the district moved this elder to, when it is not this laptop's: such an
        elder (a transfer, arrived in a return bundle) is read-only here (SPEC §4a)."""
        dev = self.device()
        if dev is None or dev.role != "device" or dev.community_code is None:
            return None
        row = self.conn.execute(
            "SELECT e.community_code FROM elder e JOIN device_keys k"
            " JOIN versions v ON v.record_id = e.id AND v.device_id = k.district_device_id"
            " WHERE e.id = ? AND e.community_code != ? LIMIT 1",
            (record_id, dev.community_code),
        ).fetchone()
        return str(row[0]) if row is not None else None

    def _check_not_moved(self, kind: str, record_id: str) -> None:
        moved = self.moved_by_district(record_id) if kind == "elder" else None
        if moved is not None:
            raise StoreError(
                f"该老人已由区里迁往社区 {moved}，本机只能查看，不能修改",
                f"the district moved this elder to community {moved}: read-only on this laptop",
            )

    def _check_references(self, kind: str, record_id: str, record: Record) -> None:
        """Rules that need the database: known community, the elder/point/volunteers exist, one meal count a slot."""
        code = getattr(record, "community_code", None)
        if code is not None and code not in self.community_codes():
            raise StoreError(
                f"社区代码「{code}」不在本库的社区表中",
                f"community code {code} is not in this database's reference data",
                "community_code",
            )
        elder_id = getattr(record, "elder_id", None)
        if elder_id is not None:
            self._require_live("elder", elder_id, "elder_id", "老人")
        if isinstance(record, lazy_models().Elder):
            checks.check_under_60(
                record.birth_date, record.under_60_confirmed, self._registered_on(record_id)
            )
        if isinstance(record, lazy_models().MealCount):
            mc = record
            self._require_live("meal_point", mc.point_id, "point_id", "助餐点")
            checks.check_capacity(self.conn, mc.point_id, mc.total, mc.over_capacity_confirmed)
            clash = self.conn.execute(
                "SELECT id FROM meal_count WHERE point_id = ? AND service_date = ? AND meal = ? AND deleted = 0 AND id != ?",
                (mc.point_id, mc.service_date.isoformat(), mc.meal, record_id),
            ).fetchone()
            if clash:
                raise StoreError(
                    f"{mc.service_date} 该助餐点的{reference.load().label('meal', mc.meal)}已有记录，请修改原记录",
                    f"{mc.service_date} {mc.meal} already has a count for this point: edit it instead",
                    "meal",
                )
        if isinstance(record, lazy_models().VolunteerEvent):
            for p in record.participants:
                self._require_live("volunteer", p.volunteer_id, "participants", "志愿者")

    def _registered_on(self, record_id: str) -> date:
        """The day a record was first saved (its oldest version's clock), today for a new one."""
        row = self.conn.execute(
            "SELECT min(hlc) FROM versions WHERE record_id = ?", (record_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return kinds.today()
        return datetime.fromtimestamp(int(row[0][:13]) / 1000).date()

    def _require_live(self, kind: str, rid: str, field: str, what: str) -> None:
        row = self.conn.execute(f"SELECT deleted FROM {kind} WHERE id = ?", (rid,)).fetchone()
        if row is None or row["deleted"]:
            raise StoreError(
                f"{what}不存在或已删除", f"{kind} {rid} does not exist or is deleted", field
            )

    # ------------------------------------------------------------ reads

    def get(self, kind: str, record_id: str) -> Current:
        _check_kind(kind)
        row = self.conn.execute(
            "SELECT v.version_id, v.hlc, v.device_id, v.deleted, v.payload, v.payload_schema FROM "
            f"{kind} c JOIN versions v ON v.version_id = c.version_id WHERE c.id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"找不到该记录（{kinds.LABELS[kind][0]}）", f"no {kind} record {record_id}"
            )
        # a version keeps the payload schema it was written with (SPEC §3 v2)
        record = (
            lazy_models()
            .MODELS[kind]
            .model_validate(
                json.loads(row["payload"]), context={"payload_schema": row["payload_schema"]}
            )
        )
        return Current(
            kind,
            record_id,
            row["version_id"],
            row["hlc"],
            row["device_id"],
            bool(row["deleted"]),
            record,
        )

    def page(
        self,
        kind: str,
        *,
        where: dict[str, Any] | None = None,
        order_by: Sequence[str] = ("id",),
        limit: int = 100,
        offset: int = 0,
        include_deleted: bool = False,
        narrow: ListFilter | None = None,
    ) -> list[dict[str, Any]]:
        """A page of a current table (never the whole table): `where` is column = value, ANDed;
        `narrow` a list screen's date range and elder/worker text."""
        _check_kind(kind)
        limit = max(1, min(int(limit), 1000))
        sql, params = self._where(kind, where, include_deleted, narrow)
        order = ", ".join(_order_term(kind, c, self._columns(kind)) for c in order_by)
        rows = self.conn.execute(
            f"SELECT * FROM {kind}{sql} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, int(offset)],
        ).fetchall()
        return [masked_row(kind, dict(r)) for r in rows]

    def count(
        self,
        kind: str,
        *,
        where: dict[str, Any] | None = None,
        include_deleted: bool = False,
        narrow: ListFilter | None = None,
    ) -> int:
        _check_kind(kind)
        sql, params = self._where(kind, where, include_deleted, narrow)
        return int(self.conn.execute(f"SELECT count(*) FROM {kind}{sql}", params).fetchone()[0])

    def counts(self, *, include_deleted: bool = False) -> dict[str, int]:
        """Records per kind, and all versions under the key "versions"."""
        out = {k: self.count(k, include_deleted=include_deleted) for k in KINDS}
        out["versions"] = int(self.conn.execute("SELECT count(*) FROM versions").fetchone()[0])
        return out

    def _columns(self, kind: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({kind})")}

    def _where(
        self,
        kind: str,
        where: dict[str, Any] | None,
        include_deleted: bool,
        narrow: ListFilter | None = None,
    ) -> tuple[str, list[Any]]:
        cols = self._columns(kind)
        terms, params = ([] if include_deleted else ["deleted = 0"]), []
        for k, v in (where or {}).items():
            if k not in cols:
                raise StoreError(f"「{k}」不是{kind}的字段", f"{k!r} is not a column of {kind}")
            terms.append(f"{k} = ?")
            params.append(v)
        if narrow is not None:
            more, more_params = _narrowed(kind, cols, narrow)
            terms += more
            params += more_params
        return (" WHERE " + " AND ".join(terms) if terms else ""), params

    def history(self, record_id: str) -> list[VersionRow]:
        """Every version of a record, oldest first: the audit trail."""
        rows = self.conn.execute(
            "SELECT * FROM versions WHERE record_id = ? ORDER BY hlc, seq", (record_id,)
        )
        return [
            VersionRow(
                seq=r["seq"],
                version_id=r["version_id"],
                kind=r["kind"],
                record_id=r["record_id"],
                parent_version_id=r["parent_version_id"],
                hlc=r["hlc"],
                device_id=r["device_id"],
                deleted=bool(r["deleted"]),
                content_hash=r["content_hash"],
                payload=json.loads(r["payload"]),
                origin=r["origin"],
                also_parents=tuple(json.loads(r["also_parents"])),
                payload_schema=r["payload_schema"],
                saved_at=r["saved_at"],
            )
            for r in rows
        ]


def _check_kind(kind: str) -> None:
    if kind not in kinds.LABELS:
        raise StoreError(f"未知的记录类型「{kind}」", f"unknown record kind {kind!r}")


def _narrowed(kind: str, cols: set[str], f: ListFilter) -> tuple[list[str], list[Any]]:
    """SQL terms of a ListFilter: the date column between the bounds (inclusive), and the text in
    any of the text columns or in the name of the record's elder."""
    terms: list[str] = []
    params: list[Any] = []
    if f.date_field is not None:
        if f.date_field not in cols:
            raise StoreError(
                f"「{f.date_field}」不是{kind}的字段", f"{f.date_field!r} not in {kind}"
            )
        for bound, op in ((f.date_from, ">="), (f.date_to, "<=")):
            if bound:
                terms.append(f"{f.date_field} {op} ?")
                params.append(bound)
    text = f.text.strip()
    if text:
        like = f"%{text}%"
        ors = [f"{c} LIKE ?" for c in f.text_fields if c in cols]
        params += [like] * len(ors)
        if "elder_id" in cols:
            ors.append("elder_id IN (SELECT id FROM elder WHERE name LIKE ?)")
            params.append(like)
        if ors:
            terms.append("(" + " OR ".join(ors) + ")")
    return terms, params


def _order_term(kind: str, term: str, cols: set[str]) -> str:
    name, _, direction = term.partition(" ")
    if name not in cols or direction.upper() not in ("", "ASC", "DESC"):
        raise StoreError(f"不能按「{term}」排序", f"cannot order {kind} by {term!r}")
    return f"{name} {direction.upper()}".strip()


def masked_row(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """Rows for lists carry the masked ID number only; the edit form reads the record with get()."""
    if kind == "elder":
        row["id_masked"] = mask_id_number(row.pop("id_number", None))
    return row
