"""Return-bundle figures (SPEC §5b): writing them for the whole district, and restoring a laptop from one."""

from __future__ import annotations

import time
from pathlib import Path

from . import dataset
from .measure import Goal, Row, row


def rows(work: Path, data: dataset.DataSet, district: Path, scale: float) -> list[Row]:
    """Every community's return bundle from the merged district database (goal: under a minute at
    scale 1), the largest community's alone, and a fresh laptop of that community importing it."""
    from fieldapp import district_keys
    from fieldapp.store import Store
    from fieldapp.sync.return_read import import_return
    from fieldapp.sync.return_write import District, write_returns

    assert data.sealing.private_key is not None
    private = data.sealing.private_key
    sign = district_keys.load_district_signing(private, dataset.PASSPHRASE)
    code = district_keys.district_code_of(private)
    out = work / "returns"
    with Store.open(district) as d:
        t0 = time.perf_counter()
        results = write_returns(District(d.conn, sign, code), out / "all")
        whole = time.perf_counter() - t0
        written = [r for r in results if r.path is not None]
        largest = max(written, key=lambda r: r.versions)
        laptop = _fresh_laptop(work / "restored.db", d, largest.community_code, private)
        t0 = time.perf_counter()
        (one,) = write_returns(District(d.conn, sign, code), out / "one", [largest.community_code])
        single = time.perf_counter() - t0
    assert one.path is not None
    with Store.open(laptop) as s:
        t0 = time.perf_counter()
        applied = import_return(s, one.path)
        restore = time.perf_counter() - t0
    versions = sum(r.versions for r in written)
    return [
        row(
            "return bundles, whole district (s)",
            [whole],
            "s",
            Goal("< 60 s at scale 1", (whole < 60) if scale == 1.0 else None),
            note=f"{len(written)} communities, {versions:,} versions",
        ),
        row(
            "return bundle, largest community (s)",
            [single],
            "s",
            Goal("figure only", None),
            note=f"{one.versions:,} versions",
        ),
        row(
            "import of that return on a new laptop (versions/s)",
            [applied.versions_new / restore if restore else 0.0],
            "v/s",
            Goal("figure only", None),
            note=f"{restore:.1f} s for {applied.versions_new:,} versions ({applied.status})",
        ),
    ]


def _fresh_laptop(path: Path, d: object, community: str, private: Path) -> Path:
    """A replacement laptop of `community`: set up, the district key installed, enrolled."""
    from fieldapp import crypto, district_keys
    from fieldapp.store import Store

    public = private.with_name(private.name.replace("private", "public"))
    with Store.open(path) as s:
        s.setup_device(street_code=community[:9], community_code=community, worker="bench")
        pub, fp = crypto.load_district_public(public)
        s.install_district_key(pub, fp, district_keys.read_district_public(public).sign_public)
        dev = s.device()
        assert dev is not None and isinstance(d, Store)
        d.enroll(
            dev.device_id,
            s.keys()["sign_public"],
            label="bench",
            by="bench",
            communities=[community],
        )
    return path
