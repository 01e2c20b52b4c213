"""Makes the schema-3 fixtures of tests/test_migration_v4.py with release 1's code (main bf2940a).

Run from a checkout of that commit (`git -C /work/main archive bf2940a | tar -x -C /tmp/r1`):
    cd /tmp/r1 && FIELDAPP_KDF=interactive python /path/to/tests/data/v3/make.py OUT_DIR
It writes device.db.gz (a demo community of 40 elders, one elder marked moved out, one deceased)
and district.db.gz (that device enrolled, its first bundle merged; a second device enrolled with none).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import sys
from datetime import date
from pathlib import Path

from fieldapp.demo import generate_community
from fieldapp.store import Store
from fieldapp.sync import crypto
from fieldapp.sync.export import export
from fieldapp.sync.merge import merge_bundle

PASS = "fixture passphrase"
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name in ("device.db", "district.db"):
    (out / name).unlink(missing_ok=True)
tmp = out / "tmp"  # the district's keys and the bundle: not kept
generate_community(out / "device.db", seed=3, today=date(2026, 11, 30), elders=40)
device = Store.open(out / "device.db")
active = [
    r[0]
    for r in device.conn.execute("SELECT id FROM elder WHERE status = 'active' ORDER BY id LIMIT 2")
]
for elder_id, status in zip(active, ("moved_out", "deceased"), strict=True):
    cur = device.get("elder", elder_id)
    device.update("elder", elder_id, cur.record.payload() | {"status": status})
pub, priv, _ = crypto.district_keygen(tmp / "keys", PASS)
device.install_district_key(*crypto.load_district_public(pub))
first = export(device, tmp / "usb", allow_v1=False, mkdir=True)
district = Store.open(out / "district.db")
district.setup_district()
dev = device.device()
assert dev is not None
district.enroll(dev.device_id, device.keys()["sign_public"], label=dev.label, by="fixture")
district.enroll(
    "0193a1b2-8000-7000-8000-0000000000ee",
    device.keys()["sign_public"],
    label="没有同步包的设备",
    by="fixture",
)
r = merge_bundle(
    district.conn, first.path, district_key=crypto.load_district_private(priv, PASS), allow_v1=False
)
assert r.status == "merged", r.reason
for s in (device, district):
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
for name in ("device.db", "district.db"):
    c = sqlite3.connect(out / name)
    c.execute("PRAGMA journal_mode = DELETE")
    c.execute("VACUUM")
    c.close()
    with (out / name).open("rb") as src, gzip.open(out / f"{name}.gz", "wb", 9) as dst:
        shutil.copyfileobj(src, dst)
    (out / name).unlink()
    print(name, os.path.getsize(out / f"{name}.gz"))
shutil.rmtree(tmp)
