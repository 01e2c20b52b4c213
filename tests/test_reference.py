"""Seed reference data and the district's own community CSV: good files replace, bad ones change nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fieldapp import reference
from fieldapp.reference import ReferenceError_
from fieldapp.store import Store

from .conftest import COMMUNITY, elder_data

HEADER = "code,street_code,name_zh,name_en,pop_60,pop_80\n"


def _snapshot(store: Store) -> list[tuple]:
    return [tuple(r) for r in store.conn.execute("SELECT * FROM ref_community ORDER BY code")]


def test_seed_communities_sum_to_the_plan_and_samples_are_marked() -> None:
    ref = reference.load()
    assert sum(c.pop_60 for c in ref.communities) == 137_900
    assert sum(c.pop_80 for c in ref.communities) == 19_200
    assert len(ref.streets) == 11
    for c in ref.communities:
        assert c.code.startswith(c.street_code) and len(c.code) == 12
        assert c.sample == ("示例" in c.name_zh), c
    confirmed = {c.name_zh for c in ref.communities if not c.sample}
    assert {"泰东社区", "东塘村", "林南村", "老东河社区", "宫涵社区"} <= confirmed
    assert all(not c.code_confirmed for c in ref.communities)


def test_district_csv_replaces_communities(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        HEADER
        + f"{COMMUNITY},321202001,示例社区,Sample,1200,150\n321202002001,321202002,春晖社区,Chunhui,2000,300\n",
        encoding="utf-8-sig",
    )
    assert store.import_communities(path) == 2
    rows = store.communities()
    assert [(r["code"], r["pop_60"], r["pop_80"]) for r in rows] == [
        (COMMUNITY, 1200, 150),
        ("321202002001", 2000, 300),
    ]
    store.create(
        "elder", elder_data(community_code="321202002001")
    )  # the new community is usable at once


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("321202001901,321202001,甲,A,100\n", 2, "列数"),
        ("32120200190,321202001,甲,A,100,10\n", 2, "12位"),
        ("321202001901,321202999,甲,A,100,10\n", 2, "街道代码"),
        ("321202002901,321202001,甲,A,100,10\n", 2, "开头"),
        ("321202001901,321202001,甲,A,100,10\n321202001901,321202001,乙,B,100,10\n", 3, "重复"),
        ("321202001901,321202001,,A,100,10\n", 2, "name_zh"),
        ("321202001901,321202001,甲,A,一百,10\n", 2, "pop_60"),
        ("321202001901,321202001,甲,A,100,-1\n", 2, "pop_80"),
        ("321202001901,321202001,甲,A,100,200\n", 2, "不能大于"),
    ],
)
def test_bad_csv_is_refused_with_line_and_reason_and_nothing_changes(
    store: Store, tmp_path: Path, body: str, line: int, words: str
) -> None:
    before = _snapshot(store)
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(ReferenceError_) as exc:
        store.import_communities(path)
    assert exc.value.line == line and words in str(exc.value)
    assert _snapshot(store) == before


def test_csv_missing_columns_or_not_utf8_is_refused(store: Store, tmp_path: Path) -> None:
    before = _snapshot(store)
    path = tmp_path / "bad.csv"
    path.write_text("code,name_zh\n321202001901,甲\n", encoding="utf-8")
    with pytest.raises(ReferenceError_, match="缺少列"):
        store.import_communities(path)
    path.write_bytes((HEADER + "321202001901,321202001,城东社区,A,100,10\n").encode("gbk"))
    with pytest.raises(ReferenceError_, match="UTF-8"):
        store.import_communities(path)
    assert _snapshot(store) == before


def test_csv_dropping_a_community_in_use_is_refused(store: Store, tmp_path: Path) -> None:
    store.create("elder", elder_data())
    before = _snapshot(store)
    path = tmp_path / "other.csv"
    path.write_text(HEADER + "321202002001,321202002,春晖社区,Chunhui,2000,300\n", encoding="utf-8")
    with pytest.raises(ReferenceError_, match=COMMUNITY):
        store.import_communities(path)
    assert _snapshot(store) == before


def test_seed_files_are_readable_as_csv_with_their_documented_columns() -> None:
    from fieldapp import paths

    with (paths.seed_dir() / "communities.csv").open(encoding="utf-8") as f:
        cols = next(csv.reader(f))
    assert cols[:5] == ["code", "street_code", "name_zh", "name_en", "kind"]
