"""Who may write what (SPEC §4a) and the supervisor's acceptances, as the merge checks them.

A device's bundle carries only versions of the communities its enrolment names; a revoked device's
bundle is accepted only when the supervisor accepted that exact file; two different bundles with
one device and seq mean a cloned database. Each rule refuses the whole bundle with a message naming
what broke it, so a stolen or copied laptop cannot write outside its community unnoticed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.kinds import now_iso
from fieldapp.sqlite import sqlite3
from fieldapp.sync.bundle_check import revoked
from fieldapp.sync.bundle_format import BundleError, Manifest, file_sha256

if TYPE_CHECKING:
    from fieldapp.sync.apply import VersionRow


@dataclass(frozen=True)
class Enrolment:
    """A device as the district enrolled it: its communities and whether the supervisor confirmed them."""

    device_id: str
    communities: tuple[str, ...]
    confirmed: bool
    revoked_at: str | None


def communities_of(text: str) -> tuple[str, ...]:
    """The enrolment's JSON list of community codes (anything else reads as none)."""
    try:
        codes = json.loads(text)
    except ValueError:
        return ()
    return tuple(str(c) for c in codes) if isinstance(codes, list) else ()


def enrolment(conn: sqlite3.Connection, device_id: str) -> Enrolment | None:
    row = conn.execute(
        "SELECT communities, community_confirmed, revoked_at FROM enrolled_devices WHERE device_id = ?",
        (device_id,),
    ).fetchone()
    if row is None:
        return None
    return Enrolment(device_id, communities_of(row[0]), bool(row[1]), row[2])


def accepted_file(conn: sqlite3.Connection, path: Path, device_id: str) -> bool:
    """The supervisor accepted this exact file (by sha256) from this device after its revocation."""
    row = conn.execute(
        "SELECT 1 FROM accepted_bundles WHERE file_sha256 = ? AND device_id = ?",
        (file_sha256(path), device_id),
    ).fetchone()
    return row is not None


def check_bundle(
    conn: sqlite3.Connection, m: Manifest, path: Path, *, record_clone: bool = True
) -> Enrolment | None:
    """The bundle's device may write its manifest's community, is confirmed, is not revoked (or
    this file was accepted), and no other bundle holds its seq. Returns the enrolment (None for a
    device the district never enrolled: only a format 1 bundle gets this far without one)."""
    e = enrolment(conn, m.device_id)
    if e is None:
        return None
    who = f"{m.device_id[:8]}（{m.device_label}）"
    if e.revoked_at and not accepted_file(conn, path, m.device_id):
        raise revoked(m.device_id, e.revoked_at)
    if not e.confirmed or not e.communities:
        raise BundleError(
            f"设备 {who} 的登记社区尚未确认：请主管核对后运行 fieldapp district confirm {m.device_id} --community 社区代码（或 fieldapp district enroll --community 社区代码）",
            f"the community of device {m.device_id[:8]} is not confirmed: the supervisor runs `fieldapp district confirm {m.device_id} --community CODE` (or `fieldapp district enroll --community CODE`)",
        )
    if m.community_code not in e.communities:
        raise BundleError(
            f"同步包清单的社区 {m.community_code} 不是设备 {who} 登记的社区 {'、'.join(e.communities)}：整个同步包未合并",
            f"the manifest's community {m.community_code} is not one of device {m.device_id[:8]}'s enrolled communities {', '.join(e.communities)}: the bundle was not merged",
        )
    _check_clone(conn, m, path, record_clone)
    return e


def _check_clone(conn: sqlite3.Connection, m: Manifest, path: Path, record: bool) -> None:
    """Another bundle with this device and seq was merged: a cloned database. Flag both files for
    review (bundle_clones) and refuse this one; nothing of it is merged."""
    other = conn.execute(
        "SELECT bundle_id, file_name FROM bundles WHERE device_id = ? AND seq = ? AND bundle_id != ?",
        (m.device_id, m.seq, m.bundle_id),
    ).fetchone()
    if other is None:
        return
    if record:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT OR IGNORE INTO bundle_clones (device_id, seq, bundle_a, bundle_b, file_a, file_b, found_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (m.device_id, m.seq, other[0], m.bundle_id, other[1], path.name, now_iso()),
        )
        conn.execute("COMMIT")
    raise BundleError(
        f"设备 {m.device_id[:8]} 的第 {m.seq} 个同步包已合并过另一个文件 {other[1]}，本文件 {path.name} 与之不同："
        "疑似数据库被复制，已记入待审核，本包未合并",
        f"device {m.device_id[:8]} seq {m.seq} was already merged from another file {other[1]}; {path.name} differs:"
        " a cloned database? Flagged for review; this bundle was not merged",
    )


def check_version(e: Enrolment | None, no: int, v: VersionRow, code: str | None) -> None:
    """A version's community (payload schema 2: its payload's community_code; schema 1: the
    enrolment's) must be one of the device's enrolled communities."""
    if e is None or v.payload_schema < 2:
        return
    if code is not None and code not in e.communities:
        raise BundleError(
            f"第{no}行：记录 {v.record_id} 属于社区 {code}，不是设备 {v.device_id[:8]} 登记的社区 {'、'.join(e.communities)}：整个同步包未合并",
            f"line {no}: record {v.record_id} is in community {code}, not one of device {v.device_id[:8]}'s enrolled communities {', '.join(e.communities)}: the bundle was not merged",
        )


# ------------------------------------------------------------------ the supervisor's acceptances


def accept_bundle(conn: sqlite3.Connection, path: Path, *, by: str, comment: str | None) -> str:
    """Record that this exact file (sha256) of a revoked device is accepted (made before the
    theft); returns the device id. The caller holds the transaction."""
    from fieldapp.sync.bundle_read import open_bundle

    with open_bundle(path, allow_v1=True) as reader:
        device_id = reader.manifest.device_id
    if enrolment(conn, device_id) is None:
        raise BundleError(
            f"设备 {device_id[:8]} 未登记，不能接受它的同步包",
            f"device {device_id[:8]} is not enrolled: its bundle cannot be accepted",
        )
    conn.execute(
        "INSERT OR REPLACE INTO accepted_bundles (file_sha256, device_id, accepted_by, accepted_at, comment)"
        " VALUES (?, ?, ?, ?, ?)",
        (file_sha256(path), device_id, by, now_iso(), comment),
    )
    return device_id


def accept_clocks(
    conn: sqlite3.Connection,
    *,
    version_id: str | None = None,
    bundle_id: str | None = None,
    by: str,
) -> int:
    """Accept the clock of one flagged version, or of every flagged version of one bundle, and
    settle their records again (an accepted clock competes like any other). The caller holds the
    transaction. Returns how many flags were accepted."""
    from fieldapp.sync.settle import settle_records

    column, value = ("version_id", version_id) if version_id else ("bundle_id", bundle_id)
    rows = conn.execute(
        f"SELECT f.version_id, v.record_id, v.kind FROM clock_flags f JOIN versions v USING (version_id)"
        f" WHERE f.{column} = ? AND f.accepted_at IS NULL",
        (value,),
    ).fetchall()
    conn.executemany(
        "UPDATE clock_flags SET accepted_at = ?, accepted_by = ? WHERE version_id = ?",
        [(now_iso(), by, r[0]) for r in rows],
    )
    settle_records(conn, {r[1]: r[2] for r in rows})
    return len(rows)
