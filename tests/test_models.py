"""Every rule of SPEC §3 on the models: a passing and a failing case, and errors that name the field in zh and en."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fieldapp import models, reference
from fieldapp.models import RecordInvalid, validate_record, validate_version

from .conftest import COMMUNITY, elder_data, make_id, visit_data

EXAMPLES = (
    Path(__file__).resolve().parent / "data"
)  # copy of shared/examples (SPEC §5 example bundle)
EID = "0193a1b2-8000-7000-8000-000000000001"
VID = "0193a1b2-8000-7000-8000-000000000002"
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
TOMORROW = (date.today() + timedelta(days=1)).isoformat()
GOOD_ID = make_id(date(1944, 3, 12), male=True)


def with_check(body17: str) -> str:
    from stdnum.cn import ric

    return body17 + ric.calc_check_digit(body17 + "0")


def base(kind: str) -> dict[str, Any]:
    return {
        "elder": elder_data(),
        "home_visit": visit_data(EID, community_code=COMMUNITY),
        "assessment": {
            "elder_id": EID,
            "assess_date": "2025-01-31",
            "reason": "initial",
            "assessors": ["周红"],
            "score_self_care": 30,
            "score_mobility": 14,
            "score_mental": 26,
            "score_perception_social": 14,
            "community_code": COMMUNITY,
        },
        "retrofit": {
            "elder_id": EID,
            "project_year": 2025,
            "funding_type": "subsidized",
            "status": "accepted",
            "apply_date": "2025-01-01",
            "assess_date": "2025-02-01",
            "start_date": "2025-03-01",
            "accept_date": "2025-04-01",
            "items": [
                {"code": "R01", "qty": 2, "unit_price": "150.50"},
                {"code": "R13", "qty": 1, "unit_price": 100},
            ],
            "cost_total": "401.00",
            "subsidy": 400,
            "self_paid": 1,
            "community_code": COMMUNITY,
        },
        "meal_point": {
            "name": "示例老年食堂",
            "community_code": COMMUNITY,
            "kind": "canteen",
            "modes": ["dine_in", "delivery"],
            "capacity_daily": 50,
        },
        "meal_count": {
            "point_id": EID,
            "service_date": YESTERDAY,
            "meal": "lunch",
            "dine_in": 10,
            "delivery": 3,
            "pickup": 2,
            "subsidized": {"age_80": 5, "dibao": 2},
            "community_code": COMMUNITY,
        },
        "volunteer": {
            "name": "李敏",
            "phone": "13912345678",
            "platform_no": "JS12345678",
            "community_code": COMMUNITY,
        },
        "volunteer_event": {
            "title": "理发志愿助老活动",
            "event_date": YESTERDAY,
            "start_time": "09:00",
            "end_time": "11:00",
            "community_code": COMMUNITY,
            "category": "haircut",
            "status": "done",
            "participants": [
                {"volunteer_id": EID, "hours": 1.5},
                {"volunteer_id": VID, "hours": 2},
            ],
        },
    }[kind]


@pytest.mark.parametrize("kind", list(models.MODELS))
def test_valid_record_of_every_kind_passes_and_round_trips(kind: str) -> None:
    rec = validate_record(kind, base(kind))
    again = validate_record(kind, json.loads(json.dumps(rec.payload())))
    assert again.payload() == rec.payload()


# (kind, change, field named in the error, words the Chinese message contains)
FAILING: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "elder",
        {"id_number": GOOD_ID[:-1] + ("0" if GOOD_ID[-1] != "0" else "1")},
        "id_number",
        "校验码",
    ),
    ("elder", {"id_number": "3212021944031200"}, "id_number", "18位"),
    ("elder", {"id_number": "32120219440312A03X"}, "id_number", "数字"),
    ("elder", {"id_number": with_check("32120219440230003")}, "id_number", "不是有效日期"),
    (
        "elder",
        {"id_number": with_check(f"321202{date.today().year + 1}0101003")},
        "id_number",
        "不合理",
    ),
    ("elder", {"gender": "F"}, "gender", "不一致"),
    ("elder", {"birth_date": "1944-03-13"}, "birth_date", "不一致"),
    ("elder", {"id_number": None}, "id_number", "无身份证号原因"),
    (
        "elder",
        {"id_number": None, "id_missing_reason": "外地户籍", "birth_date": "1950-01-01"},
        "gender",
        "性别",
    ),
    ("elder", {"id_missing_reason": "外地户籍"}, "id_missing_reason", ""),
    ("elder", {"phone": "12345"}, "phone", "手机号"),
    ("elder", {"community_code": "32120200190"}, "community_code", "12位"),
    ("elder", {"living_status": "unknown"}, "living_status", "以下之一"),
    ("elder", {"hardship_tags": ["dibao", "dibao"]}, "hardship_tags", "重复"),
    ("elder", {"name": "  "}, "name", "必填"),
    ("elder", {"favourite_colour": "red"}, "favourite_colour", "不是此类记录的字段"),
    ("home_visit", {"visit_date": TOMORROW}, "visit_date", "将来"),
    ("home_visit", {"end_time": "08:30"}, "end_time", "早于"),
    ("home_visit", {"duration_min": 30}, "duration_min", "不一致"),
    ("home_visit", {"start_time": None, "end_time": None}, "duration_min", "必填"),
    ("home_visit", {"start_time": "9:00"}, "start_time", "HH:MM"),
    (
        "home_visit",
        {"start_time": None, "end_time": None, "duration_min": 721},
        "duration_min",
        "不能大于720",
    ),
    ("home_visit", {"service_items": ["bathing"]}, "service_items", "不是服务类型"),
    ("home_visit", {"satisfaction": 6}, "satisfaction", "不能大于5"),
    ("home_visit", {"elder_id": "not-a-uuid"}, "elder_id", "UUID"),
    ("home_visit", {"contact_mode": "letter"}, "contact_mode", "以下之一"),
    ("assessment", {"score_self_care": 33}, "score_self_care", "不能大于32"),
    ("assessment", {"score_mobility": -1}, "score_mobility", "不能小于0"),
    ("assessment", {"total": 80}, "total", "之和"),
    ("assessment", {"level": "intact"}, "override_reason", "调整原因"),
    ("assessment", {"assessors": []}, "assessors", "至少1项"),
    ("assessment", {"assessors": ["a", "b", "c"]}, "assessors", "最多2项"),
    ("assessment", {"assess_date": TOMORROW}, "assess_date", "将来"),
    ("assessment", {"next_due": "2025-01-01"}, "next_due", "晚于"),
    ("retrofit", {"accept_date": None}, "accept_date", "须填写验收日期"),
    ("retrofit", {"start_date": "2025-01-15"}, "start_date", "顺序"),
    ("retrofit", {"self_paid": 2}, "cost_total", "补贴"),
    ("retrofit", {"cost_total": 500, "self_paid": 100}, "cost_total", "之和"),
    ("retrofit", {"items": [{"code": "R99", "qty": 1, "unit_price": 401}]}, "items", "清单"),
    ("retrofit", {"items": [], "cost_total": 0, "subsidy": 0, "self_paid": 0}, "items", "至少"),
    ("retrofit", {"subsidy": "399.999"}, "subsidy", "小数"),
    ("retrofit", {"accept_date": TOMORROW}, "accept_date", "将来"),
    ("meal_point", {"modes": []}, "modes", "至少1项"),
    ("meal_point", {"capacity_daily": -1}, "capacity_daily", "不能小于0"),
    ("meal_count", {"subsidized": {"age_80": 10, "dibao": 6}}, "subsidized", "多于合计"),
    ("meal_count", {"subsidized": {"vip": 1}}, "subsidized", "类别"),
    ("meal_count", {"dine_in": -1}, "dine_in", "不能小于0"),
    ("meal_count", {"service_date": TOMORROW}, "service_date", "将来"),
    ("meal_count", {"meal": "supper"}, "meal", "以下之一"),
    ("volunteer", {"phone": "1391234567"}, "phone", "手机号"),
    (
        "volunteer_event",
        {"participants": [{"volunteer_id": EID, "hours": 1.25}]},
        "participants",
        "0.5",
    ),
    (
        "volunteer_event",
        {"participants": [{"volunteer_id": EID, "hours": 2.5}]},
        "participants",
        "超过活动时长",
    ),
    (
        "volunteer_event",
        {"participants": [{"volunteer_id": EID, "hours": 1}, {"volunteer_id": EID, "hours": 1}]},
        "participants",
        "重复",
    ),
    ("volunteer_event", {"event_date": TOMORROW}, "event_date", "不能晚于今天"),
    ("volunteer_event", {"end_time": "08:00"}, "end_time", "晚于开始时间"),
    ("volunteer_event", {"category": "party"}, "category", "以下之一"),
]


@pytest.mark.parametrize(
    ("kind", "change", "field", "words"),
    FAILING,
    ids=[f"{k}-{f}-{i}" for i, (k, _, f, _) in enumerate(FAILING)],
)
def test_rule_refuses_bad_value_naming_field(
    kind: str, change: dict[str, Any], field: str, words: str
) -> None:
    data = base(kind) | change
    with pytest.raises(RecordInvalid) as exc:
        validate_record(kind, data)
    fields = [p.field for p in exc.value.problems]
    assert field in fields, exc.value
    problem = exc.value.problems[fields.index(field)]
    assert words in problem.zh, problem
    assert problem.en and problem.label_en and problem.label_zh
    assert field in str(exc.value)


def test_error_message_names_field_label_in_chinese_and_english() -> None:
    with pytest.raises(RecordInvalid) as exc:
        validate_record("elder", elder_data(id_number="32120219440312003Y"))
    text = str(exc.value)
    assert "身份证号（id_number）" in text
    assert "ID number (id_number)" in text


def test_id_number_lower_case_x_is_normalised_and_gender_birth_derived() -> None:
    number = "32120219440312003X"
    rec = validate_record(
        "elder", elder_data(id_number=number.lower(), gender=None, birth_date=None)
    )
    assert isinstance(rec, models.Elder)
    assert rec.id_number == number
    assert rec.gender == "M" and rec.birth_date == date(1944, 3, 12)
    female = validate_record("elder", elder_data(id_number=make_id(date(1950, 6, 1), male=False)))
    assert isinstance(female, models.Elder) and female.gender == "F"


def test_elder_without_id_needs_reason_gender_and_birth_date() -> None:
    rec = validate_record(
        "elder",
        elder_data(
            id_number=None,
            id_missing_reason="外地户籍，证件待补",
            gender="F",
            birth_date="1950-01-01",
        ),
    )
    assert isinstance(rec, models.Elder) and rec.gender == "F"


def test_home_visit_duration_computed_from_times() -> None:
    rec = validate_record(
        "home_visit",
        visit_data(EID, start_time="09:10", end_time="10:05", community_code=COMMUNITY),
    )
    assert isinstance(rec, models.HomeVisit) and rec.duration_min == 55
    typed = validate_record(
        "home_visit",
        visit_data(EID, start_time=None, end_time=None, duration_min=40, community_code=COMMUNITY),
    )
    assert isinstance(typed, models.HomeVisit) and typed.duration_min == 40


@pytest.mark.parametrize(
    ("scores", "extra", "level"),
    [
        ((32, 15, 28, 15), {}, "intact"),
        ((30, 14, 26, 14), {}, "mild"),  # 84
        ((20, 10, 20, 10), {}, "moderate"),  # 60
        ((12, 6, 12, 6), {}, "severe"),  # 36
        ((5, 3, 10, 5), {}, "total"),  # 23
        ((30, 14, 26, 14), {"dementia_dx": True}, "moderate"),
        ((30, 14, 26, 14), {"risk_events_30d": 2}, "moderate"),
        (
            (30, 14, 26, 14),
            {"dementia_dx": True, "risk_events_30d": 3},
            "moderate",
        ),  # one level at most
        ((5, 3, 10, 5), {"dementia_dx": True}, "total"),  # already the worst
        ((30, 14, 26, 14), {"coma": True}, "total"),
    ],
)
def test_assessment_level_from_bands_and_adjustments(
    scores: tuple[int, ...], extra: dict[str, Any], level: str
) -> None:
    data = (
        base("assessment")
        | dict(
            zip(
                ("score_self_care", "score_mobility", "score_mental", "score_perception_social"),
                scores,
                strict=True,
            )
        )
        | extra
    )
    rec = validate_record("assessment", data)
    assert isinstance(rec, models.Assessment)
    assert rec.level == level and rec.total == sum(scores)


def test_assessment_override_with_reason_and_next_due_default() -> None:
    rec = validate_record(
        "assessment",
        base("assessment") | {"level": "moderate", "override_reason": "家属反映近期明显退化"},
    )
    assert isinstance(rec, models.Assessment)
    assert rec.level == "moderate" and rec.computed_level() == "mild"
    assert rec.next_due == date(2026, 1, 31)
    leap = validate_record("assessment", base("assessment") | {"assess_date": "2024-02-29"})
    assert isinstance(leap, models.Assessment) and leap.next_due == date(2025, 2, 28)


def test_retrofit_status_without_later_dates_and_money_serialised_as_numbers() -> None:
    rec = validate_record(
        "retrofit",
        base("retrofit")
        | {
            "status": "applied",
            "assess_date": None,
            "start_date": None,
            "accept_date": None,
            "items": [],
            "cost_total": 0,
            "subsidy": 0,
            "self_paid": 0,
        },
    )
    assert rec.payload()["cost_total"] == 0
    done = validate_record("retrofit", base("retrofit"))
    assert done.payload()["items"][0] == {"code": "R01", "qty": 2, "unit_price": 150.5}
    assert done.payload()["cost_total"] == 401


def test_volunteer_points_are_hours_times_category_coefficient() -> None:
    rec = validate_record("volunteer_event", base("volunteer_event"))
    assert isinstance(rec, models.VolunteerEvent)
    coef = reference.load().coefficient("haircut")
    assert [float(rec.points(p)) for p in rec.participants] == [1.5 * coef, 2 * coef]


def test_planned_event_may_be_in_the_future() -> None:
    rec = validate_record(
        "volunteer_event",
        base("volunteer_event") | {"event_date": TOMORROW, "status": "planned", "participants": []},
    )
    assert rec.payload()["event_date"] == TOMORROW


def test_meal_count_total_and_subsidized_within_it() -> None:
    rec = validate_record("meal_count", base("meal_count") | {"subsidized": {"age_80": 15}})
    assert isinstance(rec, models.MealCount) and rec.total == 15


def test_mask_id_number_keeps_first_four_and_last_three() -> None:
    """SPEC §9 v2: 18 characters, the birth date and the county hidden (release 1's 6 + 4 hid
    exactly the birth date, which the elder page printed beside it)."""
    masked = models.mask_id_number("32120219440312003X")
    assert masked == "3212***********03X" and len(masked) == 18
    assert models.mask_id_number("321202440312003") == "3212********003"  # a 15-digit old number
    assert models.mask_id_number("1234567") == "*******"
    assert models.mask_id_number(None) == ""


def test_age_on_counts_the_birthday_itself() -> None:
    from fieldapp.kinds import age_on

    assert age_on("1944-03-12", date(2026, 3, 11)) == 81
    assert age_on("1944-03-12", date(2026, 3, 12)) == 82
    assert age_on(date(1944, 3, 12), date(2026, 11, 30)) == 82
    assert age_on(None, date(2026, 1, 1)) is None and age_on("12/03/1944", date(2026, 1, 1)) is None


def test_content_hash_matches_the_example_bundle_and_ignores_key_order() -> None:
    lines = (EXAMPLES / "versions.ndjson").read_text(encoding="utf-8").splitlines()
    for line in lines:
        raw = json.loads(line)
        version, record = validate_version(raw)
        assert version.content_hash == raw["content_hash"]
        assert record.payload() == raw["payload"]
        shuffled = dict(reversed(list(raw["payload"].items())))
        assert models.content_hash(raw["deleted"], shuffled) == raw["content_hash"]
    assert (
        models.content_hash(True, json.loads(lines[0])["payload"])
        != json.loads(lines[0])["content_hash"]
    )


def test_version_with_tampered_payload_is_refused() -> None:
    raw = json.loads((EXAMPLES / "versions.ndjson").read_text(encoding="utf-8").splitlines()[0])
    raw["payload"]["phone"] = "13800000000"
    with pytest.raises(RecordInvalid) as exc:
        validate_version(raw)
    assert exc.value.problems[0].field == "content_hash"


def test_version_envelope_rules() -> None:
    raw = json.loads((EXAMPLES / "versions.ndjson").read_text(encoding="utf-8").splitlines()[0])
    for change, field in [
        ({"hlc": "176213160000-00000"}, "hlc"),
        ({"kind": "pet"}, "kind"),
        ({"device_id": "x"}, "device_id"),
    ]:
        with pytest.raises(RecordInvalid) as exc:
            validate_version(raw | change)
        assert field in [p.field for p in exc.value.problems]


@pytest.mark.parametrize("catalogue", list(models.CATALOGUE_OF_TYPE))
def test_seed_catalogue_codes_equal_the_model_codes(catalogue: str) -> None:
    assert set(reference.load().codes(catalogue)) == set(
        get_args(models.CATALOGUE_OF_TYPE[catalogue])
    )


def test_every_field_has_chinese_and_english_labels() -> None:
    for model in models.MODELS.values():
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra
            assert isinstance(extra, dict) and extra.get("label_zh") and extra.get("label_en"), (
                model.KIND,
                name,
            )


def test_content_hash_is_the_same_in_another_process_with_another_hash_seed() -> None:
    import os
    import subprocess
    import sys

    payload = base("elder") | {"hardship_tags": ["dibao", "dementia"], "notes": "独居，需关注"}
    here = models.content_hash(False, payload)
    code = "import json,sys; from fieldapp.models import content_hash; print(content_hash(False, json.loads(sys.argv[1])))"
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(payload, ensure_ascii=False)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert out.stdout.strip() == here


def test_the_kind_literal_is_kinds_KINDS_both_ways() -> None:
    """kinds.KINDS is the source; the Literal and the model classes must name the same kinds."""
    from fieldapp import kinds

    literal = get_args(models.Kind)
    assert [k for k in kinds.KINDS if k not in literal] == []  # a kind the Literal lacks
    assert [k for k in literal if k not in kinds.KINDS] == []  # a Literal value that is no kind
    assert literal == kinds.KINDS  # same order, no repeats
    # every Record class, registered or not, is one of the kinds and each kind has exactly one
    classes = sorted(m.KIND for m in models.Record.__subclasses__())
    assert classes == sorted(kinds.KINDS)
    assert tuple(models.MODELS) == kinds.KINDS
    assert {k: m.LABEL for k, m in models.MODELS.items()} == kinds.LABELS


def test_the_kind_groups_match_the_models_fields() -> None:
    """The pydantic-free groups in kinds.py say what the models' fields say."""
    from fieldapp import kinds

    def having(field: str) -> tuple[str, ...]:
        return tuple(k for k, m in models.MODELS.items() if field in m.model_fields)

    assert kinds.ELDER_KINDS == having("elder_id") == ("home_visit", "assessment", "retrofit")
    # payload schema 2: every kind has a community; the community's own kinds had it in schema 1
    assert having("community_code") == kinds.KINDS
    added = tuple(k for k, m in models.MODELS.items() if "community_code" in m.V2_FIELDS)
    assert added == ("home_visit", "assessment", "retrofit", "meal_count")
    assert tuple(k for k in kinds.KINDS if k not in added) == kinds.COMMUNITY_KINDS
    assert kinds.COMMUNITY_KINDS == ("elder", "meal_point", "volunteer", "volunteer_event")
    assert set(kinds.KINDS) - set(kinds.FORM_KINDS) == {"meal_count"}


def test_the_kinds_module_does_not_import_pydantic() -> None:
    """The first screen needs the kinds' names and labels, not the models (STYLE: start-up)."""
    import subprocess
    import sys

    code = "import sys, fieldapp.kinds; print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'fieldapp.models'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------ payload schema 2 and envelope v2


def _problem(exc: RecordInvalid, field: str) -> models.Problem:
    hits = [p for p in exc.problems if p.field == field]
    assert hits, exc.problems
    return hits[0]


def test_schema_2_requires_community_code_on_child_kinds_schema_1_refuses_it() -> None:
    for kind in ("home_visit", "assessment", "retrofit", "meal_count"):
        data = base(kind)
        data.pop("community_code")
        with pytest.raises(RecordInvalid) as e:
            validate_record(kind, data)
        p = _problem(e.value, "community_code")
        assert (p.zh, p.en) == ("必填（社区代码）", "is required (payload schema 2)")
        old = validate_record(kind, data, schema=1)
        assert old.payload_schema == 1 and "community_code" not in old.payload()
        with pytest.raises(RecordInvalid) as e1:
            validate_record(kind, base(kind), schema=1)
        assert _problem(e1.value, "community_code").zh == "不是载荷结构1的字段（结构2才有）"


def test_elder_status_date_required_when_not_active_and_not_in_the_future() -> None:
    with pytest.raises(RecordInvalid) as e:
        validate_record("elder", elder_data(status="deceased"))
    p = _problem(e.value, "status_date")
    assert p.zh == "状态不是「在册」时须填写状态变更日期"
    assert p.en == "is required when status is not active"
    assert validate_record("elder", elder_data(status="deceased"), schema=1).payload_schema == 1
    ok = validate_record("elder", elder_data(status="deceased", status_date="2026-01-05"))
    assert ok.payload()["status_date"] == "2026-01-05"
    ctx = models.ValidationContext(today=date(2026, 1, 4))
    with pytest.raises(RecordInvalid) as e2:
        validate_record(
            "elder", elder_data(status="deceased", status_date="2026-01-05"), context=ctx
        )
    assert _problem(e2.value, "status_date").en == "2026-01-05 is in the future"
    with pytest.raises(RecordInvalid) as e3:
        validate_record("elder", elder_data(status="deceased", status_date="1940-01-01"))
    assert "早于出生日期" in _problem(e3.value, "status_date").zh


def test_moved_to_and_merged_into_only_with_their_status() -> None:
    with pytest.raises(RecordInvalid) as e:
        validate_record("elder", elder_data(moved_to="321202001902"))
    assert _problem(e.value, "moved_to").en == "only with status moved_out"
    with pytest.raises(RecordInvalid) as e2:
        validate_record(
            "elder",
            elder_data(status="moved_out", status_date="2025-01-01", moved_to=COMMUNITY),
        )
    assert _problem(e2.value, "moved_to").zh == "迁往社区不能是本社区"
    with pytest.raises(RecordInvalid) as e3:
        validate_record("elder", elder_data(merged_into=EID))
    assert _problem(e3.value, "merged_into").en == "only with status cancelled"
    ok = validate_record(
        "elder",
        elder_data(status="moved_out", status_date="2025-01-01", moved_to="321202001902"),
    )
    assert ok.payload()["moved_to"] == "321202001902"


def test_meal_slot_above_2000_is_refused_in_schema_2_only() -> None:
    data = base("meal_count") | {"dine_in": 99999, "delivery": 1, "pickup": 0}
    with pytest.raises(RecordInvalid) as e:
        validate_record("meal_count", data)
    p = _problem(e.value, "dine_in")
    assert p.zh == "本餐次合计 100000 人次超过 2000，疑为录入错误"
    assert models.MEAL_SLOT_MAX == 2000
    assert validate_record("meal_count", data | {"dine_in": 1999}).total == 2000  # type: ignore[attr-defined]
    data.pop("community_code")
    assert validate_record("meal_count", data, schema=1).total == 100000  # type: ignore[attr-defined]


def test_context_today_replaces_the_clock_for_future_dates() -> None:
    data = base("home_visit") | {"visit_date": "2026-03-02"}
    ctx = models.ValidationContext(today=date(2026, 3, 1))
    with pytest.raises(RecordInvalid) as e:
        validate_record("home_visit", data, context=ctx)
    assert _problem(e.value, "visit_date").en == "date 2026-03-02 is in the future"
    later = models.ValidationContext(today=date(2026, 3, 2))
    assert (
        validate_record("home_visit", data, context=later).payload()["visit_date"] == "2026-03-02"
    )


def _line(**over: Any) -> dict[str, Any]:
    payload = base("volunteer")
    line = {
        "kind": "volunteer",
        "record_id": EID,
        "version_id": VID,
        "parent_version_id": None,
        "hlc": "1767225600000-00000",
        "device_id": EID,
        "deleted": False,
        "payload": payload,
        "content_hash": models.content_hash(False, payload),
    }
    return line | over


def test_envelope_v2_also_parents_and_payload_schema() -> None:
    v, _ = validate_version(_line())
    assert v.also_parents == [] and v.payload_schema == 1
    other = "0193a1b2-8000-7000-8000-000000000003"
    v2, _ = validate_version(_line(also_parents=[other], payload_schema=2))
    assert v2.also_parents == [other] and v2.payload_schema == 2
    from fieldapp import lineage

    assert models.MAX_ALSO_PARENTS == lineage.MAX_ALSO_PARENTS == 16


@pytest.mark.parametrize(
    ("over", "field", "en"),
    [
        (
            {"parent_version_id": VID},
            "parent_version_id",
            "names the version itself (a version cannot be its own parent)",
        ),
        (
            {"also_parents": [VID]},
            "also_parents",
            "names the version itself (a version cannot be its own parent)",
        ),
        (
            {"parent_version_id": EID, "also_parents": [EID]},
            "also_parents",
            f"{EID} appears twice among the parents",
        ),
        (
            {"also_parents": [f"0193a1b2-8000-7000-8000-{i:012d}" for i in range(10, 27)]},
            "also_parents",
            "at most 16 entries",
        ),
        ({"also_parents": ["not-a-uuid"]}, "also_parents", "must be a UUID"),
        ({"payload_schema": 3}, "payload_schema", "must be one of 1 or 2"),
    ],
)
def test_envelope_v2_refusals_name_the_field(over: dict[str, Any], field: str, en: str) -> None:
    with pytest.raises(RecordInvalid) as e:
        validate_version(_line(**over))
    p = _problem(e.value, field)
    assert p.en == en and p.zh


_ID_TEXT = st.text(alphabet="0123456789Xx -–\u3000０１２９", max_size=20) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        _ID_TEXT,
        st.from_regex(r"\A[0-9]{17}[0-9X]\Z"),
        st.builds(  # nearly compact: the last character, or spaces around it
            lambda body, last, pre, post: pre + body + last + post,
            st.from_regex(r"\A[0-9]{17}\Z"),
            st.sampled_from("0123456789Xx -０\u3000"),
            st.sampled_from(["", " ", "\u3000"]),
            st.sampled_from(["", " ", "\n"]),
        ),
        st.builds(lambda d: make_id(d, d.day % 2 == 0, 7), st.dates(date(1880, 1, 1))),
    )
)
@example("32120219440312001x")
@example("32120219440312001 ")
@example("32120219440312001X ")
@example(" 32120219440312001X")
@example("3212021944031200１X")
@example("32120219440231001X")  # 31 February
def test_the_compact_id_fast_path_gives_what_stdnum_gives(text: str) -> None:
    """An ID number already compact is taken as it is, and its birth date read without compacting
    it again: the same as stdnum's compact() and get_birth_date() on any text."""
    from stdnum.cn import ric

    from fieldapp.models import elder

    assert models.normalise_id_number(text) == ric.compact(text).upper()
    v = models.normalise_id_number(text)
    if len(v) == 18 and v[:17].isdigit():
        try:
            expected: object = ric.get_birth_date(v)
        except ValueError:
            expected = ValueError
        try:
            got: object = elder._birth_date(v)
        except ValueError:
            got = ValueError
        assert got == expected


@pytest.mark.parametrize("kind", list(models.MODELS))
def test_a_records_payload_is_its_json_dump(kind: str) -> None:
    """Record.payload() calls pydantic's serializer directly: the same as model_dump(mode="json")
    for every kind, under payload schema 2 (schema 1 leaves its kind's v2 fields out)."""
    record = validate_record(kind, base(kind))
    assert record.payload() == record.model_dump(mode="json")
    assert json.dumps(record.payload(), sort_keys=True) == json.dumps(
        record.model_dump(mode="json"), sort_keys=True
    )
    v1 = {k: v for k, v in base(kind).items() if k not in type(record).V2_FIELDS}
    old = validate_record(kind, v1, schema=1)
    assert old.payload() == old.model_dump(mode="json", exclude=set(type(record).V2_FIELDS))
