"""The faster report (issue 12: the merged records' visits read by record, one pass for the hardship
figures, …) gives exactly the figures of the report before it: every figure and operational count
of a demo community for 2025 and 2026, against those the previous code gave
(tests/data/report_figures_demo.json, written by main at 6e4fe73 on the same demo data)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from fieldapp import db
from fieldapp.demo import generate_community
from fieldapp.report import build

TODAY = date(2026, 11, 30)
BEFORE = Path(__file__).parent / "data" / "report_figures_demo.json"


def test_the_faster_report_gives_the_figures_of_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the calendar of the day the figures were written: the store fills what a save leaves out
    # with its today (the demo's moves and deaths did, until 2569cc4 dated them itself)
    monkeypatch.setenv("FIELDAPP_TODAY", TODAY.isoformat())
    generate_community(tmp_path / "c.db", seed=5, today=TODAY, elders=400)
    conn = db.connect(tmp_path / "c.db", create=False)
    got = {}
    for year in (2025, 2026):
        r = build(conn, year, today=TODAY)
        op = dict(r.operational)
        op.pop("devices")  # the laptops' last bundles: none on a device database
        figures = [
            [f.area_code, f.indicator, f.numerator, f.denominator, f.value] for f in r.figures
        ]
        got[str(year)] = {"figures": sorted(figures), "operational": op}
    conn.close()
    want = json.loads(BEFORE.read_text(encoding="utf-8"))
    got = json.loads(json.dumps(got))  # tuples as lists, as in the file
    assert got["2026"]["operational"]["overdue_followups"] == 161  # not an empty match
    assert got["2025"]["operational"] == want["2025"]["operational"]
    assert got["2026"]["operational"] == want["2026"]["operational"]
    assert got["2025"]["figures"] == want["2025"]["figures"]
    assert got["2026"]["figures"] == want["2026"]["figures"]
