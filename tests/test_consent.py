"""An elder who withdrew consent is left out of every ledger that names elders; the records stay in the database."""

from __future__ import annotations

from datetime import date

from fieldapp.ledger import build_ledger
from fieldapp.store import Store

from .conftest import elder_data, make_id, visit_data


def test_withdrawn_consent_leaves_the_ledgers_but_not_the_database(store: Store) -> None:
    kept = store.create("elder", elder_data(name="张三丰"))
    gone = store.create(
        "elder",
        elder_data(name="李四", id_number=make_id(date(1938, 4, 5), False, 9), consent="withdrawn"),
    )
    for elder in (kept, gone):
        store.create("home_visit", visit_data(elder.record_id, visit_date="2026-11-02"))
        store.create(
            "retrofit",
            {
                "elder_id": elder.record_id,
                "project_year": 2026,
                "funding_type": "subsidized",
                "status": "applied",
                "apply_date": "2026-11-05",
                "items": [{"code": "R01", "qty": 1, "unit_price": "300"}],
                "cost_total": "300",
                "subsidy": "300",
                "self_paid": "0",
            },
        )
    visits = build_ledger(store.conn, kind="home_visit", month="2026-11")
    retrofits = build_ledger(store.conn, kind="retrofit", month="2026-11")
    assert [r[1] for r in visits.rows] == ["张三丰"]
    assert [r[0] for r in retrofits.rows] == ["张三丰"]
    # kept for the statutory duties: the records are all still there
    assert store.conn.execute("SELECT count(*) FROM home_visit").fetchone()[0] == 2
    assert store.conn.execute("SELECT count(*) FROM retrofit").fetchone()[0] == 2
    assert store.conn.execute("SELECT consent FROM elder WHERE name = '李四'").fetchone()[0] == (
        "withdrawn"
    )
