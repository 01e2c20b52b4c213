"""The field types the record kinds are built from: labelled fields, checked strings, code lists.

A type carries its rule (a UUID, an HH:MM time, a phone number, a community code, a date not in
the future), so a model that declares `phone: Phone` cannot forget to check it.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PlainSerializer

from fieldapp.models.rules import rule, today


def F(
    zh: str,
    en: str,
    default: Any = ...,
    *,
    catalogue: str | None = None,
    widget: str | None = None,
    **kw: Any,
) -> Any:
    """A model field with its labels (zh/en), its catalogue and widget for the forms."""
    extra: dict[str, Any] = {"label_zh": zh, "label_en": en}
    if catalogue:
        extra["catalogue"] = catalogue
    if widget:
        extra["widget"] = widget
    if default is ...:
        return Field(json_schema_extra=extra, **kw)
    if isinstance(default, list | dict):
        factory = list if isinstance(default, list) else dict
        return Field(default_factory=factory, json_schema_extra=extra, **kw)
    return Field(default, json_schema_extra=extra, **kw)


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})$")


def _uuid(v: str) -> str:
    v = v.strip().lower()
    if not UUID_RE.match(v):
        raise rule("", "须为 UUID（记录编号）", "must be a UUID")
    return v


def _time(v: str) -> str:
    if not _TIME.match(v):
        raise rule("", "时间格式须为 HH:MM（00:00–23:59）", "must be a time HH:MM (00:00–23:59)")
    return v


def _phone(v: str) -> str:
    compact = v.replace(" ", "")
    if not _PHONE.match(compact):
        raise rule(
            "",
            "须为11位手机号或带区号的固定电话（如0523-86123456）",
            "must be an 11-digit mobile or a landline with area code (e.g. 0523-86123456)",
        )
    return compact


def _community(v: str) -> str:
    if len(v) != 12 or not v.isdigit():
        raise rule(
            "",
            "社区代码须为12位数字（街道9位+3位）",
            "community code must be 12 digits (street 9 + 3)",
        )
    return v


def _not_future(v: date) -> date:
    if v > today():
        raise rule("", f"日期 {v} 晚于今天，不能填写将来的日期", f"date {v} is in the future")
    return v


def blank_to_none(v: Any) -> Any:
    """A blank in a form means "not given", whatever the field's type."""
    return None if isinstance(v, str) and not v.strip() else v


def number_json(d: Decimal) -> int | float:
    """Money and hours go into JSON as numbers (2, 2.5), as SPEC §5 writes them."""
    return int(d) if d == d.to_integral_value() else float(d)


RecordId = Annotated[str, AfterValidator(_uuid)]
Time = Annotated[str, AfterValidator(_time)]
Phone = Annotated[str, AfterValidator(_phone)]
CommunityCode = Annotated[str, AfterValidator(_community)]
PastDate = Annotated[date, AfterValidator(_not_future)]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(number_json, when_used="json"),
]
Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=8, decimal_places=2),
    PlainSerializer(number_json, when_used="json"),
]
Hours = Annotated[Decimal, Field(gt=0, le=24), PlainSerializer(number_json, when_used="json")]
Text = Annotated[str, Field(min_length=1, max_length=200)]

Gender = Literal["M", "F"]
LivingStatus = Literal["alone", "empty_nest", "with_children", "left_behind", "other"]
HardshipTag = Literal[
    "extreme_poverty",
    "dibao",
    "near_dibao",
    "special_family",
    "severe_disability",
    "disabled",
    "dementia",
    "other",
]
VisitRisk = Literal["high", "priority", "general"]
ElderStatus = Literal["active", "moved_out", "deceased", "cancelled"]
Consent = Literal["consented", "statutory_duty", "none", "withdrawn"]
ServiceType = Literal[
    "daily_visit", "life_care", "meal_clean", "travel_assist", "emergency", "care_patrol"
]
ContactMode = Literal["in_person", "phone", "video", "third_party"]
Funding = Literal["gov_purchase", "self_paid", "volunteer", "other"]
ElderCondition = Literal["good", "fair", "poor", "abnormal"]
VisitIssue = Literal["health", "safety", "living", "emotional", "family_neglect"]
Referral = Literal["none", "medical", "assistance", "retrofit", "meal", "other"]
AssessmentReason = Literal["initial", "routine", "change", "service"]
Level = Literal["intact", "mild", "moderate", "severe", "total"]
RetrofitFunding = Literal["subsidized", "self_paid", "donated"]
RetrofitStatus = Literal[
    "applied", "assessed", "planned", "in_progress", "accepted", "failed", "cancelled"
]
MealPointKind = Literal["canteen", "meal_point", "central_kitchen", "restaurant", "neighbour"]
MealMode = Literal["dine_in", "delivery", "pickup"]
MealPointStatus = Literal["open", "paused", "closed"]
Meal = Literal["breakfast", "lunch", "dinner"]
VolunteerCategory = Literal[
    "companionship",
    "meal_delivery",
    "cleaning",
    "health_clinic",
    "haircut",
    "culture",
    "policy_publicity",
    "anti_fraud",
    "other",
]
EventStatus = Literal["planned", "done", "cancelled"]

# The catalogue in seed/ that labels each code list (a test keeps both in step).
CATALOGUE_OF_TYPE: dict[str, object] = {
    "gender": Gender,
    "living_status": LivingStatus,
    "hardship_tags": HardshipTag,
    "visit_risk": VisitRisk,
    "elder_status": ElderStatus,
    "consent": Consent,
    "service_type": ServiceType,
    "contact_mode": ContactMode,
    "funding": Funding,
    "elder_condition": ElderCondition,
    "visit_issues": VisitIssue,
    "referral": Referral,
    "assessment_reason": AssessmentReason,
    "assessment_level": Level,
    "retrofit_funding": RetrofitFunding,
    "retrofit_status": RetrofitStatus,
    "meal_point_kind": MealPointKind,
    "meal_mode": MealMode,
    "meal_point_status": MealPointStatus,
    "meal": Meal,
    "volunteer_category": VolunteerCategory,
    "event_status": EventStatus,
}
