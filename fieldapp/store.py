"""Typed reads and writes of records and their versions: every save is one version plus the current row, in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fieldapp import db, hlc, ids, kinds, reference
from fieldapp.kinds import mask_id_number

if (
    TYPE_CHECKING
):  # the models (pydantic) load on the first save or read of a record, not at start-up
    from types import ModuleType

    from fieldapp.models import Record

KINDS: tuple[str, ...] = kinds.KINDS


def _models() -> ModuleType:
    """The record models, imported when first needed (pydantic costs ~0.1 s of start-up)."""
    from fieldapp import models

    return models


class StoreError(ValueError):
    """A save or a read that cannot be done as asked; the message is for the worker (zh, then en)."""

    def __init__(self, zh: str, en: str, field: str | None = None) -> None:
        self.zh, self.en, self.field = zh, en, field
        super().__init__(f"{zh} ({en})")


class NotFound(StoreError):
    pass


class StaleEdit(StoreError):
    """The record changed since the form was opened: the edit would silently drop that change."""


@dataclass(frozen=True)
class Device:
    device_id: str
    role: str
    label: str
    worker: str | None
    street_code: str | None
    community_code: str | None
    hlc_last: str


@dataclass(frozen=True)
class Saved:
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


@dataclass(frozen=True)
class DueItem:
    elder_id: str
    name: str
    id_masked: str
    visit_risk: str
    reason: str  # 'visit' or 'assessment'
    last_date: str | None
    due_date: str
    days_overdue: int


def _initials(name: str) -> str:
    """Pinyin initials of a name, with every reading of the surname (单 → d/s/c, 曾 → z/c):
    "dtf stf ctf". pypinyin is imported only when a name is saved (it costs ~0.25 s)."""
    from pypinyin import Style, lazy_pinyin, pinyin

    if not name:
        return ""
    rest = "".join(lazy_pinyin(name[1:], style=Style.FIRST_LETTER, errors="ignore")).lower()
    firsts = pinyin(name[0], style=Style.FIRST_LETTER, heteronym=True, errors="ignore")
    heads = list(dict.fromkeys(h.lower() for h in (firsts[0] if firsts else [""])))
    return " ".join(h + rest for h in heads)


def _column_value(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if isinstance(v, bool):
        return int(v)
    return v


def current_row(kind: str, record: Record, payload: dict[str, Any]) -> dict[str, Any]:
    """The current table's columns for a record: its payload plus the derived columns."""
    row = {k: _column_value(v) for k, v in payload.items()}
    if kind in ("elder", "volunteer"):
        row["name_initials"] = _initials(payload["name"])
    if isinstance(record, _models().Assessment):
        row["level_computed"] = record.computed_level()
    elif isinstance(record, _models().MealCount):
        row["total"] = record.total
        row["subsidized_total"] = sum(record.subsidized.values())
    elif isinstance(record, _models().VolunteerEvent):
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
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    conn.execute(f"INSERT OR REPLACE INTO {kind} ({cols}) VALUES ({marks})", row)
    _write_children(conn, record_id, record)


def _write_children(conn: sqlite3.Connection, record_id: str, record: Record) -> None:
    """The child rows of a retrofit (items) or a volunteer event (participants), rewritten with the record."""
    if isinstance(record, _models().Retrofit):
        conn.execute("DELETE FROM retrofit_line WHERE retrofit_id = ?", (record_id,))
        conn.executemany(
            "INSERT INTO retrofit_line (retrofit_id, line_no, code, qty, unit_price) VALUES (?, ?, ?, ?, ?)",
            [
                (record_id, i, it.code, float(it.qty), float(it.unit_price))
                for i, it in enumerate(record.items)
            ],
        )
    elif isinstance(record, _models().VolunteerEvent):
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
    cols = ", ".join(rows[0])
    marks = ", ".join(f":{c}" for c in rows[0])
    conn.executemany(f"INSERT OR REPLACE INTO {kind} ({cols}) VALUES ({marks})", rows)
    if kind in ("retrofit", "volunteer_event"):
        for rid, _, record in items:
            _write_children(conn, rid, record)


class Store:
    """One open database. Not thread-safe: open one Store per thread (SQLite connections are not shared)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        now: Callable[[], int] = hlc.wall_ms,
        new_id: Callable[[], str] = ids.uuid7,
    ) -> None:
        self.conn = conn
        self._now = now
        self._new_id = new_id
        self._depth = 0
        self._clock: hlc.Clock | None = None
        self._community_codes: frozenset[str] | None = None
        self._device: Device | None = None

    @classmethod
    def open(cls, path: Path | str, *, create: bool = True, **kw: Any) -> Store:
        return cls(db.connect(path, create=create), **kw)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT; nested calls join the outer transaction (a batch of saves)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        self._clock = (
            None  # another process may have saved since: the clock state is read inside the lock
        )
        try:
            yield
            if self._clock is not None:
                self.conn.execute("UPDATE device SET hlc_last = ?", (self._clock.last,))
                self._clock = None
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    # ------------------------------------------------------------ device

    def device(self) -> Device | None:
        row = self.conn.execute(
            "SELECT device_id, role, label, worker, street_code, community_code, hlc_last FROM device"
        ).fetchone()
        return Device(**dict(row)) if row else None

    def setup_device(
        self, *, street_code: str, community_code: str, worker: str, label: str | None = None
    ) -> Device:
        """First run: the worker's community and name; the device id is made here, once."""
        if self.device() is not None:
            raise StoreError("本设备已设置，不能重复设置", "this device is already set up")
        street = self.conn.execute(
            "SELECT name_zh FROM ref_street WHERE code = ?", (street_code,)
        ).fetchone()
        if street is None:
            raise StoreError(
                f"街道代码「{street_code}」不存在",
                f"unknown street code {street_code!r}",
                "street_code",
            )
        comm = self.conn.execute(
            "SELECT name_zh, street_code FROM ref_community WHERE code = ?", (community_code,)
        ).fetchone()
        if comm is None:
            raise StoreError(
                f"社区代码「{community_code}」不存在",
                f"unknown community code {community_code!r}",
                "community_code",
            )
        if comm["street_code"] != street_code:
            raise StoreError(
                f"社区「{comm['name_zh']}」不属于{street['name_zh']}",
                f"community {community_code} is not in street {street_code}",
                "community_code",
            )
        worker = worker.strip()
        if not worker:
            raise StoreError("请填写工作人员姓名", "worker name is required", "worker")
        device_id = self._new_id()
        from fieldapp import crypto

        sign_private, sign_public = (
            crypto.new_signing_key()
        )  # made once, at setup (docs/security.md)
        with self.transaction():
            self.conn.execute(
                "INSERT INTO device_keys (singleton, sign_private, sign_public) VALUES (1, ?, ?)",
                (sign_private, sign_public),
            )
            self.conn.execute(
                "INSERT INTO device (singleton, role, device_id, label, worker, street_code, community_code, created_at)"
                " VALUES (1, 'device', ?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    label or f"{comm['name_zh']}-{worker}",
                    worker,
                    street_code,
                    community_code,
                    datetime.fromtimestamp(self._now() / 1000, UTC)
                    .astimezone()
                    .isoformat(timespec="seconds"),
                ),
            )
        dev = self.device()
        assert dev is not None
        return dev

    def setup_district(self, label: str = "海陵区民政局") -> Device:
        """A district database: the same schema and seed, no worker or community of its own."""
        if self.device() is not None:
            raise StoreError(
                "该数据库已设置，不能再设为区级数据库", "this database is already set up"
            )
        from fieldapp import crypto

        with self.transaction():
            self.conn.execute(
                "INSERT INTO device_keys (singleton, hmac_secret) VALUES (1, ?)",
                (crypto.new_hmac_secret(),),
            )
            self.conn.execute(
                "INSERT INTO device (singleton, role, device_id, label, created_at) VALUES (1, 'district', ?, ?, ?)",
                (
                    self._new_id(),
                    label,
                    datetime.fromtimestamp(self._now() / 1000, UTC)
                    .astimezone()
                    .isoformat(timespec="seconds"),
                ),
            )
        dev = self.device()
        assert dev is not None
        return dev

    # ------------------------------------------------------------ keys (docs/security.md)

    def keys(self) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM device_keys").fetchone()
        return dict(row) if row else {}

    def install_district_key(self, public: bytes, fingerprint: str) -> None:
        """The district's public key, which this device seals its bundles to."""
        from fieldapp import crypto

        if self.device() is None or self.device().role != "device":  # type: ignore[union-attr]
            raise StoreError(
                "只有设备数据库需要区级公钥", "only a device database takes the district public key"
            )
        with self.transaction():
            self.conn.execute(
                "UPDATE device_keys SET district_public = ?, district_fingerprint = ?",
                (crypto.b64(public), fingerprint),
            )

    def enroll(self, device_id: str, public_b64: str, *, label: str | None, by: str) -> str:
        """The district accepts this device's signatures from now on; returns the key's fingerprint."""
        from fieldapp import crypto

        fp = crypto.fingerprint(crypto.unb64(public_b64))
        with self.transaction():
            row = self.conn.execute(
                "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?",
                (device_id,),
            ).fetchone()
            if row is not None and row["revoked_at"]:
                raise StoreError(
                    "该设备已被撤销，不能重新登记（请在设备上重新设置）",
                    "this device was revoked and cannot be enrolled again",
                )
            if row is not None and row["public_key"] != public_b64:
                raise StoreError(
                    "该设备已用另一把密钥登记", "this device is enrolled with another key"
                )
            self.conn.execute(
                "INSERT OR IGNORE INTO enrolled_devices (device_id, public_key, fingerprint, label, enrolled_at, enrolled_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    device_id,
                    public_b64,
                    fp,
                    label,
                    kinds.now_iso(),
                    by,
                ),
            )
        return fp

    def revoke(self, device_id: str, *, by: str) -> None:
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE enrolled_devices SET revoked_at = ?, revoked_by = ? WHERE device_id = ? AND revoked_at IS NULL",
                (kinds.now_iso(), by, device_id),
            )
            if cur.rowcount == 0:
                raise StoreError(
                    "没有该已登记且未撤销的设备", f"no enrolled, unrevoked device {device_id}"
                )

    def enrolled(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.conn.execute("SELECT * FROM enrolled_devices ORDER BY enrolled_at")
        ]

    def _require_device(self) -> Device:
        dev = self._device = self._device or self.device()
        if dev is None:
            raise StoreError(
                "本设备尚未设置（请先运行 fieldapp init）",
                "device not set up: run `fieldapp init` first",
            )
        return dev

    def _tick(self) -> str:
        if self._clock is None:
            self._require_device()
            last = self.conn.execute("SELECT hlc_last FROM device").fetchone()[0]
            self._clock = hlc.Clock(last, self._now)
        return self._clock.tick()

    # ------------------------------------------------------------ writes

    def create(self, kind: str, data: dict[str, Any] | Record) -> Saved:
        record = _models().validate_record(kind, data)
        return self._save(kind, self._new_id(), None, record, deleted=False)

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
        record = _models().validate_record(kind, data)
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

    def _check_base(self, cur: sqlite3.Row, base_version_id: str | None) -> None:
        if base_version_id is not None and base_version_id != cur["version_id"]:
            raise StaleEdit(
                "该记录在您打开后已被修改，请重新打开后再编辑",
                "the record changed since it was opened: reopen it and edit again",
            )

    def _current_meta(self, kind: str, record_id: str) -> sqlite3.Row:
        _check_kind(kind)
        row = self.conn.execute(
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
            payload = record.payload()
            payload_json = _models().canonical_json(payload)
            version_id = self._new_id()
            stamp = self._tick()
            self.conn.execute(
                "INSERT INTO versions (version_id, kind, record_id, parent_version_id, hlc, device_id, deleted,"
                " content_hash, payload, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'local')",
                (
                    version_id,
                    kind,
                    record_id,
                    parent,
                    stamp,
                    dev.device_id,
                    int(deleted),
                    _models().content_hash_of(deleted, payload_json),
                    payload_json,
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
        if isinstance(record, _models().MealCount):
            mc = record
            self._require_live("meal_point", mc.point_id, "point_id", "助餐点")
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
        if isinstance(record, _models().VolunteerEvent):
            for p in record.participants:
                self._require_live("volunteer", p.volunteer_id, "participants", "志愿者")

    def _require_live(self, kind: str, rid: str, field: str, what: str) -> None:
        row = self.conn.execute(f"SELECT deleted FROM {kind} WHERE id = ?", (rid,)).fetchone()
        if row is None or row["deleted"]:
            raise StoreError(
                f"{what}不存在或已删除", f"{kind} {rid} does not exist or is deleted", field
            )

    def community_codes(self) -> frozenset[str]:
        if self._community_codes is None:
            self._community_codes = frozenset(
                r[0] for r in self.conn.execute("SELECT code FROM ref_community")
            )
        return self._community_codes

    # ------------------------------------------------------------ reads

    def get(self, kind: str, record_id: str) -> Current:
        _check_kind(kind)
        row = self.conn.execute(
            "SELECT v.version_id, v.hlc, v.device_id, v.deleted, v.payload FROM "
            f"{kind} c JOIN versions v ON v.version_id = c.version_id WHERE c.id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"找不到该记录（{kinds.LABELS[kind][0]}）", f"no {kind} record {record_id}"
            )
        record = _models().MODELS[kind].model_validate(json.loads(row["payload"]))
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
    ) -> list[dict[str, Any]]:
        """A page of a current table (never the whole table): `where` is column = value, ANDed."""
        _check_kind(kind)
        limit = max(1, min(int(limit), 1000))
        sql, params = self._where(kind, where, include_deleted)
        order = ", ".join(_order_term(kind, c, self._columns(kind)) for c in order_by)
        rows = self.conn.execute(
            f"SELECT * FROM {kind}{sql} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, int(offset)],
        ).fetchall()
        return [_masked(kind, dict(r)) for r in rows]

    def count(
        self, kind: str, *, where: dict[str, Any] | None = None, include_deleted: bool = False
    ) -> int:
        _check_kind(kind)
        sql, params = self._where(kind, where, include_deleted)
        return int(self.conn.execute(f"SELECT count(*) FROM {kind}{sql}", params).fetchone()[0])

    def counts(self, *, include_deleted: bool = False) -> dict[str, int]:
        """Records per kind, and all versions under the key "versions"."""
        out = {k: self.count(k, include_deleted=include_deleted) for k in KINDS}
        out["versions"] = int(self.conn.execute("SELECT count(*) FROM versions").fetchone()[0])
        return out

    def _columns(self, kind: str) -> set[str]:
        return {r[1] for r in self.conn.execute(f"PRAGMA table_info({kind})")}

    def _where(
        self, kind: str, where: dict[str, Any] | None, include_deleted: bool
    ) -> tuple[str, list[Any]]:
        cols = self._columns(kind)
        terms, params = ([] if include_deleted else ["deleted = 0"]), []
        for k, v in (where or {}).items():
            if k not in cols:
                raise StoreError(f"「{k}」不是{kind}的字段", f"{k!r} is not a column of {kind}")
            terms.append(f"{k} = ?")
            params.append(v)
        return (" WHERE " + " AND ".join(terms) if terms else ""), params

    def search_elders(
        self, query: str, *, limit: int = 50, offset: int = 0, community_code: str | None = None
    ) -> list[dict[str, Any]]:
        """By name substring, pinyin initials (`zsf` → 张三丰) or the last 4 of the ID number."""
        q = query.strip()
        terms: list[str] = []
        params: list[Any] = []
        if q:
            terms.append("instr(name, ?) > 0")
            params.append(q)
            if q.isascii() and q.isalpha():
                terms.append("instr(' ' || name_initials, ' ' || ?) > 0")
                params.append(q.lower())
            if len(q) == 4 and all(c.isdigit() or c in "xX" for c in q):
                terms.append("substr(id_number, -4) = ?")
                params.append(q.upper())
        # find the ids on the narrow elder_search index (every column the match needs is in it),
        # then read the whole rows of that page only: a scan of 40,000 wide rows costs ~50 ms
        sql = "SELECT id FROM elder INDEXED BY elder_search WHERE deleted = 0"
        if terms:
            sql += " AND (" + " OR ".join(terms) + ")"
        if community_code:
            sql += " AND community_code = ?"
            params.append(community_code)
        sql += " ORDER BY status != 'active', instr(name, ?) != 1, name, id LIMIT ? OFFSET ?"
        params += [q or "\x00", max(1, min(limit, 1000)), offset]
        ids = [r[0] for r in self.conn.execute(sql, params)]
        if not ids:
            return []
        rows = {
            r["id"]: r
            for r in self.conn.execute(
                f"SELECT * FROM elder WHERE id IN ({', '.join('?' * len(ids))})", ids
            )
        }
        return [_masked("elder", dict(rows[i])) for i in ids]

    def elder_names(self, elder_ids: Sequence[str]) -> dict[str, str]:
        """Names for a page of rows that point at elders (one query, not one per row)."""
        ids = list(dict.fromkeys(elder_ids))[:1000]
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        return {
            r[0]: r[1]
            for r in self.conn.execute(f"SELECT id, name FROM elder WHERE id IN ({marks})", ids)
        }

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
            )
            for r in rows
        ]

    def due_list(
        self, today: date | None = None, *, limit: int = 200, community_code: str | None = None
    ) -> list[DueItem]:
        """Elders whose visit or assessment is due or overdue (SPEC §8), by risk, then oldest due first."""
        return self.due_page(today, limit=limit, community_code=community_code)[0]

    def due_page(
        self, today: date | None = None, *, limit: int = 200, community_code: str | None = None
    ) -> tuple[list[DueItem], int]:
        """The first `limit` of the due list, and how many are due in all (one query)."""
        today = today or kinds.today()
        rules = reference.load().rules
        freq = rules["visit_frequency_days"]
        modes = list(rules["visit_counts_for_due"])
        a = rules["assessment"]
        t = today.isoformat()
        mode_marks = ", ".join(f":m{i}" for i in range(len(modes)))
        comm_sql = " AND e.community_code = :community" if community_code else ""
        sql = f"""
        WITH base AS MATERIALIZED (
            SELECT e.id, e.name, e.id_number, e.visit_risk, e.birth_date,
                   (SELECT max(visit_date) FROM home_visit h
                     WHERE h.elder_id = e.id AND h.deleted = 0 AND h.contact_mode IN ({mode_marks})) AS last_visit,
                   x.assess_date, x.next_due
            FROM elder e LEFT JOIN (
                SELECT elder_id, max(assess_date) AS assess_date, max(next_due) AS next_due
                FROM assessment WHERE deleted = 0 GROUP BY elder_id
            ) x ON x.elder_id = e.id
            WHERE e.deleted = 0 AND e.status = 'active'{comm_sql}
        ),
        due AS (
            SELECT id, 'visit' AS reason, last_visit AS last_date,
                   CASE WHEN last_visit IS NULL THEN :t
                        ELSE date(last_visit, '+' || (CASE visit_risk WHEN 'high' THEN :fh WHEN 'priority' THEN :fp ELSE :fg END) || ' days')
                   END AS due_date
            FROM base
            UNION ALL
            SELECT id, 'assessment', assess_date,
                   CASE WHEN next_due IS NOT NULL AND next_due <= :t THEN next_due ELSE :t END
            FROM base
            WHERE (next_due IS NOT NULL AND next_due <= :t)
               OR (birth_date <= date(:t, '-{int(a["due_age"])} years')
                   AND (assess_date IS NULL OR assess_date <= date(:t, '-{int(a["next_due_months"])} months')))
        )
        SELECT d.id, b.name, b.id_number, b.visit_risk, d.reason, d.last_date, d.due_date,
               CAST(julianday(:t) - julianday(d.due_date) AS INTEGER) AS overdue, count(*) OVER () AS total
        FROM due d JOIN base b ON b.id = d.id
        WHERE d.due_date <= :t
        ORDER BY CASE b.visit_risk WHEN 'high' THEN 0 WHEN 'priority' THEN 1 ELSE 2 END, d.due_date, b.name, d.reason
        LIMIT :limit
        """
        named: dict[str, Any] = {
            "t": t,
            "fh": freq["high"],
            "fp": freq["priority"],
            "fg": freq["general"],
            "limit": limit,
        }
        named |= {f"m{i}": m for i, m in enumerate(modes)}
        if community_code:
            named["community"] = community_code
        rows = self.conn.execute(sql, named).fetchall()
        items = [
            DueItem(
                r["id"],
                r["name"],
                mask_id_number(r["id_number"]),
                r["visit_risk"],
                r["reason"],
                r["last_date"],
                r["due_date"],
                r["overdue"],
            )
            for r in rows
        ]
        return items, (int(rows[0]["total"]) if rows else 0)

    def dashboard(
        self, today: date | None = None, community_code: str | None = None
    ) -> dict[str, Any]:
        """This month's counts and the year's progress beside the community's share of the plan's targets."""
        today = today or kinds.today()
        if community_code is None:
            dev = self.device()
            community_code = dev.community_code if dev else None
        m0 = today.replace(day=1).isoformat()
        m1 = (today.replace(day=28) + timedelta(days=4)).replace(day=1).isoformat()
        y0, y1 = f"{today.year}-01-01", f"{today.year + 1}-01-01"
        q = self.conn.execute
        month = {
            "visits": q(
                "SELECT count(*) FROM home_visit WHERE deleted = 0 AND visit_date >= ? AND visit_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "elders_served": q(
                "SELECT count(DISTINCT elder_id) FROM home_visit WHERE deleted = 0 AND visit_date >= ? AND visit_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "assessments": q(
                "SELECT count(*) FROM assessment WHERE deleted = 0 AND assess_date >= ? AND assess_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "meal_servings": q(
                "SELECT coalesce(sum(total), 0) FROM meal_count WHERE deleted = 0 AND service_date >= ? AND service_date < ?",
                (m0, m1),
            ).fetchone()[0],
            "volunteer_events": q(
                "SELECT count(*) FROM volunteer_event WHERE deleted = 0 AND status = 'done' AND event_date >= ? AND event_date < ?",
                (m0, m1),
            ).fetchone()[0],
        }
        retrofit_status = {
            r[0]: r[1]
            for r in q("SELECT status, count(*) FROM retrofit WHERE deleted = 0 GROUP BY status")
        }
        comm = q(
            "SELECT pop_60, pop_80 FROM ref_community WHERE code = ?", (community_code,)
        ).fetchone()
        district60 = q("SELECT sum(pop_60) FROM ref_community").fetchone()[0] or 1
        share = (comm["pop_60"] / district60) if comm else 0.0
        covered = q(
            "SELECT count(*) FROM elder e WHERE e.deleted = 0 AND e.status = 'active' AND e.id IN ("
            " SELECT elder_id FROM home_visit WHERE visit_date >= ? AND visit_date < ?"
            " AND contact_mode = 'in_person' AND deleted = 0)",
            (y0, y1),
        ).fetchone()[0]
        t = today.isoformat()
        old = q(
            "SELECT count(*), sum(EXISTS (SELECT 1 FROM assessment a WHERE a.elder_id = e.id AND a.deleted = 0"
            " AND a.assess_date > date(?, '-12 months'))) FROM elder e"
            " WHERE e.deleted = 0 AND e.status = 'active' AND e.birth_date <= date(?, '-80 years')",
            (t, t),
        ).fetchone()
        accepted = q(
            "SELECT count(DISTINCT elder_id) FROM retrofit WHERE deleted = 0 AND status = 'accepted' AND accept_date >= ? AND accept_date < ?",
            (y0, y1),
        ).fetchone()[0]
        events_year = q(
            "SELECT count(*) FROM volunteer_event WHERE deleted = 0 AND status = 'done' AND event_date >= ? AND event_date < ?",
            (y0, y1),
        ).fetchone()[0]

        def target(indicator: str) -> tuple[float | None, int | None]:
            row = q(
                "SELECT value, year FROM ref_target WHERE indicator = ? AND year <= ? ORDER BY year DESC LIMIT 1",
                (indicator, today.year),
            ).fetchone()
            return (row[0], row[1]) if row else (None, None)

        cov_pct, cov_year = target("home_service_coverage")
        ret_now, ret_year = target("retrofit_households")
        ret_prev = q(
            "SELECT value FROM ref_target WHERE indicator = 'retrofit_households' AND year = ?",
            ((ret_year or 0) - 1,),
        ).fetchone()
        meal_t, meal_year = target("meal_monthly_servings")
        ev_t, ev_year = target("volunteer_events")
        pop60 = comm["pop_60"] if comm else 0
        pop80 = comm["pop_80"] if comm else 0
        year = {
            "coverage": {
                "value": covered,
                "goal": round(pop60 * cov_pct / 100) if cov_pct is not None else None,
                "target_year": cov_year,
                "denominator": pop60,
            },
            "assessed_80": {
                "value": old[1] or 0,
                "goal": pop80,
                "registered": old[0],
                "target_year": target("assessment_80_coverage")[1],
            },
            "accepted_year": {
                "value": accepted,
                "goal": round((ret_now - ret_prev[0]) * share, 1)
                if ret_now is not None and ret_prev
                else None,
                "target_year": ret_year,
            },
            "meal_servings": {
                "value": month["meal_servings"],
                "goal": round(meal_t * share, 1) if meal_t is not None else None,
                "target_year": meal_year,
            },
            "volunteer_events": {
                "value": events_year,
                "goal": round(ev_t * share, 2) if ev_t is not None else None,
                "target_year": ev_year,
            },
        }
        return {
            "month": month,
            "retrofit_status": retrofit_status,
            "year": year,
            "share": share,
            "community_code": community_code,
        }

    # ------------------------------------------------------------ reference data

    def streets(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM ref_street ORDER BY code")]

    def communities(self, street_code: str | None = None) -> list[dict[str, Any]]:
        if street_code:
            rows = self.conn.execute(
                "SELECT * FROM ref_community WHERE street_code = ? ORDER BY code", (street_code,)
            )
        else:
            rows = self.conn.execute("SELECT * FROM ref_community ORDER BY code")
        return [dict(r) for r in rows]

    def import_communities(self, path: Path) -> int:
        """Replace communities and populations with a district's own CSV. A bad line, or a list
        that drops a community still in use, refuses the whole file and changes nothing."""
        street_codes = {r["code"] for r in self.streets()}
        communities = reference.parse_communities(path, street_codes)
        new_codes = {c.code for c in communities}
        used: set[str] = set()
        for kind in ("elder", "meal_point", "volunteer", "volunteer_event"):
            used |= {r[0] for r in self.conn.execute(f"SELECT DISTINCT community_code FROM {kind}")}
        dev = self.device()
        if dev and dev.community_code:
            used.add(dev.community_code)
        dropped = sorted(used - new_codes)
        if dropped:
            raise reference.ReferenceError_(
                path.name,
                None,
                f"新社区表缺少仍在使用的社区代码：{', '.join(dropped)}",
                f"the new list drops community codes still in use: {', '.join(dropped)}",
            )
        with self.transaction():
            db.replace_communities(self.conn, communities)
        self._community_codes = None
        return len(communities)

    def rules(self) -> dict[str, Any]:
        return {
            r["key"]: json.loads(r["value"])
            for r in self.conn.execute("SELECT key, value FROM ref_rule")
        }


def _check_kind(kind: str) -> None:
    if kind not in kinds.LABELS:
        raise StoreError(f"未知的记录类型「{kind}」", f"unknown record kind {kind!r}")


def _order_term(kind: str, term: str, cols: set[str]) -> str:
    name, _, direction = term.partition(" ")
    if name not in cols or direction.upper() not in ("", "ASC", "DESC"):
        raise StoreError(f"不能按「{term}」排序", f"cannot order {kind} by {term!r}")
    return f"{name} {direction.upper()}".strip()


def _masked(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """Rows for lists carry the masked ID number only; the edit form reads the record with get()."""
    if kind == "elder":
        row["id_masked"] = mask_id_number(row.pop("id_number", None))
    return row
