"""After `district merge` the current year's report is already computed (report_cache), and
`fieldapp report` prints exactly what `--fresh` computes."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from fieldapp.cli import main
from fieldapp.store import Store
from fieldapp.sync.export import export

from .conftest import COMMUNITY, STREET, elder_data, visit_data
from .sync.helpers import district


def test_a_merge_leaves_the_years_report_computed(tmp_path: Path) -> None:
    device = tmp_path / "device.db"
    with Store.open(device) as s:
        s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        eid = s.create("elder", elder_data(name="王秀英")).record_id
        day = max(date(date.today().year, 1, 1), date.today() - timedelta(days=1))
        s.create("home_visit", visit_data(eid, visit_date=day.isoformat()))
        stick = tmp_path / "stick"
        stick.mkdir()
        export(s, stick, allow_v1=True)
    dpath = tmp_path / "district.db"
    district(dpath, device).close()
    year = str(date.today().year)
    merged = CliRunner().invoke(main, ["merge", str(stick), "--db", str(dpath), "--allow-v1"])
    assert merged.exit_code == 0, merged.output
    with Store.open(dpath) as d:
        rows = d.conn.execute("SELECT year, month, lang, report FROM report_cache").fetchall()
    assert [tuple(r)[:3] for r in rows] == [(int(year), 0, "zh")]
    assert '"trend": [{"month":' in rows[0][3]  # the dashboard's months too
    args = ["report", "--db", str(dpath), "--year", year, "--by", "community"]
    cached = CliRunner().invoke(main, args)
    fresh = CliRunner().invoke(main, [*args, "--fresh"])
    assert cached.exit_code == 0 and cached.output == fresh.output
    assert "居家上门服务覆盖率" in cached.output
    # a merge that brings nothing new leaves the kept report as it was
    again = CliRunner().invoke(main, ["merge", str(stick), "--db", str(dpath), "--allow-v1"])
    assert again.exit_code == 0, again.output
    with Store.open(dpath) as d:
        kept = d.conn.execute("SELECT report FROM report_cache").fetchall()
    assert [r[0] for r in kept] == [rows[0][3]]
