"""Return bundles (SPEC §5b): the district sends each community's records back to its laptops."""

from __future__ import annotations

from pathlib import Path

from ..conftest import COMMUNITY, elder_data, make_id, visit_data
from .return_helpers import OTHER, district_view, net, rows


def test_three_way_round_trip(tmp_path: Path) -> None:
    n = net(tmp_path)
    a, b, c = n.laptop("a"), n.laptop("b"), n.laptop("c", OTHER)
    ea = a.create("elder", elder_data(name="甲")).record_id
    a.create("home_visit", visit_data(ea))
    eb = b.create("elder", elder_data(name="乙", id_number=make_id(__import__("datetime").date(1940, 1, 1), True))).record_id
    c.create("elder", elder_data(name="丙", community_code=OTHER))
    bundles = [n.export(x) for x in "abc"]
    assert n.merge(*[p for p in bundles if p]) == ["merged"] * 3
    ret = n.returns()
    assert ret[COMMUNITY].devices == 2 and ret[OTHER].devices == 1
    assert ret["321202001001"].path is None  # no laptop enrolled there: nothing written
    for name, code in (("a", COMMUNITY), ("b", COMMUNITY), ("c", OTHER)):
        path = ret[code].path
        assert path is not None
        r = n.import_(name, path)
        assert r.status == "applied", r.reason
    assert r.versions_new == 0  # c only got back its own version
    want = district_view(n, COMMUNITY)
    assert [e[0] for e in want["elder"]] == sorted([ea, eb])
    assert len(want["home_visit"]) == 1
    assert rows(a.conn) == want
    assert rows(b.conn) == want
    assert [e[0] for e in rows(c.conn)["elder"]] != [ea]
    assert {ea, eb}.isdisjoint(e[0] for e in rows(c.conn)["elder"])
    # a second round trip changes nothing
    again = n.returns(COMMUNITY)[COMMUNITY]
    assert again.seq == 2 and again.path is not None
    assert n.import_("a", again.path).versions_new == 0
    assert rows(a.conn) == want
    assert n.import_("a", ret[COMMUNITY].path).status == "already"  # type: ignore[arg-type]
