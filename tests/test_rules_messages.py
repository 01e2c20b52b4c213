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


def _base(kind: str) -> dict[str, object]:
    from .test_models import base

    return base(kind)


# A blank number makes the record's own arithmetic impossible in the pass that collects the rules
# (the field is None there): each rule below sits after that arithmetic in its model validator, and
# used to wait for the next save once the number was filled in.
BLANK_NUMBER_AND_ANOTHER_RULE = [
    (
        "retrofit",
        {"subsidy": None, "start_date": "2025-01-15", "items": []},
        [
            (
                "start_date",
                "开工日期：2025-01-15 早于 入户评估日期 的 2025-02-01；日期须按申请→评估→开工→验收的顺序",
            ),
            ("items", "改造项目：验收合格的改造须至少列出一个改造项目"),
            ("subsidy", "补贴（元）：必填"),
        ],
    ),
    (
        "meal_count",
        {"dine_in": None, "subsidized": {"vip": 1}},
        [
            ("dine_in", "堂食：必填"),
            ("subsidized", "享受补贴人次：补贴类别「vip」不在目录中"),
        ],
    ),
    (
        "volunteer_event",
        {"end_time": "08:00", "participants": [{"volunteer_id": ELDER, "hours": None}]},
        [
            ("end_time", "结束时间：结束时间 08:00 须晚于开始时间 09:00"),
            ("participants", "参与志愿者 第1项 服务时长（小时）：必填"),
        ],
    ),
    (
        "assessment",
        {"score_mobility": None, "next_due": "2025-01-01"},
        [
            ("score_mobility", "基础运动能力得分（0–15）：必填"),
            ("next_due", "下次评估日期：下次评估日期须晚于评估日期"),
        ],
    ),
]


@pytest.mark.parametrize(("kind", "change", "want"), BLANK_NUMBER_AND_ANOTHER_RULE)
def test_a_blank_number_does_not_hide_the_other_rules(
    kind: str, change: dict[str, object], want: list[tuple[str, str]]
) -> None:
    assert sorted(_problems(kind, _base(kind) | change)) == sorted(want)


@pytest.mark.parametrize(
    ("kind", "change", "zh", "en"),
    [
        (
            "assessment",
            {"level": "intact"},
            "调整等级原因：按得分应为「轻度失能」，改为「能力完好」须填写调整原因",
            "Reason for overriding the level: the level 'intact' differs from 'mild impairment'",
        ),
        (
            "home_visit",
            {"service_type": "life_care", "service_items": ["meal_help"]},
            "服务内容：「meal_help」不是服务类型「生活照料」的服务内容",
            "Service items: 'meal_help' is not an item of service type 'life care'",
        ),
        (
            "retrofit",
            {"status": "in_progress", "start_date": None, "accept_date": None, "items": []},
            "开工日期：进度为「施工中」时须填写开工日期",
            "Work started on: is required when the status is 'in progress'",
        ),
    ],
)
def test_catalogue_values_are_named_by_their_words_in_both_languages(
    kind: str, change: dict[str, object], zh: str, en: str
) -> None:
    """Before: 「mild」, "service type life_care", "status is accepted" — the codes."""
    with pytest.raises(RecordInvalid) as exc:
        validate_record(kind, _base(kind) | change)
    (p,) = exc.value.problems
    assert p.text("zh") == zh
    assert p.text("en").startswith(en)
