"""Importing a return bundle on a laptop (SPEC §5b): checked, opened, then merged by the district's engine.

The district's signature is checked against the installed district key before anything is
decrypted; the stream key is opened with the X25519 key derived from this laptop's Ed25519 key.
Every version goes into `versions` (origin: the return bundle, so the laptop never exports it
again) and the records it touches are settled by `sync.settle` — the code the district merges
with — after the district's clock flags and enrolments are in place, so laptop and district pick
the same winners. One transaction per bundle: any refusal leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fieldapp import crypto, hlc, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.store import Device, Store
from fieldapp.sync.apply import insert_versions
from fieldapp.sync.bundle_format import (
    CHUNK,
    MAX_ALSO_PARENTS,
    MAX_VERSIONS_BYTES,
    BundleError,
    file_sha256,
    load_json,
)
from fieldapp.sync.bundle_read import (
    _DAMAGED,
    Line,
    _check_caps,
    _check_members,
    _open_zip,
    _parse_lines,
    _read_manifest,
)
from fieldapp.sync.return_format import (
    FLAG_ACCEPTED,
    FLAG_KEY,
    FLAG_SUSPECT,
    RefData,
    ReturnManifest,
)
from fieldapp.sync.settle import KindSummary, in_slices, settle_batch
from fieldapp.text import clean

CHUNK_LINES = 2000


@dataclass
class ImportResult:
    """What one import did: applied, already (applied before: nothing changed) or refused."""

    path: Path
    status: str
    reason: str | None = None
    bundle_id: str | None = None
    seq: int = 0
    versions: int = 0
    versions_new: int = 0
    refdata_applied: bool = False
    kinds: dict[str, KindSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "already")


@dataclass
class _Opened:
    manifest: ReturnManifest
    zf: zipfile.ZipFile
    info: zipfile.ZipInfo
    file_sha256: str


def _refuse(zh: str, en: str) -> BundleError:
    return BundleError(f"{zh}，本机数据未改动", f"{en}; nothing on this laptop changed")


def _open(path: Path, keys: dict[str, Any], device: Device) -> _Opened:
    """The structure, the manifest, the signature, and whom it is for — before any decryption."""
    zf = _open_zip(path)
    try:
        infos = zf.infolist()
        if not _check_members([i.filename for i in infos]):
            raise _refuse("这不是回传包（未加密的 v1 同步包）", "not a return bundle (format 1)")
        _check_caps(infos)
        by_name = {i.filename: i for i in infos}
        raw, signature = _read_manifest(zf, by_name)
        manifest = _manifest(raw)
        _check_signature(raw, signature, keys)
        _check_for_me(manifest, keys, device)
        info = by_name["versions.sealed"]
        if info.file_size != manifest.members["versions.sealed"].bytes:
            raise _refuse(
                "versions.sealed 大小与清单不符", "versions.sealed differs from the manifest"
            )
        return _Opened(manifest, zf, info, file_sha256(path))
    except BaseException:
        zf.close()
        raise


def _manifest(raw: bytes) -> ReturnManifest:
    data = load_json(raw, "manifest.json ", "manifest.json")
    if not isinstance(data, dict):
        raise _refuse("manifest.json 不是 JSON 对象", "manifest.json is not a JSON object")
    if data.get("direction") != "return":
        raise _refuse(
            "这不是区里的回传包（是设备导出的同步包，应交给区级合并）",
            "not a return bundle (a laptop's bundle goes to the district's merge)",
        )
    try:
        manifest = ReturnManifest.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])[:80]
        raise _refuse(
            f"回传包清单字段 {where} 不符合要求：{first['msg'][:120]}",
            f"return manifest field {where}: {first['msg'][:120]}",
        ) from None
    if set(manifest.members) != {"versions.sealed"}:
        raise _refuse(
            "回传包清单的 members 须只列 versions.sealed", "members must list versions.sealed"
        )
    return manifest


def _check_signature(raw: bytes, signature: bytes | None, keys: dict[str, Any]) -> None:
    sign_public = keys.get("district_sign_public")
    if not sign_public:
        raise _refuse(
            "本机安装的区级公钥文件是旧版，没有签名公钥：请向区里索取新的区级公钥文件，"
            "运行 fieldapp device-key install 安装后再导入",
            "the installed district public key file is an old one without the signing key: install the"
            " new file (fieldapp device-key install FILE), then import again",
        )
    try:
        sig = crypto.unb64(signature.decode("ascii").strip()) if signature else b""
    except (ValueError, UnicodeDecodeError):
        sig = b""
    if not sig or not crypto.verify(sign_public, raw, sig):
        raise _refuse(
            "回传包的签名与本机安装的区级签名公钥不符（别的区签发，或被改动）",
            "the signature does not match the installed district signing key (another district's"
            " bundle, or altered)",
        )


def _check_for_me(m: ReturnManifest, keys: dict[str, Any], device: Device) -> None:
    """The bundle's district, community and readers are this laptop's."""
    known = keys.get("district_device_id")
    if known and known != m.district_id:
        raise _refuse(
            f"回传包来自另一个区级数据库（{m.district_id[:8]}，本机认的是 {str(known)[:8]}）",
            f"the return bundle comes from another district database ({m.district_id[:8]}, this"
            f" laptop knows {str(known)[:8]})",
        )
    if m.community_code != device.community_code:
        raise _refuse(
            f"这是社区 {m.community_code} 的回传包，本机属于社区 {device.community_code}",
            f"this return bundle is for community {m.community_code}; this laptop serves"
            f" {device.community_code}",
        )
    if device.device_id not in m.encryption.sealed_keys:
        raise _refuse(
            f"回传包不是加密给本机（{device.device_id[:8]}）的：请区里登记本机后重新生成回传包",
            f"the return bundle is not sealed to this laptop ({device.device_id[:8]}): the district"
            " enrols it, then writes the return bundle again",
        )


def _sealed_chunks(o: _Opened) -> Iterator[bytes]:
    """The sealed member's bytes, checked against the signed manifest's digest at the end."""
    want = o.manifest.members["versions.sealed"]
    digest, n = hashlib.sha256(), 0
    try:
        with o.zf.open(o.info) as member:
            while data := member.read(CHUNK):
                n += len(data)
                if n > want.bytes:
                    break
                digest.update(data)
                yield data
    except _DAMAGED:
        raise _refuse("versions.sealed 已损坏，无法解压", "versions.sealed is damaged") from None
    if n != want.bytes or digest.hexdigest() != want.sha256:
        raise _refuse(
            "versions.sealed 与签名清单不符（被改动）",
            "versions.sealed differs from the signed manifest",
        )


def _lines(o: _Opened, keys: dict[str, Any]) -> Iterator[Line]:
    for _ in _sealed_chunks(o):  # the whole digest first, before decrypting anything
        pass
    m = o.manifest
    private = crypto.device_box_private(keys["sign_private"])
    try:
        plain = crypto.open_stream(
            m.encryption.sealed_keys[keys["device_id"]],
            private,
            _sealed_chunks(o),
            min(m.plain.bytes, MAX_VERSIONS_BYTES),
        )
        yield from _parse_lines(plain, m.plain, "versions.ndjson", {})
    except crypto.KeyError_ as e:
        raise _refuse(e.zh, e.en) from None


def _version(
    line: Line, context: models.ValidationContext
) -> tuple[models.Version, models.Record, str | None]:
    """A line: a valid version (the rules the district merged it by), and its clock flag."""
    data = dict(line.data)
    flag = data.pop(FLAG_KEY, None)
    if flag not in (None, FLAG_SUSPECT, FLAG_ACCEPTED):
        raise _refuse(f"第{line.no}行的时钟标记无效", f"line {line.no}: invalid clock flag")
    also = data.get("also_parents")
    if isinstance(also, list) and len(also) > MAX_ALSO_PARENTS:
        raise _refuse(
            f"第{line.no}行的 also_parents 过多", f"line {line.no}: too many also_parents"
        )
    try:
        version, record = models.validate_version(data, context=context)
    except models.RecordInvalid as e:
        p = e.problems[0]
        rid = clean(data.get("record_id", "?"), 64)
        raise _refuse(
            f"第{line.no}行（记录 {rid}）不合格：{p.text('zh')}",
            f"line {line.no} (record {rid}) is invalid: {p.text('en')}",
        ) from None
    return version, record, flag


@dataclass
class _Apply:
    """One import's transaction: what it has inserted and counted so far."""

    conn: sqlite3.Connection
    bundle_id: str
    created_at: str  # the bundle's signed time: when a clock flag was accepted
    result: ImportResult
    counts: dict[str, int] = field(default_factory=dict)
    top_hlc: str = hlc.ZERO

    def chunk(self, items: list[tuple[int, models.Version, models.Record, str | None]]) -> None:
        conn = self.conn
        known = {
            r[0]: (r[1], r[2], r[3])
            for r in in_slices(
                conn,
                "SELECT version_id, content_hash, kind, record_id FROM versions WHERE version_id IN ({})",
                [v.version_id for _, v, _, _ in items],
            )
        }
        fresh = []
        # a record this laptop saved itself has a current row the store wrote, not the settle
        # engine (a district version concurrent with a local edit beats it): settled again
        touched: dict[str, str] = {
            r[0]: r[1]
            for r in in_slices(
                conn,
                "SELECT DISTINCT record_id, kind FROM versions WHERE origin = 'local' AND record_id IN ({})",
                list({v.record_id for _, v, _, _ in items}),
            )
        }
        for no, v, rec, flag in items:
            seen = known.get(v.version_id)
            if seen is not None and seen != (v.content_hash, v.kind, v.record_id):
                raise _refuse(
                    f"第{no}行：版本 {v.version_id} 本机已有但内容不同（疑似被篡改）",
                    f"line {no}: version {v.version_id} exists here with different content (tampered?)",
                )
            if flag is not None:
                self._flag(v, flag)
                touched[v.record_id] = v.kind
            if seen is None:
                known[v.version_id] = (v.content_hash, v.kind, v.record_id)
                fresh.append((v, rec))
                touched[v.record_id] = v.kind
                self.top_hlc = max(self.top_hlc, v.hlc)
        insert_versions(conn, [v for v, _ in fresh], self.bundle_id)
        self.result.versions_new += len(fresh)
        settle_batch(
            conn,
            touched,
            {v.version_id: rec for v, rec in fresh},
            self.result.kinds,
            now_iso(),
        )

    def _flag(self, v: models.Version, flag: str) -> None:
        """The district's flag, merged as a set; an acceptance is never taken back."""
        accepted = self.created_at if flag == FLAG_ACCEPTED else None
        self.conn.execute(
            "INSERT INTO clock_flags (version_id, device_id, hlc, bundle_id, merged_at, accepted_at,"
            " accepted_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version_id) DO UPDATE SET"
            " accepted_at = coalesce(clock_flags.accepted_at, excluded.accepted_at),"
            " accepted_by = coalesce(clock_flags.accepted_by, excluded.accepted_by)",
            (
                v.version_id,
                v.device_id,
                v.hlc,
                self.bundle_id,
                self.created_at,
                accepted,
                "district" if accepted else None,
            ),
        )


def _enrolments(conn: sqlite3.Connection, m: ReturnManifest) -> None:
    """The community's laptops as the district enrolled them (their keys verify office bundles,
    their communities place schema 1 versions); a revocation is never taken back."""
    for x in m.devices:
        conn.execute(
            "INSERT INTO enrolled_devices (device_id, public_key, fingerprint, label, enrolled_at,"
            " enrolled_by, revoked_at, revoked_by, communities) VALUES (?, ?, ?, ?, ?, 'district', ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET label = coalesce(excluded.label,"
            " enrolled_devices.label), revoked_at = coalesce(enrolled_devices.revoked_at,"
            " excluded.revoked_at), revoked_by = coalesce(enrolled_devices.revoked_by, excluded.revoked_by)",
            (
                x.device_id,
                x.public_key,
                crypto.fingerprint(crypto.unb64(x.public_key)),
                x.label,
                m.created_at,
                m.created_at if x.revoked else None,
                "district" if x.revoked else None,
                json.dumps(x.communities),
            ),
        )


def _apply_refdata(conn: sqlite3.Connection, ref: RefData) -> bool:
    """The district's reference data when newer than this laptop's (by its stamp); returns whether
    it was applied."""
    row = conn.execute("SELECT value FROM db_state WHERE key = 'refdata_stamp'").fetchone()
    stamp, digest = str(row[0]).split("|", 1) if row and "|" in str(row[0]) else ("", "")
    if digest == ref.sha256 or ref.stamp <= stamp:
        return False
    tables = {
        "streets": "ref_street",
        "communities": "ref_community",
        "rules": "ref_rule",
        "targets": "ref_target",
    }
    for table in ("ref_community", "ref_street", "ref_rule", "ref_target"):
        conn.execute(f"DELETE FROM {table}")
    for name in ("streets", "communities", "rules", "targets"):
        rows: list[dict[str, Any]] = getattr(ref, name)
        known = {c[1] for c in conn.execute(f"PRAGMA table_info({tables[name]})")}
        for r in rows:
            cols = list(r)
            if not set(cols) <= known:
                raise _refuse("参考数据的列名无效", "reference data has an invalid column name")
            conn.execute(
                f"INSERT INTO {tables[name]} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [r[c] for c in cols],
            )
    conn.execute(
        "INSERT INTO db_state (key, value) VALUES ('refdata_stamp', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (f"{ref.stamp}|{ref.sha256}",),
    )
    return True


def import_return(store: Store, path: Path) -> ImportResult:
    """Apply one return bundle on this laptop: all of it, or nothing and the reason."""
    result = ImportResult(path, "refused")
    try:
        _import(store, path, result)
    except BundleError as e:
        result.reason = str(e)
    except sqlite3.IntegrityError as e:  # the reference data broke a rule of the schema
        result.reason = str(
            _refuse(
                f"数据不符合数据库规则：{clean(e, 120)}", f"breaks a database rule: {clean(e, 120)}"
            )
        )
    except Exception as e:  # the last net: a file never ends in a traceback (BRIEF)
        result.reason = str(
            _refuse(
                f"无法处理此文件（{type(e).__name__}）：{clean(e, 120)}",
                f"this file cannot be processed ({type(e).__name__}): {clean(e, 120)}",
            )
        )
    if not result.ok:
        result.kinds, result.versions_new, result.refdata_applied = {}, 0, False
    return result


def _applied(conn: sqlite3.Connection, bundle_id: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM applied_returns WHERE bundle_id = ?", (bundle_id,)).fetchone()
        is not None
    )


def _import(store: Store, path: Path, result: ImportResult) -> None:
    dev = store.device()
    if dev is None or dev.role != "device":
        raise _refuse(
            "本机尚未设置为设备（fieldapp init）", "not a laptop's database (fieldapp init)"
        )
    keys = store.keys() | {"device_id": dev.device_id}
    opened = _open(path, keys, dev)
    m = opened.manifest
    result.bundle_id, result.seq = m.bundle_id, m.seq
    try:
        if _applied(store.conn, m.bundle_id):
            result.status = "already"
            return
        context = models.ValidationContext(
            today=datetime.fromisoformat(m.created_at).date() + timedelta(days=1)
        )
        with store.transaction():
            conn = store.conn
            if _applied(conn, m.bundle_id):
                result.status = "already"
                return
            conn.execute("UPDATE device_keys SET district_device_id = ?", (m.district_id,))
            _enrolments(conn, m)
            result.refdata_applied = _apply_refdata(conn, m.refdata)
            store._community_codes = None
            job = _Apply(conn, m.bundle_id, m.created_at, result)
            _load(job, opened, keys, context)
            _record(conn, m, opened.file_sha256, result, dev.device_id)
            clock = hlc.Clock(dev.hlc_last)
            if clock.observe(job.top_hlc):
                conn.execute("UPDATE device SET hlc_last = ?", (clock.last,))
        result.status = "applied"
    finally:
        opened.zf.close()


def _load(
    job: _Apply, opened: _Opened, keys: dict[str, Any], context: models.ValidationContext
) -> None:
    """Every line checked against the signed manifest (counts, hlc range) and applied in chunks."""
    m = opened.manifest
    items: list[tuple[int, models.Version, models.Record, str | None]] = []
    for line in _lines(opened, keys):
        v, rec, flag = _version(line, context)
        if m.hlc_from and m.hlc_to and not (m.hlc_from <= v.hlc <= m.hlc_to):
            raise _refuse(
                f"第{line.no}行的 hlc 超出清单范围",
                f"line {line.no}: hlc outside the manifest's range",
            )
        job.counts[v.kind] = job.counts.get(v.kind, 0) + 1
        items.append((line.no, v, rec, flag))
        if len(items) >= CHUNK_LINES:
            job.chunk(items)
            items = []
    if items:
        job.chunk(items)
    if job.counts != {k: n for k, n in m.counts.items() if n}:
        raise _refuse("各类记录数与清单不符", "the counts differ from the manifest's")
    job.result.versions = sum(job.counts.values())


def _record(
    conn: sqlite3.Connection, m: ReturnManifest, sha: str, result: ImportResult, me: str
) -> None:
    conn.execute(
        "INSERT INTO applied_returns (bundle_id, community_code, seq, created_at, file_sha256,"
        " applied_at, versions_new, acks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.bundle_id,
            m.community_code,
            m.seq,
            m.created_at,
            sha,
            now_iso(),
            result.versions_new,
            json.dumps(m.acks.get(me, [])),
        ),
    )


def import_files(store: Store, paths: list[Path]) -> list[ImportResult]:
    """Each file its own transaction; one refusal does not stop the others."""
    return [import_return(store, p) for p in paths]


def district_has(store: Store) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(this laptop's bundles the district has merged, the exported ones it lacks), as seq ranges:
    the union of every applied return bundle's acks (acks only grow, so the union is order-free)
    against the seqs this laptop exported. Ranges are joined, never enumerated."""
    spans: list[tuple[int, int]] = []
    for (acks,) in store.conn.execute("SELECT acks FROM applied_returns"):
        spans.extend((int(a), int(b)) for a, b in json.loads(acks))
    have: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if have and a <= have[-1][1] + 1:
            have[-1] = (have[-1][0], max(have[-1][1], b))
        else:
            have.append((a, b))
    exported = [int(r[0]) for r in store.conn.execute("SELECT seq FROM exports ORDER BY seq")]
    lacking = [s for s in exported if not any(a <= s <= b for a, b in have)]
    return have, _ranges(lacking)


def _ranges(seqs: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in seqs:
        if out and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out
