"""A device database whose every free-text field holds Rich markup and a terminal escape, and a
district database that merged it: what the markup-safety walk of every screen runs on."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fieldapp import crypto
from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.sync.export import export

from ..conftest import COMMUNITY, make_id

MARK = "[/b]"
OSC = "\x1b]0;x\x07"
# a closing tag with nothing open (MarkupError in release 1), a title-setting escape, then text
EVIL = f"{MARK}{OSC}红"
PASS = "correct horse battery staple"

# the free-text fields of each kind (catalogue codes, dates, ids and phones are checked on save)
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "elder": (
        "name",
        "address",
        "emergency_contact_name",
        "emergency_contact_relation",
        "notes",
    ),
    "home_visit": ("worker", "notes"),
    "assessment": ("override_reason",),
    "retrofit": ("contractor", "notes"),
    "meal_point": ("name",),
    "meal_count": ("notes",),
    "volunteer": ("name", "platform_no"),
    "volunteer_event": ("title", "location", "organizer"),
}


def _evil(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return data | {f: EVIL for f in TEXT_FIELDS[kind]}


@dataclass
class EvilWorld:
    device_db: Path
    district_db: Path
    ids: dict[str, str]  # kind → the id of its evil record
    usb: Path  # the device's bundle, also under an evil file name
    key_file: Path


DATE_FIELD = {
    "home_visit": "visit_date",
    "assessment": "assess_date",
    "meal_count": "service_date",
    "volunteer_event": "event_date",
}
DROPPED = ("id", "version_id", "merged_into", "moved_to", "status_date", "next_due")


def _copy(s: Store, kind: str, **over: Any) -> str:
    """A new record of `kind` shaped like the demo's first one, its text fields evil, dated today."""
    first = s.page(kind, limit=1)[0]
    data = {k: v for k, v in s.get(kind, first["id"]).record.payload().items() if k not in DROPPED}
    if kind in DATE_FIELD:
        data[DATE_FIELD[kind]] = date.today().isoformat()
    return s.create(kind, _evil(kind, data) | over).record_id


def build_device(path: Path) -> dict[str, str]:
    """A demo device (its worker's name made evil) with one evil record of every kind, dated
    today, so each is the first row of its list."""
    generate_community(path, community_code=COMMUNITY, seed=5, today=date.today(), elders=4)
    ids: dict[str, str] = {}
    with Store.open(path) as s:
        s.conn.execute("UPDATE device SET worker = ?, label = ?", (EVIL, EVIL))
        ids["elder"] = eid = _copy(
            s,
            "elder",
            id_number=make_id(date(1944, 3, 12), male=True, seq=77),
            status="active",
            gender=None,
            birth_date=None,
        )
        ids["home_visit"] = _copy(s, "home_visit", elder_id=eid)
        ids["assessment"] = _copy(s, "assessment", elder_id=eid, assessors=[EVIL, "李评估"])
        ids["retrofit"] = _copy(s, "retrofit", elder_id=eid)
        ids["meal_point"] = _copy(s, "meal_point")
        ids["meal_count"] = _copy(s, "meal_count", point_id=ids["meal_point"])
        ids["volunteer"] = _copy(s, "volunteer", phone=None)
        ids["volunteer_event"] = _copy(s, "volunteer_event", status="planned", participants=[])
    return ids


def build(root: Path) -> EvilWorld:
    """The device above, its bundle merged into a district that enrolled it."""
    from fieldapp.sync.merge import merge_bundle

    root.mkdir(parents=True, exist_ok=True)
    pub, priv, _ = crypto.district_keygen(root / "keys", PASS)
    device_db = root / "device.db"
    ids = build_device(device_db)
    district_db = root / "district.db"
    with Store.open(device_db) as a:
        edited = a.get("elder", ids["elder"]).record.payload() | {"notes": EVIL + "2"}
        a.update("elder", ids["elder"], edited)
        a.install_district_key(*crypto.load_district_public(pub))
        bundle = export(a, root / "usb", mkdir=True)
        dev = a.device()
        sign_public = a.keys()["sign_public"]
    assert dev is not None
    with Store.open(district_db) as d:
        d.setup_district()
        d.conn.execute("UPDATE device SET worker = ?", (EVIL,))
        d.enroll(dev.device_id, sign_public, label=EVIL, by=EVIL, communities=[COMMUNITY])
        result = merge_bundle(
            d.conn, bundle.path, district_key=crypto.load_district_private(priv, PASS)
        )
        assert result.status == "merged", result.reason
        _evil_review(d, ids["elder"])
    shutil.copy(bundle.path, bundle.path.with_name(f"[b]{OSC}" + bundle.path.name))  # no '/'

    return EvilWorld(device_db, district_db, ids, root / "usb", priv)


def _evil_review(d: Store, elder_id: str) -> None:
    """What only the district shows, each holding the evil text: the bundle's file name, a
    conflict on the evil elder (its two versions), a rejected line naming an evil record id and
    reason, a duplicate person with another elder."""
    now = "2026-11-30T09:00:00+08:00"
    q = d.conn.execute
    q("UPDATE bundles SET file_name = ?", (EVIL + ".bundle",))
    va, vb = (
        r[0]
        for r in q("SELECT version_id FROM versions WHERE record_id = ? ORDER BY hlc", (elder_id,))
    )
    q(
        "INSERT INTO conflicts (kind, record_id, version_a, version_b, reason, created_at)"
        " VALUES ('elder', ?, ?, ?, ?, ?)",
        (elder_id, va, vb, EVIL, now),
    )
    bundle_id = q("SELECT bundle_id FROM bundles").fetchone()[0]
    q(
        "INSERT INTO rejected_versions (bundle_id, line_no, kind, record_id, reason, raw)"
        " VALUES (?, 9999, 'home_visit', ?, ?, '{}')",
        (bundle_id, EVIL, f"service_items: 「{EVIL}」不是服务内容"),
    )
    other = q("SELECT id FROM elder WHERE id != ? ORDER BY id LIMIT 1", (elder_id,)).fetchone()[0]
    q(
        "INSERT INTO review_items (queue, kind, record_a, record_b, natural_key, created_at)"
        " VALUES ('duplicate_person', 'elder', ?, ?, 'hmac-of-the-number', ?)",
        (elder_id, other, now),
    )
