"""The district's enrolled devices as a supervisor tells them apart: community, worker, the distinct
part of the id, the last bundle received; and a device's identity read from a key file or a bundle.

Device ids are UUIDv7: their first 12 hex digits are the creation time, so laptops set up within
minutes of each other (a training day) share their first 8 characters. What tells them apart is
the random tail, which is what `short_device_id` shows (issue 16, point 9).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fieldapp.sqlite import sqlite3

if TYPE_CHECKING:
    from fieldapp.store import Store

SHORT = 8  # hex digits of the random tail shown by default
MIN_DISTINCT = 4


class DeviceError(ValueError):
    """A key file or a bundle that does not say which device it is, and why (zh, then en)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


def short_device_id(device_id: str) -> str:
    """The last 8 hex digits of the id: the random tail of a UUIDv7, not its time-ordered head."""
    return device_id.replace("-", "").lower()[-SHORT:]


def distinct_ids(device_ids: Iterable[str]) -> dict[str, str]:
    """Each id → the shortest tail (at least 4 hex digits) no other id of the set ends with."""
    tails = {d: d.replace("-", "").lower() for d in set(device_ids)}
    out: dict[str, str] = {}
    for d, hexes in tails.items():
        n = MIN_DISTINCT
        while n < len(hexes) and any(
            o != d and other.endswith(hexes[-n:]) for o, other in tails.items()
        ):
            n += 1
        out[d] = hexes[-n:]
    return out


@dataclass
class LastBundle:
    file_name: str
    period: str
    seq: int
    merged_at: str
    app_version: str = ""


@dataclass
class DeviceRow:
    """One enrolled device as the devices screen and `district devices` show it."""

    device_id: str
    distinct: str
    label: str
    worker: str
    fingerprint: str
    communities: list[str]
    community_names: list[str]
    enrolled_at: str
    revoked_at: str | None
    last: LastBundle | None = None
    bundles: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """ "东风社区 · 周红 · 3fa1c2d9": community, worker (else label), distinct part of the id."""
        names = "、".join(self.community_names) or "—"
        return f"{names} · {self.worker or self.label or '—'} · {self.distinct}"

    @property
    def last_text(self) -> str:
        if self.last is None:
            return "—"
        return f"{self.last.period} 第{self.last.seq}个（{self.last.file_name}）"


def _codes(text: str | None) -> list[str]:
    try:
        codes = json.loads(text or "[]")
    except ValueError:
        return []
    return [c for c in codes if isinstance(c, str)] if isinstance(codes, list) else []


def _last_bundles(conn: sqlite3.Connection) -> dict[str, tuple[LastBundle, int, str, set[str]]]:
    """Per device: its last bundle (highest seq), how many were merged, its worker, its communities."""
    out: dict[str, tuple[LastBundle, int, str, set[str]]] = {}
    for r in conn.execute(
        "SELECT device_id, file_name, period, seq, merged_at, coalesce(app_version, ''), worker,"
        " community_code FROM bundles ORDER BY device_id, seq"
    ):
        _, count, _, comms = out.get(r[0], (None, 0, "", set()))
        comms.add(r[7])
        out[r[0]] = (LastBundle(r[1], r[2], int(r[3]), r[4], r[5]), count + 1, r[6] or "", comms)
    return out


def device_rows(conn: sqlite3.Connection) -> list[DeviceRow]:
    """Every enrolled device with its communities (enrolment and bundles) and last bundle."""
    names = {r[0]: r[1] for r in conn.execute("SELECT code, name_zh FROM ref_community")}
    rows = conn.execute(
        "SELECT device_id, label, fingerprint, enrolled_at, revoked_at,"
        " communities FROM enrolled_devices ORDER BY enrolled_at, device_id"
    ).fetchall()
    last = _last_bundles(conn)
    distinct = distinct_ids([r[0] for r in rows])
    out = []
    for r in rows:
        lb, count, worker, bundle_comms = last.get(r[0], (None, 0, "", set()))
        codes = sorted(set(_codes(r[5])) | bundle_comms)
        out.append(
            DeviceRow(
                device_id=r[0],
                distinct=distinct[r[0]],
                label=r[1] or "",
                worker=worker,
                fingerprint=r[2],
                communities=codes,
                community_names=[names.get(c, c) for c in codes],
                enrolled_at=r[3],
                revoked_at=r[4],
                last=lb,
                bundles=count,
            )
        )
    return out


def revoke_question(row: DeviceRow) -> str:
    """What the supervisor confirms before a revocation: which device, whose, its last bundle."""
    return (
        f"撤销设备 {row.distinct}（{row.label or '—'}）？\n"
        f"社区：{'、'.join(row.community_names) or '—'}  工作人员：{row.worker or '—'}\n"
        f"最后一个同步包：{row.last_text}\n"
        "撤销后该设备的同步包一律拒收；已合并的数据保留。"
    )


@dataclass(frozen=True)
class Identity:
    """Who a key file or a bundle says it is, with the fingerprint the supervisor compares."""

    device_id: str
    label: str
    public_key: str
    fingerprint: str
    community_code: str = ""
    worker: str = ""


def read_identity(source: Path) -> Identity:
    """A device's identity from its public key file, or from a bundle it signed (format 2)."""
    from fieldapp import crypto
    from fieldapp.sync.bundle import BundleError, open_bundle

    try:
        if source.suffix == ".fieldbundle":
            with open_bundle(source, allow_v1=False) as reader:
                m = reader.manifest
                if m.device_public_key is None or not reader.signed_by(m.device_public_key):
                    raise DeviceError(
                        "同步包的签名与其中的设备公钥不符",
                        "the bundle's signature does not match its key",
                    )
                public = str(m.device_public_key)
                fp = crypto.fingerprint(crypto.unb64(public))
                return Identity(m.device_id, m.device_label, public, fp, m.community_code, m.worker)
        data = crypto.read_device_public(source)
        public = str(data["public"])
        fp = crypto.fingerprint(crypto.unb64(public))
        return Identity(str(data["device_id"]), str(data.get("label") or ""), public, fp)
    except DeviceError:
        raise
    except (BundleError, crypto.KeyError_) as e:
        raise DeviceError(e.zh, e.en) from None
    except (OSError, ValueError, KeyError) as e:
        raise DeviceError(
            f"无法读取 {source.name}：{e}", f"cannot read {source.name}: {e}"
        ) from None


def enrol(store: Store, ident: Identity, *, by: str) -> str:
    """Enrol the device with the community its key file or bundle names (SPEC §4a); without one
    its bundles wait for the supervisor's confirmation. Returns the fingerprint."""
    communities = [ident.community_code] if ident.community_code else []
    return str(
        store.enroll(
            ident.device_id,
            ident.public_key,
            label=ident.label or None,
            by=by,
            communities=communities,
        )
    )


def accept_bundle(conn: sqlite3.Connection, path: Path, *, by: str, comment: str = "") -> Identity:
    """Let one bundle of a revoked device be merged (one made before the theft, chosen by the
    supervisor by file): recorded by the file's digest in `accepted_bundles`, which the merge
    reads. Refused unless the signer is the revoked device's
    enrolled key."""

    ident = read_identity(path)
    row = conn.execute(
        "SELECT public_key, revoked_at FROM enrolled_devices WHERE device_id = ?",
        (ident.device_id,),
    ).fetchone()
    if row is None or not row[1]:
        raise DeviceError(
            f"设备 {short_device_id(ident.device_id)} 未被撤销，不需要接受",
            f"device {short_device_id(ident.device_id)} is not revoked: nothing to accept",
        )
    if row[0] != ident.public_key:
        raise DeviceError(
            "同步包的签名密钥不是该设备登记的密钥", "the bundle is not signed by the enrolled key"
        )
    from fieldapp.sync.authority import accept_bundle as record_acceptance

    with conn:  # the one place that records an acceptance (the CLI's accept-bundle uses it too)
        record_acceptance(conn, path, by=by, comment=comment or None)
    return ident
