"""The de-identified Parquet export: DuckDB runs the indicators' SQL over it and gets exactly the
figures of `fieldapp report`; no personal value is in the files; a non-empty folder is refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import db as fdb
from fieldapp.cli import main
from fieldapp.report import build

duckdb = pytest.importorskip(
    "duckdb", reason='DuckDB is the optional extra fieldapp[analytics] (pip install ".[analytics]")'
)

TODAY = date(2025, 6, 30)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from fieldapp.analytics.export import export
    from fieldapp.demo import generate_community

    root = tmp_path_factory.mktemp("analytics")
    generate_community(root / "district.db", seed=11, today=TODAY, elders=200)
    conn = fdb.connect(root / "district.db", create=False)
    export(conn, root / "pq", today=TODAY)
    conn.close()
    return root / "district.db", root / "pq"


@pytest.mark.parametrize("year", [2024, 2025])
def test_duckdb_sql_gives_the_report_figures(exported: tuple[Path, Path], year: int) -> None:
    from fieldapp.analytics.run import duckdb_figures

    db_path, out = exported
    conn = fdb.connect(db_path, create=False)
    report = build(conn, year, today=TODAY)
    conn.close()
    got = duckdb_figures(out, year, report.as_of)
    want = {(f.area_code, f.indicator): (f.numerator, f.denominator) for f in report.figures}
    assert got == want
    assert report.get("321202", "home_service_coverage").numerator > 50  # not an empty match


def test_no_personal_value_in_the_export(exported: tuple[Path, Path]) -> None:
    db_path, out = exported
    conn = fdb.connect(db_path, create=False)
    cols = {
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
        ),
        "home_visit": ("id", "worker", "notes", "elder_id"),
    }
    values = {
        str(v)
        for t, cs in cols.items()
        for c in cs
        for (v,) in conn.execute(f"SELECT {c} FROM {t}")
        if v not in (None, "")
    }
    conn.close()
    duck = duckdb.connect()
    text = set()
    for f in out.rglob("*.parquet"):
        for row in duck.execute(f"SELECT * FROM read_parquet('{f}')").fetchall():
            text.update(str(v) for v in row)
    text.add((out / "README.md").read_text(encoding="utf-8"))
    assert len(values) > 500
    assert sorted(v for v in values if v in text) == []
    bands = {
        r[0]
        for r in duck.execute(
            f"SELECT DISTINCT age_band FROM read_parquet('{out}/elder/*/*.parquet')"
        ).fetchall()
    }
    assert "80-84" in bands and all(b is None or b.endswith(tuple("49")) for b in bands)


def test_non_empty_folder_is_refused_without_overwrite(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    db_path, _ = exported
    out = tmp_path / "pq"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    run = CliRunner().invoke
    r = run(main, ["district", "analytics-export", "--db", str(db_path), "--out", str(out)])
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    r = run(
        main,
        ["district", "analytics-export", "--db", str(db_path), "--out", str(out), "--overwrite"],
    )
    assert r.exit_code == 0, r.output
    assert not (out / "keep.txt").exists() and (out / "README.md").exists()


def test_a_kind_with_no_record_exports_and_the_figures_still_match(tmp_path: Path) -> None:
    """A district with no assessment, retrofit or volunteer event yet: DuckDB cannot read an empty
    CSV, so the empty kinds are written from their typed columns (one empty file each)."""
    from fieldapp.analytics.bench import measure
    from fieldapp.analytics.export import export

    from . import report_db as rd

    conn = rd.district_db(tmp_path / "d.db")
    e = rd.elder(conn, rd.A, "1950-01-01")
    rd.visit(conn, e, "2025-03-05", rd.A)
    conn.commit()
    done = export(conn, tmp_path / "pq", today=date(2025, 12, 31))
    conn.close()
    assert {k: done.rows[k] for k in ("home_visit", "assessment", "retrofit")} == {
        "home_visit": 1,
        "assessment": 0,
        "retrofit": 0,
    }
    empty = tmp_path / "pq" / "assessment" / "year=2025" / "data_0.parquet"
    assert duckdb.connect().execute(f"SELECT count(*) FROM '{empty}'").fetchone() == (0,)
    m = measure(tmp_path / "d.db", 2025, runs=1, today=date(2025, 12, 31))
    assert m.same_figures and len(m.export_s) == len(m.duckdb_s) == 1
