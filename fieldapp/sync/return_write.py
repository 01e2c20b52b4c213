"""Writing return bundles at the district (SPEC §5b): each community's versions, sealed to its laptops.

A record belongs to a community's return bundle when any of its versions names that community
(an elder transferred in brings its history, an elder transferred out still sends its transfer
version), or when it is a visit, assessment, retrofit or meal count of such an elder or meal
point; every version of such a record goes. Nothing here changes a record: the district only
notes which return bundles it wrote and the stamp of its reference data.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

from fieldapp import __version__, crypto, ids, models
from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.sync.bundle_format import MAX_MANIFEST_BYTES, BundleError, Manifest, file_sha256
from fieldapp.sync.bundle_write import _atomic_zip, version_line
from fieldapp.sync.return_format import (
    FLAG_ACCEPTED,
    FLAG_KEY,
    FLAG_SUSPECT,
    ReturnManifest,
    return_name,
)
from fieldapp.sync.settle import enrolled_communities, in_slices

# (communities done, communities in all, the one just written or skipped)
ReturnProgress = Callable[[int, int, "ReturnResult"], None]
_PARENT_FIELDS = ("elder_id", "point_id")


@dataclass
class ReturnResult:
    """One community's return bundle, or why none was written (no laptop to seal it to)."""

    community_code: str
    path: Path | None
    bundle_id: str | None = None
    seq: int = 0
    versions: int = 0
    devices: int = 0
    skipped: str | None = None


def record_acks(conn: sqlite3.Connection, m: Manifest) -> None:
    """Inside a merge's transaction: the return bundles a laptop's bundle says it has applied
    (the highest seq per community only ever grows, whatever order bundles are merged in)."""
    for community, seq in (m.returns_applied or {}).items():
        conn.execute(
            "INSERT INTO return_acks (device_id, community_code, seq, bundle_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (device_id, community_code) DO UPDATE SET seq = excluded.seq,"
            " bundle_id = excluded.bundle_id WHERE excluded.seq > return_acks.seq",
            (m.device_id, community, seq, m.bundle_id),
        )


def applied_by(conn: sqlite3.Connection, community: str) -> dict[str, int]:
    """device_id → the highest of the community's return bundles it has applied (as it said)."""
    return dict(
        conn.execute(
            "SELECT device_id, seq FROM return_acks WHERE community_code = ?", (community,)
        ).fetchall()
    )


def _district_id(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT device_id FROM device WHERE role = 'district'").fetchone()
    if row is None:
        raise BundleError(
            "这不是区级数据库（请先运行 fieldapp district init）",
            "not a district database: run `fieldapp district init` first",
        )
    return str(row[0])


def community_records(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """community → the records its return bundle holds, in one pass over the versions: a version's
    community is its payload's (schema 2) or its device's enrolment's (schema 1, SPEC §3 v2); a
    record of an elder or a meal point follows it."""
    enrolled = enrolled_communities(conn)
    of: dict[str, set[str]] = {}
    parents: dict[str, set[str]] = {}
    for rid, schema, device_id, code, elder, point in conn.execute(
        "SELECT record_id, payload_schema, device_id,"
        " CASE WHEN payload_schema >= 2 THEN json_extract(payload, '$.community_code') END,"
        " json_extract(payload, '$.elder_id'), json_extract(payload, '$.point_id') FROM versions"
    ):
        codes = of.setdefault(rid, set())
        if schema >= 2:
            if isinstance(code, str):
                codes.add(code)
        else:
            codes.update(enrolled.get(device_id, [])[:1])
        for parent in (elder, point):
            if isinstance(parent, str):
                parents.setdefault(rid, set()).add(parent)
    by_community: dict[str, set[str]] = {}
    for rid, codes in of.items():
        for parent in parents.get(rid, ()):
            codes = codes | of.get(parent, set())
        for code in codes:
            by_community.setdefault(code, set()).add(rid)
    return by_community


def _devices(conn: sqlite3.Connection, community: str) -> list[dict[str, Any]]:
    """Every laptop enrolled for the community (revoked ones named as such)."""
    out = []
    for device_id, public_key, communities, revoked_at, label in conn.execute(
        "SELECT device_id, public_key, communities, revoked_at, label FROM enrolled_devices"
        " ORDER BY device_id"
    ):
        try:
            codes = [str(c) for c in json.loads(communities)]
        except (ValueError, TypeError):
            codes = []
        if community in codes:
            out.append(
                {
                    "device_id": device_id,
                    "public_key": public_key,
                    "communities": codes,
                    "revoked": revoked_at is not None,
                    "label": label[:200] if label else None,
                }
            )
    return out


def _acks(conn: sqlite3.Connection, device_ids: list[str]) -> dict[str, list[tuple[int, int]]]:
    """device → the seqs of its bundles merged here, as [first, last] ranges (gaps and islands)."""
    out: dict[str, list[tuple[int, int]]] = {d: [] for d in device_ids}
    for device_id, first, last in in_slices(
        conn,
        "SELECT device_id, min(seq), max(seq) FROM ("
        " SELECT device_id, seq, seq - row_number() OVER (PARTITION BY device_id ORDER BY seq) AS grp"
        " FROM (SELECT DISTINCT device_id, seq FROM bundles WHERE device_id IN ({})))"
        " GROUP BY device_id, grp ORDER BY device_id, 2",
        device_ids,
    ):
        out[device_id].append((int(first), int(last)))
    return out


_REF_QUERIES = {
    "streets": "SELECT code, name_zh, name_en, kind, source FROM ref_street ORDER BY code",
    "communities": "SELECT code, street_code, name_zh, name_en, kind, sample, code_confirmed,"
    " pop_60, pop_80, note FROM ref_community ORDER BY code",
    "rules": "SELECT key, value FROM ref_rule ORDER BY key",
    "targets": "SELECT indicator, year, value, comparison, unit, kind, name_zh, name_en, source"
    " FROM ref_target ORDER BY indicator, year",
}


def refdata(conn: sqlite3.Connection) -> dict[str, Any]:
    """The reference data with its stamp: the time the district first sent this content (kept in
    db_state, so an unchanged list keeps its stamp and a changed one gets a newer one)."""
    data: dict[str, Any] = {
        name: [dict(zip([d[0] for d in cur.description], row, strict=True)) for row in cur]
        for name, cur in ((n, conn.execute(q)) for n, q in _REF_QUERIES.items())
    }
    digest = hashlib.sha256(
        json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()
    row = conn.execute("SELECT value FROM db_state WHERE key = 'refdata_stamp'").fetchone()
    stamp, known = row[0].split("|", 1) if row and "|" in str(row[0]) else ("", "")
    if known != digest:
        stamp = now_iso()
        conn.execute(
            "INSERT INTO db_state (key, value) VALUES ('refdata_stamp', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (f"{stamp}|{digest}",),
        )
    return {"stamp": stamp, "sha256": digest, **data}


def _lines(conn: sqlite3.Connection, records: set[str], stats: dict[str, Any]) -> Iterator[bytes]:
    """The community's versions as version lines (the district's clock flag added to a flagged
    one), in arrival order; counts, hlc range and digest gathered on the way."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS return_ids (record_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM return_ids")
    conn.executemany("INSERT INTO return_ids VALUES (?)", [(r,) for r in sorted(records)])
    counts: dict[str, int] = stats["counts"]
    digest = stats["digest"]
    cur = conn.execute(
        "SELECT v.version_id, v.kind, v.record_id, v.parent_version_id, v.also_parents, v.hlc,"
        " v.device_id, v.deleted, v.content_hash, v.payload, v.payload_schema,"
        " f.version_id IS NOT NULL AS flagged, f.accepted_at IS NOT NULL AS accepted"
        " FROM versions v JOIN return_ids r ON r.record_id = v.record_id"
        " LEFT JOIN clock_flags f ON f.version_id = v.version_id ORDER BY v.seq"
    )
    for row in cur:
        line = version_line(row)
        if row["flagged"]:
            flag = FLAG_ACCEPTED if row["accepted"] else FLAG_SUSPECT
            line = f'{line[:-2]},"{FLAG_KEY}":"{flag}"}}\n'
        data = line.encode("utf-8")
        digest.update(data)
        stats["bytes"] += len(data)
        stats["lines"] += 1
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
        hlc = row["hlc"]
        stats["from"] = hlc if stats["from"] is None or hlc < stats["from"] else stats["from"]
        stats["to"] = hlc if stats["to"] is None or hlc > stats["to"] else stats["to"]
        yield data


@dataclass(frozen=True)
class District:
    """Who writes: the district database, its signing key and code."""

    conn: sqlite3.Connection
    sign_key: SigningKey
    district_code: str


def write_return(
    d: District, out_dir: Path, community: str, records: set[str] | None = None
) -> ReturnResult:
    """One community's return bundle in `out_dir` (atomic: a crash leaves no half file), noted in
    return_bundles. No enrolled, unrevoked laptop: nothing is written, and the result says why."""
    conn = d.conn
    district_id = _district_id(conn)
    devices = _devices(conn, community)
    readers = [x for x in devices if not x["revoked"]]
    if not readers:
        return ReturnResult(
            community, None, skipped="没有已登记且未撤销的设备 (no enrolled, unrevoked laptop)"
        )
    if records is None:
        records = community_records(conn).get(community, set())
    (last,) = conn.execute(
        "SELECT coalesce(max(seq), 0) FROM return_bundles WHERE community_code = ?", (community,)
    ).fetchone()
    seq, bundle_id, created_at = int(last) + 1, ids.uuid7(), now_iso()
    stats: dict[str, Any] = {
        "counts": {},
        "digest": hashlib.sha256(),
        "bytes": 0,
        "lines": 0,
        "from": None,
        "to": None,
    }
    publics = [crypto.device_box_public(x["public_key"]) for x in readers]
    sealed_keys, cipher = crypto.seal_stream_to(_lines(conn, records, stats), publics)
    fields = {
        "bundle_id": bundle_id,
        "district_id": district_id,
        "district_code": d.district_code,
        "community_code": community,
        "created_at": created_at,
        "seq": seq,
        "devices": devices,
        "acks": _acks(conn, [x["device_id"] for x in devices]),
        "refdata": refdata(conn),
        "encryption": {
            "scheme": crypto.SCHEME,
            "sealed_keys": {x["device_id"]: k for x, k in zip(readers, sealed_keys, strict=True)},
        },
    }
    written: list[ReturnManifest] = []

    def fill(zf: zipfile.ZipFile) -> None:
        sealed, n_sealed = hashlib.sha256(), 0
        with zf.open("versions.sealed", "w", force_zip64=True) as member:
            for chunk in cipher:
                member.write(chunk)
                sealed.update(chunk)
                n_sealed += len(chunk)
        manifest = _manifest(fields, stats, sealed.hexdigest(), n_sealed)
        body = json.dumps(manifest.model_dump(), ensure_ascii=False, indent=2).encode("utf-8")
        if len(body) > MAX_MANIFEST_BYTES:
            raise BundleError(
                "回传包清单超过 1 MiB 上限（设备或参考数据过多）",
                "the return manifest is over its 1 MiB cap (too many devices or reference rows)",
            )
        zf.writestr("manifest.json", body)
        zf.writestr("manifest.sig", crypto.b64(d.sign_key.sign(body).signature))
        written.append(manifest)

    day = datetime.fromisoformat(created_at).strftime("%Y%m%d")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = _atomic_zip(out_dir, return_name(community, day, seq), zipfile.ZIP_STORED, fill)
    try:
        with _transaction(conn):
            conn.execute(
                "INSERT INTO return_bundles (bundle_id, community_code, seq, created_at, file_name,"
                " file_sha256, versions, devices) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bundle_id,
                    community,
                    seq,
                    created_at,
                    path.name,
                    file_sha256(path),
                    stats["lines"],
                    len(readers),
                ),
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ReturnResult(community, path, bundle_id, seq, stats["lines"], len(readers))


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any failure (the connection is in autocommit)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _manifest(
    fields: dict[str, Any], stats: dict[str, Any], sealed_sha: str, n_sealed: int
) -> ReturnManifest:
    return ReturnManifest.model_validate(
        {
            "format": "fieldapp-bundle",
            "format_version": 2,
            "schema_version": models.SCHEMA_VERSION,
            "direction": "return",
            **fields,
            "hlc_from": stats["from"],
            "hlc_to": stats["to"],
            "counts": dict(sorted(stats["counts"].items())),
            "members": {"versions.sealed": {"sha256": sealed_sha, "bytes": n_sealed}},
            "plain": {
                "sha256": stats["digest"].hexdigest(),
                "bytes": stats["bytes"],
                "lines": stats["lines"],
            },
            "app_version": __version__,
        }
    )


def write_returns(
    d: District,
    out_dir: Path,
    communities: list[str] | None = None,
    progress: ReturnProgress | None = None,
) -> list[ReturnResult]:
    """A return bundle for each named community, or for every community of the reference data;
    the records of each are found in one pass over the district's versions."""
    conn = d.conn
    _district_id(conn)
    if communities is None:
        communities = [r[0] for r in conn.execute("SELECT code FROM ref_community ORDER BY code")]
    else:
        known = {r[0] for r in conn.execute("SELECT code FROM ref_community")}
        unknown = [c for c in communities if c not in known]
        if unknown:
            raise BundleError(
                f"社区代码 {unknown[0][:20]} 不在区级参考数据中",
                f"community code {unknown[0][:20]} is unknown to the district",
            )
    by_community = community_records(conn)
    results = []
    for i, code in enumerate(communities):
        result = write_return(d, out_dir, code, by_community.get(code, set()))
        results.append(result)
        if progress is not None:
            progress(i + 1, len(communities), result)
    return results
