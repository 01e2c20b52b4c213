"""Signed indicator bundles from three sample districts rolled up by the city: real databases,
real key files and bundles on disk; each refusal changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import crypto
from fieldapp import db as fdb
from fieldapp.city import db as city_db
from fieldapp.city.divisions import division_seed
from fieldapp.city.merge import Refused, enroll, merge_file
from fieldapp.city.publish import publish
from fieldapp.city.report import Cell, build, total
from fieldapp.cli import main
from fieldapp.district_keys import keygen, load_district_signing, read_district_public
from fieldapp.report import build as district_report
from fieldapp.sqlite import sqlite3

TODAY = date(2025, 6, 30)
YEAR = 2024
PASS = "correct horse 1"
DIVISIONS = ("321202", "321203", "321281")


def _district(root: Path, code: str) -> tuple[Path, Path]:
    """A sample district database of the division (one community's demo data) and its keys."""
    from fieldapp.demo import generate_community

    seed = root / "seed" if code == "321202" else division_seed(code, root / "seed")
    old = os.environ.get("FIELDAPP_SEED")
    os.environ["FIELDAPP_SEED"] = str(seed)
    try:
        community = "321202001901" if code == "321202" else f"{code}001901"
        if code == "321202":
            from fieldapp import paths

            os.environ.pop("FIELDAPP_SEED")
            seed = paths.seed_dir()
        generate_community(
            root / "district.db",
            community_code=community,
            seed=int(code[-2:]),
            today=TODAY,
            elders=60,
        )
    finally:
        if old is None:
            os.environ.pop("FIELDAPP_SEED", None)
        else:
            os.environ["FIELDAPP_SEED"] = old
    keygen(root / "keys", PASS, code)
    return root / "district.db", root / "keys"


@pytest.fixture(scope="module")
def districts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    old = os.environ.get("FIELDAPP_KDF")
    os.environ["FIELDAPP_KDF"] = "interactive"
    root = tmp_path_factory.mktemp("districts")
    out: dict[str, Path] = {}
    for code in DIVISIONS:
        db_path, keys = _district(root / code, code)
        conn = fdb.connect(db_path, create=False)
        signing = load_district_signing(keys / "district.private.json", PASS)
        publish(
            conn, YEAR, signing=signing, district_code=code, out_dir=root / "bundles", today=TODAY
        )
        conn.close()
        out[code] = root / code
    out["bundles"] = root / "bundles"
    yield out
    if old is None:
        os.environ.pop("FIELDAPP_KDF", None)


def _city(
    tmp_path: Path, districts: dict[str, Path], codes: tuple[str, ...] = DIVISIONS
) -> sqlite3.Connection:
    conn = city_db.init(tmp_path / "city.db")
    for c in codes:
        enroll(conn, read_district_public(districts[c] / "keys" / "district.public.json"))
    return conn


def _bundle(districts: dict[str, Path], code: str) -> Path:
    return next(districts["bundles"].glob(f"{code}-indicators-{YEAR}-*.fieldbundle"))


def _state(conn: sqlite3.Connection) -> tuple[object, ...]:
    return tuple(
        conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("bundle", "figure")
    )


def test_city_report_sums_numerators_and_denominators(
    tmp_path: Path, districts: dict[str, Path]
) -> None:
    conn = _city(tmp_path, districts)
    outcomes = [
        merge_file(conn, f).outcome for f in sorted(districts["bundles"].glob("*.fieldbundle"))
    ]
    assert outcomes == ["merged"] * 3
    r = build(conn, YEAR)
    assert [c for c, _ in r.districts] == list(DIVISIONS)
    assert [c for c, _ in r.missing] == ["321204", "321282", "321283"]
    # each district's column is its own report's district row
    for code in DIVISIONS:
        d = fdb.connect(districts[code] / "district.db", create=False)
        mine = district_report(d, YEAR, today=TODAY).get("321202", "home_service_coverage")
        d.close()
        cell = r.cells[(code, "home_service_coverage")]
        assert (cell.numerator, cell.denominator, cell.value) == (
            mine.numerator,
            mine.denominator,
            mine.value,
        )
    cov = [r.cells[(c, "home_service_coverage")] for c in DIVISIONS]
    city = r.totals["home_service_coverage"]
    assert city.numerator == sum(c.numerator for c in cov)
    assert city.denominator == 137900 + 68000 + 352000  # the three districts' own denominators
    assert city.value == round(100 * city.numerator / city.denominator, 2)
    assert any("未报送：高港区" not in n and "未报送" in n for n in r.notes)


def test_total_is_never_an_average_of_percentages() -> None:
    cells = [Cell(10, 100, 10.0), Cell(90, 900, 10.0), Cell(500, 1000, 50.0)]
    assert total("home_service_coverage", cells) == Cell(
        600, 2000, 30.0
    )  # the average would be 23.33
    assert total("volunteer_events", [Cell(3, None, 3), Cell(4, None, 4)]) == Cell(7, None, 7)
    assert total("meal_monthly_capacity", [Cell(600, 6, 100), Cell(300, 3, 100)]) == Cell(
        900, None, 200
    )


def test_merge_is_idempotent_and_a_newer_bundle_replaces(
    tmp_path: Path, districts: dict[str, Path]
) -> None:
    conn = _city(tmp_path, districts)
    first = _bundle(districts, "321203")
    assert merge_file(conn, first).outcome == "merged"
    assert merge_file(conn, first).outcome == "duplicate"
    d = fdb.connect(districts["321203"] / "district.db", create=False)
    signing = load_district_signing(districts["321203"] / "keys" / "district.private.json", PASS)
    newer = publish(
        d, YEAR, signing=signing, district_code="321203", out_dir=tmp_path / "new", today=TODAY
    )
    d.close()
    # same second: make the second bundle's created_at later by re-signing an edited manifest
    path = _rewrite(newer.path, signing, lambda m: m | {"created_at": "2099-01-01T00:00:00+08:00"})
    assert merge_file(conn, path).outcome == "replaced"
    rows = conn.execute("SELECT file_name, current FROM bundle ORDER BY current").fetchall()
    assert rows == [(first.name, 0), (path.name, 1)]  # history kept


def _rewrite(path: Path, signing: object, change: object, body_change: object = None) -> Path:
    """A copy of a bundle with an edited manifest (and body), signed again by `signing`."""
    with zipfile.ZipFile(path) as z:
        m = json.loads(z.read("manifest.json"))
        body = z.read("indicators.ndjson")
    if body_change:
        body = body_change(body)  # type: ignore[operator]
        m["members"]["indicators.ndjson"] = {
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
        }
    m = change(m)  # type: ignore[operator]
    mbytes = json.dumps(m).encode()
    out = path.with_name(f"{path.stem}-edit{len(list(path.parent.glob('*-edit*')))}.fieldbundle")
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("manifest.json", mbytes)
        z.writestr("manifest.sig", crypto.b64(signing.sign(mbytes).signature))  # type: ignore[attr-defined]
        z.writestr("indicators.ndjson", body)
    return out


def test_refusals_change_nothing(tmp_path: Path, districts: dict[str, Path]) -> None:
    conn = _city(tmp_path, districts, ("321202", "321203"))
    work = tmp_path / "w"
    work.mkdir()
    a = Path(shutil.copy(_bundle(districts, "321202"), work))  # edits go beside the copy
    key_a = load_district_signing(districts["321202"] / "keys" / "district.private.json", PASS)
    key_b = load_district_signing(districts["321203"] / "keys" / "district.private.json", PASS)
    cases: dict[str, Path] = {}
    cases["unenrolled"] = _bundle(districts, "321281")
    (work / "junk.fieldbundle").write_bytes(b"PK not a zip")
    cases["malformed"] = work / "junk.fieldbundle"
    with zipfile.ZipFile(a) as z, zipfile.ZipFile(work / "unsigned.fieldbundle", "w") as out:
        for n in ("manifest.json", "indicators.ndjson"):
            out.writestr(n, z.read(n))
    cases["unsigned"] = work / "unsigned.fieldbundle"
    with zipfile.ZipFile(a) as z, zipfile.ZipFile(work / "tampered.fieldbundle", "w") as out:
        out.writestr("manifest.json", z.read("manifest.json"))
        out.writestr("manifest.sig", z.read("manifest.sig"))
        out.writestr(
            "indicators.ndjson",
            z.read("indicators.ndjson").replace(b'"numerator": 1', b'"numerator": 9', 1),
        )
    cases["tampered"] = work / "tampered.fieldbundle"
    cases["other key"] = _rewrite(a, key_b, lambda m: m)
    cases["year"] = _rewrite(a, key_a, lambda m: m | {"year": 1999})
    cases["area"] = _rewrite(
        a, key_a, lambda m: m, lambda b: b.replace(b'"321202001901"', b'"321203001901"', 1)
    )
    expected = {
        "unenrolled": "区县321281未登记",
        "malformed": "不是有效的ZIP",
        "unsigned": "包内文件不对",
        "tampered": "SHA-256不符",
        "other key": "签名来自区县321203的密钥",
        "year": "年份1999未知",
        "area": "区域代码321203001901不属于区县321202",
    }
    for name, path in cases.items():
        with pytest.raises(Refused) as e:
            merge_file(conn, path)
        assert expected[name] in str(e.value), (name, str(e.value))
        assert _state(conn) == (0, 0)


def test_bundle_holds_no_personal_value(districts: dict[str, Path]) -> None:
    """Every personal field value of the district database is absent from the bundle's bytes."""
    conn = fdb.connect(districts["321202"] / "district.db", create=False)
    personal = {
        "elder": (
            "id",
            "name",
            "id_number",
            "phone",
            "address",
            "birth_date",
            "emergency_contact_name",
            "emergency_contact_phone",
            "notes",
            "version_id",
            "device_id",
        ),
        "home_visit": ("id", "worker", "notes", "version_id", "elder_id"),
        "volunteer": ("id", "name", "phone", "platform_no"),
        "meal_point": ("id", "name"),
        "device": ("device_id", "label", "worker"),
    }
    values = {
        str(v)
        for t, cols in personal.items()
        for c in cols
        for (v,) in conn.execute(f"SELECT {c} FROM {t}")
        if v not in (None, "")
    }
    conn.close()
    with zipfile.ZipFile(_bundle(districts, "321202")) as z:
        text = b"".join(z.read(n) for n in z.namelist()).decode("utf-8")
    assert len(values) > 300
    found = sorted(v for v in values if len(v) >= 4 and v in text)
    assert found == []


def test_cli_flow_and_refusal(tmp_path: Path, districts: dict[str, Path]) -> None:
    run = CliRunner().invoke
    db = str(tmp_path / "c.db")
    assert run(main, ["city", "init", "--db", db]).exit_code == 0
    for c in ("321202", "321281"):
        r = run(
            main,
            [
                "city",
                "enroll",
                "--db",
                db,
                str(districts[c] / "keys" / "district.public.json"),
                "--yes",
            ],
        )
        assert r.exit_code == 0, r.output
    r = run(main, ["city", "merge", str(districts["bundles"]), "--db", db])
    assert (
        r.exit_code == 1 and "拒收 321203-indicators" in r.output and "区县321203未登记" in r.output
    )
    xlsx = tmp_path / "city.xlsx"
    r = run(main, ["city", "report", "--db", db, "--year", str(YEAR), "--xlsx", str(xlsx)])
    assert r.exit_code == 0, r.output
    assert "指标 | 海陵区 | 兴化市 | 全市合计" in r.output
    assert (
        "未报送：高港区（321203）、姜堰区（321204）、靖江市（321282）、泰兴市（321283）" in r.output
    )
    from openpyxl import load_workbook

    ws = load_workbook(xlsx).active
    assert ws.cell(2, 1).value == "指标" and ws.cell(2, 8).value == "全市合计 分子"
