"""The eight record kinds of SPEC §3 and the version envelope of SPEC §4, with every rule written once.

The form, the store, the bundle reader and the merge all validate with these models, so a rule
lives here and nowhere else. Field metadata (Chinese and English labels, catalogue, widget)
lets the TUI build its forms from the models.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from stdnum.cn import ric

from fieldapp import kinds, reference

SCHEMA_VERSION = 1  # version of the record payloads (SPEC §5 `schema_version`)

# ---------------------------------------------------------------- errors ----


def rule(field: str, zh: str, en: str) -> PydanticCustomError:
    """An error of one of our rules, naming the field, in Chinese and English."""
    return PydanticCustomError("fieldapp_rule", "{en}", {"field": field, "zh": zh, "en": en})


def today() -> date:
    return kinds.today()


@dataclass(frozen=True)
class Problem:
    field: str
    label_zh: str
    label_en: str
    zh: str
    en: str

    def text(self, lang: str = "zh") -> str:
        if lang == "en":
            return f"{self.label_en} ({self.field}): {self.en}"
        return f"{self.label_zh}（{self.field}）：{self.zh}"


class RecordInvalid(ValueError):
    """A record broke one or more rules; each problem names the field and the rule in zh and en."""

    def __init__(self, kind: str, problems: list[Problem]) -> None:
        self.kind, self.problems = kind, problems
        super().__init__(
            "；".join(p.text("zh") for p in problems)
            + " | "
            + "; ".join(p.text("en") for p in problems)
        )


_TRANSLATE: dict[str, tuple[str, str]] = {
    "missing": ("必填", "is required"),
    "none_required": ("必填", "is required"),
    "string_type": ("须为文字", "must be text"),
    "string_too_short": ("不能为空", "must not be empty"),
    "string_too_long": ("不能超过{max_length}个字", "must be at most {max_length} characters"),
    "int_parsing": ("须为整数", "must be a whole number"),
    "int_type": ("须为整数", "must be a whole number"),
    "int_from_float": ("须为整数", "must be a whole number"),
    "float_parsing": ("须为数字", "must be a number"),
    "decimal_parsing": ("须为数字", "must be a number"),
    "decimal_type": ("须为数字", "must be a number"),
    "decimal_max_places": ("最多{decimal_places}位小数", "at most {decimal_places} decimal places"),
    "decimal_max_digits": ("数字位数过多", "too many digits"),
    "greater_than_equal": ("不能小于{ge}", "must be ≥ {ge}"),
    "greater_than": ("须大于{gt}", "must be > {gt}"),
    "less_than_equal": ("不能大于{le}", "must be ≤ {le}"),
    "less_than": ("须小于{lt}", "must be < {lt}"),
    "literal_error": ("须为以下之一：{expected}", "must be one of {expected}"),
    "date_parsing": ("日期格式须为 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "date_from_datetime_parsing": ("日期格式须为 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "date_from_datetime_inexact": ("须为日期，不含时间", "must be a date without time"),
    "date_type": ("日期格式须为 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "bool_parsing": ("须为是或否", "must be true or false"),
    "bool_type": ("须为是或否", "must be true or false"),
    "list_type": ("须为列表", "must be a list"),
    "dict_type": ("须为键值表", "must be a mapping"),
    "model_type": ("须为对象", "must be an object"),
    "model_attributes_type": ("须为对象", "must be an object"),
    "too_short": ("至少{min_length}项", "needs at least {min_length} entries"),
    "too_long": ("最多{max_length}项", "at most {max_length} entries"),
    "extra_forbidden": ("不是此类记录的字段", "is not a field of this record"),
}


def _labels(model: type[BaseModel] | None, name: str) -> tuple[str, str]:
    if model is not None and name in model.model_fields:
        extra = model.model_fields[name].json_schema_extra
        if isinstance(extra, dict):
            return str(extra.get("label_zh", name)), str(extra.get("label_en", name))
    return name, name


def explain(exc: ValidationError, model: type[BaseModel] | None = None) -> list[Problem]:
    """Turn a pydantic ValidationError into problems a worker can read (field label + rule, zh/en)."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        loc = [str(p) for p in err["loc"]]
        if err["type"] == "fieldapp_rule":
            field = str(ctx.get("field") or (loc[0] if loc else ""))
            zh, en = str(ctx["zh"]), str(ctx["en"])
        else:
            field = loc[0] if loc else ""
            kind = err["type"]
            if err.get("input", "") is None and (kind.endswith("_type") or kind == "literal_error"):
                kind = "missing"  # a blank in a form arrives as None
            tzh, ten = _TRANSLATE.get(kind, ("不符合要求：{msg}", "{msg}"))
            fmt = {k: v for k, v in ctx.items()} | {"msg": err["msg"]}
            try:
                zh, en = tzh.format(**fmt), ten.format(**fmt)
            except (KeyError, IndexError):
                zh, en = f"不符合要求：{err['msg']}", err["msg"]
        label_zh, label_en = _labels(model, field)
        sub = loc[1:] if loc and loc[0] == field else []
        if sub:
            parts_zh = [f"第{int(p) + 1}项" if p.isdigit() else p for p in sub]
            parts_en = [f"#{int(p) + 1}" if p.isdigit() else p for p in sub]
            label_zh += " " + " ".join(parts_zh)
            label_en += " " + " ".join(parts_en)
        out.append(Problem(field, label_zh, label_en, zh, en))
    return out


# ------------------------------------------------------------ field kinds ----


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


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})$")


def _uuid(v: str) -> str:
    v = v.strip().lower()
    if not _UUID.match(v):
        raise PydanticCustomError(
            "fieldapp_rule",
            "{en}",
            {"field": "", "zh": "须为 UUID（记录编号）", "en": "must be a UUID"},
        )
    return v


def _time(v: str) -> str:
    if not _TIME.match(v):
        raise PydanticCustomError(
            "fieldapp_rule",
            "{en}",
            {
                "field": "",
                "zh": "时间格式须为 HH:MM（00:00–23:59）",
                "en": "must be a time HH:MM (00:00–23:59)",
            },
        )
    return v


def _phone(v: str) -> str:
    compact = v.replace(" ", "")
    if not _PHONE.match(compact):
        raise PydanticCustomError(
            "fieldapp_rule",
            "{en}",
            {
                "field": "",
                "zh": "须为11位手机号或带区号的固定电话（如0523-86123456）",
                "en": "must be an 11-digit mobile or a landline with area code (e.g. 0523-86123456)",
            },
        )
    return compact


def _community(v: str) -> str:
    if len(v) != 12 or not v.isdigit():
        raise PydanticCustomError(
            "fieldapp_rule",
            "{en}",
            {
                "field": "",
                "zh": "社区代码须为12位数字（街道9位+3位）",
                "en": "community code must be 12 digits (street 9 + 3)",
            },
        )
    return v


def _not_future(v: date) -> date:
    if v > today():
        raise PydanticCustomError(
            "fieldapp_rule",
            "{en}",
            {
                "field": "",
                "zh": f"日期 {v} 晚于今天，不能填写将来的日期",
                "en": f"date {v} is in the future",
            },
        )
    return v


def _blank_to_none(v: Any) -> Any:
    return None if isinstance(v, str) and not v.strip() else v


def _number_json(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


RecordId = Annotated[str, AfterValidator(_uuid)]
Time = Annotated[str, AfterValidator(_time)]
Phone = Annotated[str, AfterValidator(_phone)]
CommunityCode = Annotated[str, AfterValidator(_community)]
PastDate = Annotated[date, AfterValidator(_not_future)]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    PlainSerializer(_number_json, when_used="json"),
]
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
CATALOGUE_OF_TYPE: dict[str, Any] = {
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


def _no_duplicates(field: str, values: list[Any]) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise rule(field, f"「{v}」重复出现", f"{v!r} appears twice")
        seen.add(v)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _minutes(t: str) -> int:
    h, m = t.split(":")
    return int(h) * 60 + int(m)


# ----------------------------------------------------------------- records ----


class Record(BaseModel):
    """Common behaviour of the record kinds: strict fields, blanks are empty, rules on the model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=False)
    KIND: ClassVar[str]
    LABEL: ClassVar[tuple[str, str]]

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: _blank_to_none(v) for k, v in data.items()}
        return data

    def payload(self) -> dict[str, Any]:
        """The record's fields as they go into a version and a bundle (SPEC §5)."""
        return self.model_dump(mode="json")


def normalise_id_number(v: str) -> str:
    return ric.compact(v).upper()


def check_id_number(v: str) -> str:
    """GB 11643-1999: 17 digits + check character (ISO 7064 MOD 11-2) and a real birth date."""
    v = normalise_id_number(v)
    if len(v) != 18:
        raise rule(
            "id_number", f"身份证号须为18位，现为{len(v)}位", f"must be 18 characters, got {len(v)}"
        )
    if not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        raise rule(
            "id_number",
            "身份证号前17位须为数字，末位为数字或X",
            "first 17 characters must be digits, the last a digit or X",
        )
    if ric.calc_check_digit(v) != v[17]:
        raise rule(
            "id_number",
            "身份证号校验码不对，请核对每一位",
            "check digit does not match; check every digit",
        )
    try:
        born = ric.get_birth_date(v)
    except Exception:
        raise rule(
            "id_number",
            f"身份证号中的出生日期 {v[6:14]} 不是有效日期",
            f"birth date {v[6:14]} in the number is not a real date",
        ) from None
    if born > today() or born.year < 1880:
        raise rule(
            "id_number",
            f"身份证号中的出生日期 {born} 不合理",
            f"birth date {born} in the number is not plausible",
        )
    return v


def mask_id_number(v: str | None) -> str:
    return kinds.mask_id_number(v)


class Elder(Record):
    KIND = "elder"
    LABEL = kinds.LABELS["elder"]

    name: Text = F("姓名", "Name", max_length=50)
    id_number: str | None = F("身份证号", "ID number", None, widget="id_number")
    id_missing_reason: str | None = F(
        "无身份证号原因", "Reason ID number is missing", None, max_length=200
    )
    gender: Gender | None = F("性别", "Gender", None, catalogue="gender")
    birth_date: date | None = F("出生日期", "Birth date", None)
    phone: Phone | None = F("联系电话", "Phone", None)
    address: Text = F("住址", "Address")
    community_code: CommunityCode = F("社区", "Community", widget="community")
    living_status: LivingStatus = F("居住状况", "Living situation", catalogue="living_status")
    hardship_tags: list[HardshipTag] = F(
        "困难类别", "Hardship categories", [], catalogue="hardship_tags"
    )
    visit_risk: VisitRisk = F("探访风险等级", "Visit risk", catalogue="visit_risk")
    status: ElderStatus = F("状态", "Status", "active", catalogue="elder_status")
    emergency_contact_name: str | None = F("紧急联系人", "Emergency contact", None, max_length=50)
    emergency_contact_phone: Phone | None = F("紧急联系人电话", "Emergency contact phone", None)
    emergency_contact_relation: str | None = F(
        "与老人关系", "Relation to the elder", None, max_length=20
    )
    consent: Consent = F("信息采集依据", "Consent", catalogue="consent")
    notes: str | None = F("备注", "Notes", None, max_length=2000)

    @field_validator("id_number")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        return check_id_number(v) if v is not None else None

    @field_validator("birth_date")
    @classmethod
    def _born(cls, v: date | None) -> date | None:
        if v is not None and (v > today() or v.year < 1880):
            raise rule("birth_date", f"出生日期 {v} 不合理", f"birth date {v} is not plausible")
        return v

    @field_validator("hardship_tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        _no_duplicates("hardship_tags", v)
        return v

    @model_validator(mode="after")
    def _derive_from_id(self) -> Elder:
        if self.id_number:
            born = ric.get_birth_date(self.id_number)
            gender = "M" if int(self.id_number[16]) % 2 == 1 else "F"
            if self.birth_date is None:
                self.birth_date = born
            elif self.birth_date != born:
                raise rule(
                    "birth_date",
                    f"出生日期 {self.birth_date} 与身份证号中的 {born} 不一致",
                    f"{self.birth_date} disagrees with {born} in the ID number",
                )
            if self.gender is None:
                self.gender = gender  # type: ignore[assignment]
            elif self.gender != gender:
                want = "男" if gender == "M" else "女"
                raise rule(
                    "gender",
                    f"性别与身份证号不一致（身份证号第17位表示{want}）",
                    f"disagrees with the ID number (its 17th digit means {gender})",
                )
            if self.id_missing_reason:
                raise rule(
                    "id_missing_reason",
                    "已填身份证号时不填无证原因",
                    "must be empty when the ID number is given",
                )
        else:
            if not self.id_missing_reason:
                raise rule(
                    "id_number",
                    "请填写身份证号；确实没有时填写「无身份证号原因」",
                    "required unless id_missing_reason says why it is missing",
                )
            if self.gender is None:
                raise rule(
                    "gender", "没有身份证号时须填写性别", "required when there is no ID number"
                )
            if self.birth_date is None:
                raise rule(
                    "birth_date",
                    "没有身份证号时须填写出生日期",
                    "required when there is no ID number",
                )
        return self

    def age_on(self, d: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))


class HomeVisit(Record):
    KIND = "home_visit"
    LABEL = kinds.LABELS["home_visit"]

    elder_id: RecordId = F("老人", "Elder", widget="elder")
    visit_date: PastDate = F("服务日期", "Visit date")
    start_time: Time | None = F("开始时间", "Start time", None)
    end_time: Time | None = F("结束时间", "End time", None)
    duration_min: int | None = F("服务时长（分钟）", "Duration (minutes)", None, ge=0, le=720)
    service_type: ServiceType = F("服务类型", "Service type", catalogue="service_type")
    service_items: list[str] = F("服务内容", "Service items", [], catalogue="service_items")
    contact_mode: ContactMode = F("服务方式", "Contact mode", catalogue="contact_mode")
    funding: Funding = F("经费来源", "Funding", catalogue="funding")
    worker: Text = F("服务人员", "Worker", max_length=50)
    elder_condition: ElderCondition = F(
        "老人状况", "Elder's condition", catalogue="elder_condition"
    )
    issues: list[VisitIssue] = F("发现问题", "Issues found", [], catalogue="visit_issues")
    referral: Referral | None = F("转介", "Referral", None, catalogue="referral")
    satisfaction: int | None = F("满意度（1–5）", "Satisfaction (1–5)", None, ge=1, le=5)
    notes: str | None = F("备注", "Notes", None, max_length=2000)

    @model_validator(mode="after")
    def _rules(self) -> HomeVisit:
        if self.start_time and self.end_time:
            minutes = _minutes(self.end_time) - _minutes(self.start_time)
            if minutes < 0:
                raise rule(
                    "end_time",
                    f"结束时间 {self.end_time} 早于开始时间 {self.start_time}",
                    "is earlier than start_time",
                )
            if self.duration_min is None:
                self.duration_min = minutes
            elif self.duration_min != minutes:
                raise rule(
                    "duration_min",
                    f"时长 {self.duration_min} 分钟与起止时间算出的 {minutes} 分钟不一致",
                    f"{self.duration_min} disagrees with {minutes} computed from the times",
                )
        elif self.duration_min is None:
            raise rule(
                "duration_min",
                "必填（或同时填写开始和结束时间）",
                "is required (or give both start and end time)",
            )
        allowed = reference.load().service_items(self.service_type)
        for item in self.service_items:
            if item not in allowed:
                raise rule(
                    "service_items",
                    f"「{item}」不是服务类型 {self.service_type} 的服务内容",
                    f"{item!r} is not an item of service type {self.service_type}",
                )
        _no_duplicates("service_items", self.service_items)
        _no_duplicates("issues", list(self.issues))
        return self


class Assessment(Record):
    KIND = "assessment"
    LABEL = kinds.LABELS["assessment"]

    elder_id: RecordId = F("老人", "Elder", widget="elder")
    assess_date: PastDate = F("评估日期", "Assessment date")
    reason: AssessmentReason = F("评估原因", "Reason", catalogue="assessment_reason")
    assessors: list[Annotated[str, Field(min_length=1, max_length=50)]] = F(
        "评估员", "Assessors", min_length=1, max_length=2
    )
    score_self_care: int = F("自理能力得分（0–32）", "Self-care score (0–32)", ge=0, le=32)
    score_mobility: int = F("基础运动能力得分（0–15）", "Mobility score (0–15)", ge=0, le=15)
    score_mental: int = F("精神状态得分（0–28）", "Mental state score (0–28)", ge=0, le=28)
    score_perception_social: int = F(
        "感知觉与社会参与得分（0–15）", "Perception and social score (0–15)", ge=0, le=15
    )
    total: int | None = F("总分", "Total", None, ge=0, le=90, widget="computed")
    coma: bool = F("昏迷", "Coma", False)
    dementia_dx: bool = F("确诊痴呆/精神疾病", "Dementia or mental illness diagnosed", False)
    risk_events_30d: int = F("近30天风险事件次数", "Risk events in 30 days", 0, ge=0, le=100)
    level: Level | None = F("能力等级", "Level", None, catalogue="assessment_level")
    override_reason: str | None = F(
        "调整等级原因", "Reason for overriding the level", None, max_length=500
    )
    next_due: date | None = F("下次评估日期", "Next assessment due", None)

    def computed_total(self) -> int:
        return (
            self.score_self_care
            + self.score_mobility
            + self.score_mental
            + self.score_perception_social
        )

    def computed_level(self) -> str:
        """Level from the score bands, raised by the adjustments of seed/rules.json (both configurable)."""
        ref = reference.load()
        rules = ref.rules["assessment"]
        if self.coma:
            return str(rules["coma_level"])
        level = ref.level_for_total(self.computed_total())
        raise_it = (rules.get("raise_one_level_if_dementia_dx") and self.dementia_dx) or (
            self.risk_events_30d >= int(rules.get("raise_one_level_if_risk_events_at_least", 10**9))
        )
        if raise_it:
            order = reference.LEVEL_ORDER
            level = order[min(order.index(level) + 1, len(order) - 1)]
        return level

    @model_validator(mode="after")
    def _rules(self) -> Assessment:
        total = self.computed_total()
        if self.total is None:
            self.total = total
        elif self.total != total:
            raise rule(
                "total",
                f"总分 {self.total} 与四项得分之和 {total} 不一致",
                f"{self.total} is not the sum of the four scores ({total})",
            )
        computed = self.computed_level()
        if self.level is None:
            self.level = computed  # type: ignore[assignment]
        elif self.level != computed and not self.override_reason:
            raise rule(
                "override_reason",
                f"按得分应为「{computed}」，改为「{self.level}」须填写调整原因",
                f"level {self.level} differs from the computed {computed}: give override_reason",
            )
        months = int(reference.load().rules["assessment"]["next_due_months"])
        if self.next_due is None:
            self.next_due = add_months(self.assess_date, months)
        elif self.next_due <= self.assess_date:
            raise rule("next_due", "下次评估日期须晚于评估日期", "must be after assess_date")
        _no_duplicates("assessors", self.assessors)
        return self


class RetrofitItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = F("改造项目", "Item", catalogue="retrofit_item")
    qty: Annotated[
        Decimal,
        Field(gt=0, max_digits=8, decimal_places=2),
        PlainSerializer(_number_json, when_used="json"),
    ] = F("数量", "Quantity")
    unit_price: Money = F("单价（元）", "Unit price (yuan)")

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if v not in reference.load().codes("retrofit_item"):
            raise rule(
                "items", f"「{v}」不在30项改造清单中", f"{v!r} is not in the retrofit item list"
            )
        return v


RETROFIT_DATES = ("apply_date", "assess_date", "start_date", "accept_date")


class Retrofit(Record):
    KIND = "retrofit"
    LABEL = kinds.LABELS["retrofit"]

    elder_id: RecordId = F("老人（户）", "Elder (household)", widget="elder")
    project_year: int = F("项目年度", "Project year", ge=2015, le=2100)
    funding_type: RetrofitFunding = F("资金来源", "Funding", catalogue="retrofit_funding")
    status: RetrofitStatus = F("进度", "Status", catalogue="retrofit_status")
    apply_date: PastDate | None = F("申请日期", "Applied on", None)
    assess_date: PastDate | None = F("入户评估日期", "Assessed on", None)
    start_date: PastDate | None = F("开工日期", "Work started on", None)
    accept_date: PastDate | None = F("验收日期", "Inspected on", None)
    contractor: str | None = F("施工单位", "Contractor", None, max_length=100)
    items: list[RetrofitItem] = F("改造项目", "Items", [], widget="retrofit_items")
    cost_total: Money = F("总费用（元）", "Total cost (yuan)", Decimal(0))
    subsidy: Money = F("补贴（元）", "Subsidy (yuan)", Decimal(0))
    self_paid: Money = F("自付（元）", "Paid by household (yuan)", Decimal(0))
    notes: str | None = F("备注", "Notes", None, max_length=2000)

    @model_validator(mode="after")
    def _rules(self) -> Retrofit:
        ref = reference.load()
        status = ref.entry("retrofit_status", self.status)
        needed = status.extra.get("date_field") if status else None
        if needed and getattr(self, needed) is None:
            label = dict(
                zip(
                    RETROFIT_DATES,
                    ("申请日期", "入户评估日期", "开工日期", "验收日期"),
                    strict=True,
                )
            )[needed]
            raise rule(
                needed,
                f"进度为「{status.zh if status else self.status}」时须填写{label}",
                f"is required when status is {self.status}",
            )
        last: tuple[str, date] | None = None
        for name in RETROFIT_DATES:
            d = getattr(self, name)
            if d is None:
                continue
            if last and d < last[1]:
                raise rule(
                    name,
                    f"{d} 早于 {last[0]} 的 {last[1]}；日期须按申请→评估→开工→验收的顺序",
                    f"{d} is before {last[0]} {last[1]}: dates must not go backwards",
                )
            last = (name, d)
        if self.cost_total != self.subsidy + self.self_paid:
            raise rule(
                "cost_total",
                f"总费用 {self.cost_total} 须等于补贴 {self.subsidy} + 自付 {self.self_paid}",
                f"{self.cost_total} must equal subsidy {self.subsidy} + self_paid {self.self_paid}",
            )
        _no_duplicates("items", [i.code for i in self.items])
        items_sum = sum((i.qty * i.unit_price for i in self.items), Decimal(0)).quantize(
            Decimal("0.01")
        )
        if self.items and self.cost_total > 0 and items_sum != self.cost_total:
            raise rule(
                "cost_total",
                f"总费用 {self.cost_total} 与各项目数量×单价之和 {items_sum} 不一致",
                f"{self.cost_total} differs from the items' sum {items_sum}",
            )
        if self.status == "accepted" and not self.items:
            raise rule(
                "items",
                "验收合格的改造须至少列出一个改造项目",
                "an accepted retrofit needs at least one item",
            )
        return self


class MealPoint(Record):
    KIND = "meal_point"
    LABEL = kinds.LABELS["meal_point"]

    name: Text = F("助餐点名称", "Name", max_length=100)
    community_code: CommunityCode = F("社区", "Community", widget="community")
    kind: MealPointKind = F("类型", "Kind", catalogue="meal_point_kind")
    modes: list[MealMode] = F("服务方式", "Service modes", catalogue="meal_mode", min_length=1)
    capacity_daily: int = F("日供餐能力（人次）", "Daily capacity (servings)", ge=0, le=100000)
    status: MealPointStatus = F("状态", "Status", "open", catalogue="meal_point_status")

    @field_validator("modes")
    @classmethod
    def _modes(cls, v: list[str]) -> list[str]:
        _no_duplicates("modes", v)
        return v


class MealCount(Record):
    KIND = "meal_count"
    LABEL = kinds.LABELS["meal_count"]

    point_id: RecordId = F("助餐点", "Meal point", widget="meal_point")
    service_date: PastDate = F("日期", "Date")
    meal: Meal = F("餐次", "Meal", catalogue="meal")
    dine_in: int = F("堂食", "Dine-in", 0, ge=0, le=100000)
    delivery: int = F("送餐", "Delivery", 0, ge=0, le=100000)
    pickup: int = F("自取", "Pick-up", 0, ge=0, le=100000)
    subsidized: dict[str, Annotated[int, Field(ge=0, le=100000)]] = F(
        "享受补贴人次", "Subsidized servings", {}, catalogue="meal_subsidy"
    )
    notes: str | None = F("备注", "Notes", None, max_length=2000)

    @property
    def total(self) -> int:
        return self.dine_in + self.delivery + self.pickup

    @model_validator(mode="after")
    def _rules(self) -> MealCount:
        known = reference.load().codes("meal_subsidy")
        for k in self.subsidized:
            if k not in known:
                raise rule(
                    "subsidized",
                    f"补贴类别「{k}」不在目录中",
                    f"subsidy category {k!r} is not in the catalogue",
                )
        sub = sum(self.subsidized.values())
        if sub > self.total:
            raise rule(
                "subsidized",
                f"享受补贴 {sub} 人次多于合计 {self.total} 人次",
                f"{sub} subsidized servings exceed the total {self.total}",
            )
        return self


class Volunteer(Record):
    KIND = "volunteer"
    LABEL = kinds.LABELS["volunteer"]

    name: Text = F("姓名", "Name", max_length=50)
    phone: Phone | None = F("联系电话", "Phone", None)
    platform_no: str | None = F(
        "江苏志愿服务平台编号", "Jiangsu volunteer platform no.", None, max_length=40
    )
    community_code: CommunityCode = F("社区", "Community", widget="community")


Hours = Annotated[Decimal, Field(gt=0, le=24), PlainSerializer(_number_json, when_used="json")]


class Participant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    volunteer_id: RecordId = F("志愿者", "Volunteer", widget="volunteer")
    hours: Hours = F("服务时长（小时）", "Hours")

    @field_validator("hours")
    @classmethod
    def _half_hours(cls, v: Decimal) -> Decimal:
        if (v * 2) != (v * 2).to_integral_value():
            raise rule(
                "participants",
                f"服务时长 {v} 小时须为0.5小时的整数倍",
                f"{v} hours must be a multiple of 0.5",
            )
        return v


class VolunteerEvent(Record):
    KIND = "volunteer_event"
    LABEL = kinds.LABELS["volunteer_event"]

    title: Text = F("活动名称", "Title", max_length=100)
    event_date: date = F("活动日期", "Event date")
    start_time: Time | None = F("开始时间", "Start time", None)
    end_time: Time | None = F("结束时间", "End time", None)
    community_code: CommunityCode = F("社区", "Community", widget="community")
    location: str | None = F("地点", "Location", None, max_length=200)
    organizer: str | None = F("组织单位", "Organizer", None, max_length=100)
    category: VolunteerCategory = F("活动类别", "Category", catalogue="volunteer_category")
    beneficiaries: int | None = F("服务老人数", "Elders served", None, ge=0, le=100000)
    status: EventStatus = F("状态", "Status", "planned", catalogue="event_status")
    participants: list[Participant] = F("参与志愿者", "Participants", [], widget="participants")

    def points(self, p: Participant) -> Decimal:
        """Points are computed, never typed: hours × the category's coefficient (seed)."""
        return (p.hours * Decimal(str(reference.load().coefficient(self.category)))).quantize(
            Decimal("0.01")
        )

    @model_validator(mode="after")
    def _rules(self) -> VolunteerEvent:
        if self.status != "planned" and self.event_date > today():
            raise rule(
                "event_date",
                f"状态为已开展/已取消的活动日期 {self.event_date} 不能晚于今天",
                f"{self.event_date} is in the future but status is {self.status}",
            )
        span = None
        if self.start_time and self.end_time:
            span = _minutes(self.end_time) - _minutes(self.start_time)
            if span <= 0:
                raise rule(
                    "end_time",
                    f"结束时间 {self.end_time} 须晚于开始时间 {self.start_time}",
                    "must be after start_time",
                )
        _no_duplicates("participants", [p.volunteer_id for p in self.participants])
        for p in self.participants:
            if span is not None and p.hours * 60 > span:
                raise rule(
                    "participants",
                    f"服务时长 {p.hours} 小时超过活动时长 {span / 60:g} 小时",
                    f"{p.hours} hours exceed the event's {span / 60:g} hours",
                )
        if (
            self.status == "planned"
            and self.participants
            and any(p.hours for p in self.participants)
            and self.event_date > today()
        ):
            raise rule(
                "participants",
                "未开展的活动不能登记服务时长",
                "a future planned event cannot have hours yet",
            )
        return self


MODELS: dict[str, type[Record]] = {
    m.KIND: m
    for m in (
        Elder,
        HomeVisit,
        Assessment,
        Retrofit,
        MealPoint,
        MealCount,
        Volunteer,
        VolunteerEvent,
    )
}
Kind = Literal[
    "elder",
    "home_visit",
    "assessment",
    "retrofit",
    "meal_point",
    "meal_count",
    "volunteer",
    "volunteer_event",
]


def validate_record(kind: str, data: dict[str, Any] | Record) -> Record:
    """Validate `data` as a record of `kind`; raise RecordInvalid naming each field and rule."""
    model = MODELS.get(kind)
    if model is None:
        raise RecordInvalid(
            kind,
            [
                Problem(
                    "kind",
                    "记录类型",
                    "kind",
                    f"未知的记录类型「{kind}」",
                    f"unknown record kind {kind!r}",
                )
            ],
        )
    if isinstance(data, model):
        return data
    raw = data.model_dump() if isinstance(data, BaseModel) else data
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise RecordInvalid(kind, explain(e, model)) from None


# -------------------------------------------------------------- versions ----


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(deleted: bool, payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of {deleted, payload} (SPEC §4)."""
    return content_hash_of(deleted, canonical_json(payload))


def content_hash_of(deleted: bool, payload_json: str) -> str:
    """The same from the payload's canonical JSON text: sorted keys put "deleted" before "payload",
    so the whole is the two pieces joined (the payload is encoded once, not twice)."""
    text = '{"deleted":' + ("true" if deleted else "false") + ',"payload":' + payload_json + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


HLC_RE = re.compile(r"^\d{13}-\d{5}$")


def _hlc(v: str) -> str:
    if not HLC_RE.match(v):
        raise rule(
            "hlc", "时钟值须为「13位毫秒-5位计数」", "must be <13-digit ms>-<5-digit counter>"
        )
    return v


def _sha(v: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", v):
        raise rule(
            "content_hash",
            "须为64位小写十六进制 SHA-256",
            "must be 64 lower-case hex digits (SHA-256)",
        )
    return v


class Version(BaseModel):
    """The envelope of one save (SPEC §4); the payload is checked by the kind's model."""

    model_config = ConfigDict(extra="forbid")
    _payload_json: str = PrivateAttr(default="")

    kind: Kind
    record_id: RecordId
    version_id: RecordId
    parent_version_id: RecordId | None = None
    hlc: Annotated[str, AfterValidator(_hlc)]
    device_id: RecordId
    deleted: bool
    content_hash: Annotated[str, AfterValidator(_sha)]
    payload: dict[str, Any]

    @model_validator(mode="after")
    def _hash(self) -> Version:
        self._payload_json = canonical_json(self.payload)
        expect = content_hash_of(self.deleted, self._payload_json)
        if expect != self.content_hash:
            raise rule(
                "content_hash",
                "内容摘要与内容不符（数据被改动或损坏）",
                f"does not match the content (expected {expect[:12]}…)",
            )
        return self

    @property
    def payload_json(self) -> str:
        """The payload's canonical JSON, as hashed and as stored."""
        return self._payload_json

    def record(self) -> Record:
        return validate_record(self.kind, self.payload)


def validate_version(data: dict[str, Any]) -> tuple[Version, Record]:
    """Envelope and payload, as the merge and the bundle reader need them."""
    try:
        v = Version.model_validate(data)
    except ValidationError as e:
        raise RecordInvalid(str(data.get("kind", "?")), explain(e, Version)) from None
    return v, v.record()
