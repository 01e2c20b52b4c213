"""A refused record names every problem at once, in the worker's words (labels, never field codes)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fieldapp.models import RecordInvalid, validate_record
from fieldapp.store import Store

from .conftest import COMMUNITY, STREET, elder_data, make_id, visit_data

ELDER = "0193a1b2-0000-7000-8000-00000000ffff"


def _problems(kind: str, data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(RecordInvalid) as exc:
        validate_record(kind, data)
    return [(p.field, p.text("zh")) for p in exc.value.problems]


def test_field_errors_and_the_birth_date_against_the_id_come_in_one_round() -> None:
    """Before: the blank name and the phone came first; the birth date against the ID number
    only on a later save (pydantic skips the model's rules once a field fails)."""
    data = elder_data(
        name="",
        phone="123",
        id_number=make_id(date(1944, 3, 12), male=True),
        birth_date="1950-01-01",
        gender="F",
    )
    assert _problems("elder", data) == [
        ("name", "姓名：必填"),
        ("gender", "性别：性别与身份证号不一致（身份证号第17位表示男）"),
        ("birth_date", "出生日期：出生日期 1950-01-01 与身份证号中的 1944-03-12 不一致"),
        ("phone", "联系电话：须为11位手机号或带区号的固定电话（如0523-86123456）"),
    ]


def test_a_rule_that_reads_a_field_in_error_stays_silent() -> None:
    """The ID number is wrong: no "gender is required without an ID number" on top of it."""
    bad_id = make_id(date(1944, 3, 12), male=True)[:17] + "0"
    if bad_id == make_id(date(1944, 3, 12), male=True):
        bad_id = bad_id[:17] + "1"
    problems = _problems("elder", elder_data(id_number=bad_id, address=""))
    assert [f for f, _ in problems] == ["id_number", "address"]


def test_the_rules_of_two_model_validators_come_together() -> None:
    """A missing community (the base's rule) and the end before the start (the visit's rule)."""
    data = visit_data(ELDER, start_time="10:00", end_time="09:00")
    data.pop("community_code", None)
    assert _problems("home_visit", data) == [
        ("end_time", "结束时间：结束时间 09:00 早于开始时间 10:00"),
        ("community_code", "社区：必填（社区代码）"),
    ]


def test_messages_name_labels_never_codes_in_either_language() -> None:
    with pytest.raises(RecordInvalid) as exc:
        validate_record(
            "home_visit",
            visit_data(ELDER, start_time="10:00", end_time="09:00", community_code=COMMUNITY),
        )
    (p,) = exc.value.problems
    assert p.text("zh") == "结束时间：结束时间 09:00 早于开始时间 10:00"
    assert p.text("en") == "End time: is earlier than Start time"
    # the exception's own text is for a developer: it keeps the code
    assert "结束时间（end_time）" in str(exc.value)


def test_a_code_list_error_lists_the_catalogues_words() -> None:
    assert _problems("elder", elder_data(visit_risk="x")) == [
        ("visit_risk", "探访风险等级：须为以下之一：高风险、重点关注、一般")
    ]


def test_a_line_inside_a_list_is_named_by_its_number_and_label() -> None:
    data = {
        "elder_id": ELDER,
        "project_year": 2026,
        "status": "applied",
        "apply_date": "2026-01-01",
        "funding_type": "subsidized",
        "community_code": COMMUNITY,
        "items": [{"code": "R01", "qty": "x", "unit_price": 1}],
    }
    with pytest.raises(RecordInvalid) as exc:
        validate_record("retrofit", data)
    assert [p.text("zh") for p in exc.value.problems] == ["改造项目 第1项 数量：须为数字"]
    assert [p.text("en") for p in exc.value.problems] == ["Items #1 Quantity: must be a number"]


def test_the_store_refuses_with_every_problem_and_saves_nothing(tmp_path: Path) -> None:
    with Store.open(tmp_path / "d.db") as store:
        store.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
        with pytest.raises(RecordInvalid) as exc:
            store.create("elder", elder_data(name="", birth_date="1950-01-01"))
        assert [p.field for p in exc.value.problems] == ["name", "birth_date"]
        assert store.count("elder") == 0


@pytest.mark.parametrize("kind", ["elder", "home_visit", "assessment", "retrofit", "meal_count"])
@pytest.mark.parametrize("junk", ["??", "", None, "-1", [1], {"a": 1}])
def test_any_junk_is_refused_with_problems_never_a_traceback(kind: str, junk: object) -> None:
    """The cross-field rules run on what passed; whatever failed, the answer is RecordInvalid."""
    from fieldapp.models import MODELS

    data = dict.fromkeys(MODELS[kind].model_fields, junk) | {"unknown_field": junk}
    with pytest.raises(RecordInvalid) as exc:
        validate_record(kind, data)
    fields = [p.field for p in exc.value.problems]
    assert "unknown_field" in fields and len(fields) == len(
        {(p.field, p.zh) for p in exc.value.problems}
    )
