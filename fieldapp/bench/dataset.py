"""The data set: a district's devices made by the demo generator, sealed to a district key, cut into
the monthly bundles their workers would have exported, and empty district databases to merge into."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

PASSPHRASE = "fieldapp benchmark passphrase"


@dataclass
class Sealing:
    """Format 2 (the default path): the district's private key file, and the devices to enrol."""

    private_key: Path | None = None  # None: format 1 bundles, nothing sealed
    devices: list[tuple[str, str, str, str]] = field(
        default_factory=list
    )  # (device_id, public key, label, community: the one it may write, SPEC §4a)


def export_monthly(device_db: Path, out_dir: Path) -> int:
    """Cut a device's year of work into the monthly bundles it would have exported (one per month
    with work in it), as a worker exporting at the end of each month would have."""
    return len(export_monthly_timed(device_db, out_dir))


def _months(first_hlc: str, last_hlc: str) -> list[tuple[int, int]]:
    start = date.fromtimestamp(int(first_hlc[:13]) / 1000)
    end = date.fromtimestamp(int(last_hlc[:13]) / 1000)
    return [
        (y, m)
        for y in range(start.year, end.year + 1)
        for m in range(1, 13)
        if (start.year, start.month) <= (y, m) <= (end.year, end.month)
    ]


def export_monthly_timed(device_db: Path, out_dir: Path) -> list[float]:
    """export_monthly, returning how long each export took."""
    from fieldapp.store import Store, StoreError
    from fieldapp.sync.export import export

    times: list[float] = []
    with Store.open(device_db) as store:
        first, last = store.conn.execute(
            "SELECT min(hlc), max(hlc) FROM versions WHERE origin = 'local'"
        ).fetchone()
        if first is None:
            return times
        for y, m in _months(first, last):
            ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
            cut = f"{int(time.mktime(date(ny, nm, 1).timetuple()) * 1000):013d}-00000"
            t0 = time.perf_counter()
            try:
                export(
                    store,
                    out_dir,
                    period=f"{y:04d}-{m:02d}",
                    until_hlc=cut,
                    allow_v1=True,
                    mkdir=True,  # the benchmark's own folder, not a stick
                )
                times.append(time.perf_counter() - t0)
            except StoreError:
                pass  # nothing that month
    return times


def new_district(path: Path, sealing: Sealing) -> Path:
    """An empty district database with the data set's devices enrolled."""
    from fieldapp.store import Store

    with Store.open(path) as s:
        s.setup_district()
        for device_id, public, label, community in sealing.devices:
            s.enroll(device_id, public, label=label, by="bench", communities=[community])
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def seal_devices(devices: Path, keys: Path) -> Sealing:
    """A district key pair, installed on every device; every device listed for enrolment."""
    from fieldapp import crypto
    from fieldapp.store import Store

    os.environ.setdefault("FIELDAPP_KDF", "interactive")
    os.environ["FIELDAPP_KEY_PASSPHRASE"] = PASSPHRASE
    public, private, _ = crypto.district_keygen(keys, PASSPHRASE)
    pub = crypto.load_district_public(public)
    sealing = Sealing(private)
    for dev in sorted(devices.glob("*.db")):
        with Store.open(dev) as s:
            s.install_district_key(*pub)
            d = s.device()
            assert d is not None
            community = d.community_code or ""
            sealing.devices.append((d.device_id, s.keys()["sign_public"], d.label, community))
    return sealing


@dataclass
class DataSet:
    devices: Path  # one device database per community
    bundles: Path  # their monthly bundles
    sealing: Sealing
    export_times: list[float]  # seconds per monthly export


def make(work: Path, *, seed: int, scale: float, today: date) -> DataSet:
    """The district's devices at `scale`, sealed, and their monthly bundles, under `work`."""
    from fieldapp.demo import generate_district

    devices = work / "devices"
    generate_district(devices, seed=seed, today=today, scale=scale, jobs=2)
    sealing = seal_devices(devices, work / "keys")
    bundles = work / "bundles"
    times: list[float] = []
    for dev in sorted(devices.glob("*.db")):
        times += export_monthly_timed(dev, bundles)
    return DataSet(devices, bundles, sealing, times)
