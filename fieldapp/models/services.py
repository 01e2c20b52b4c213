"""The records of what is done for one elder: home visits, capability assessments, retrofits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fieldapp import kinds, reference
from fieldapp.models.base import Record
from fieldapp.models.fields import (
    AssessmentReason,
    CommunityCode,
    ContactMode,
    ElderCondition,
    F,
    Funding,
    Level,
    Money,
    PastDate,
    Quantity,
    RecordId,
    Referral,
    RetrofitFunding,
    RetrofitStatus,
    ServiceType,
    Text,
    Time,
    VisitIssue,
)
from fieldapp.models.rules import Broken, add_months, minutes_of, rule


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
    community_code: CommunityCode | None = F(
        "社区", "Community", None, widget="computed"
    )  # schema 2: the elder's community when the record is made (filled by the store)

    V2_FIELDS = ("community_code",)

    @model_validator(mode="after")
    def _rules(self) -> HomeVisit:
        broken = Broken()
        if self.start_time and self.end_time:
            minutes = minutes_of(self.end_time) - minutes_of(self.start_time)
            if minutes < 0:
                broken.add(
                    "end_time",
                    f"结束时间 {self.end_time} 早于开始时间 {self.start_time}",
                    "is earlier than start_time",
                )
            elif self.duration_min is None:
                self.duration_min = minutes
            elif self.duration_min != minutes:
                broken.add(
                    "duration_min",
                    f"时长 {self.duration_min} 分钟与起止时间算出的 {minutes} 分钟不一致",
                    f"{self.duration_min} disagrees with {minutes} computed from the times",
                )
        elif self.duration_min is None:
            broken.add(
                "duration_min",
                "必填（或同时填写开始和结束时间）",
                "is required (or give both start and end time)",
                uses=("start_time", "end_time"),
            )
        ref = reference.load()
        allowed = ref.service_items(self.service_type)
        for item in self.service_items:
            if item not in allowed:
                zh, en = (ref.label("service_type", self.service_type, x) for x in ("zh", "en"))
                broken.add(
                    "service_items",
                    f"「{item}」不是服务类型「{zh}」的服务内容",
                    f"{item!r} is not an item of service type {en!r}",
                    uses=("service_type",),
                )
        broken.dupes("service_items", self.service_items)
        broken.dupes("issues", list(self.issues))
        broken.report()
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
    community_code: CommunityCode | None = F(
        "社区", "Community", None, widget="computed"
    )  # schema 2: the elder's community when the record is made (filled by the store)

    V2_FIELDS = ("community_code",)

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
        broken = Broken()
        with broken.each():  # the sum and the level need every score
            self._total_and_level(broken)
        months = int(reference.load().rules["assessment"]["next_due_months"])
        if self.next_due is None:
            self.next_due = add_months(self.assess_date, months)
        elif self.next_due <= self.assess_date:
            broken.add(
                "next_due",
                "下次评估日期须晚于评估日期",
                "must be after assess_date",
                uses=("assess_date",),
            )
        broken.dupes("assessors", self.assessors)
        broken.report()
        return self

    def _total_and_level(self, broken: Broken) -> None:
        total = self.computed_total()
        if self.total is None:
            self.total = total
        elif self.total != total:
            broken.add(
                "total",
                f"总分 {self.total} 与四项得分之和 {total} 不一致",
                f"{self.total} is not the sum of the four scores ({total})",
            )
        computed = self.computed_level()
        if self.level is None:
            self.level = computed  # type: ignore[assignment]
        elif self.level != computed and not self.override_reason:
            ref = reference.load()
            want, got = (ref.label("assessment_level", x) for x in (computed, self.level))
            want_en, got_en = (
                ref.label("assessment_level", x, "en") for x in (computed, self.level)
            )
            broken.add(
                "override_reason",
                f"按得分应为「{want}」，改为「{got}」须填写调整原因",
                f"the level {got_en!r} differs from {want_en!r} computed from the scores:"
                " give the reason for the change",
            )


class RetrofitItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = F("改造项目", "Item", catalogue="retrofit_item")
    qty: Quantity = F("数量", "Quantity")
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
    community_code: CommunityCode | None = F(
        "社区", "Community", None, widget="computed"
    )  # schema 2: the elder's community when the record is made (filled by the store)

    V2_FIELDS = ("community_code",)

    @model_validator(mode="after")
    def _rules(self) -> Retrofit:
        broken = Broken()
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
            broken.add(
                needed,
                f"进度为「{status.zh if status else self.status}」时须填写{label}",
                f"is required when the status is {status.en if status else self.status!r}",
            )
        last: tuple[str, date] | None = None
        for name in RETROFIT_DATES:
            d = getattr(self, name)
            if d is None:
                continue
            if last and d < last[1]:
                broken.add(
                    name,
                    f"{d} 早于 {last[0]} 的 {last[1]}；日期须按申请→评估→开工→验收的顺序",
                    f"{d} is before {last[0]} {last[1]}: dates must not go backwards",
                )
            last = (name, d)
        with broken.each():
            if self.cost_total != self.subsidy + self.self_paid:
                broken.add(
                    "cost_total",
                    f"总费用 {self.cost_total} 须等于补贴 {self.subsidy} + 自付 {self.self_paid}",
                    f"{self.cost_total} must equal subsidy {self.subsidy} + self_paid {self.self_paid}",
                    uses=("subsidy", "self_paid"),
                )
        with broken.each():
            broken.dupes("items", [i.code for i in self.items])
            items_sum = sum((i.qty * i.unit_price for i in self.items), Decimal(0)).quantize(
                Decimal("0.01")
            )
            if self.items and self.cost_total > 0 and items_sum != self.cost_total:
                broken.add(
                    "cost_total",
                    f"总费用 {self.cost_total} 与各项目数量×单价之和 {items_sum} 不一致",
                    f"{self.cost_total} differs from the items' sum {items_sum}",
                    uses=("items",),
                )
        if self.status == "accepted" and not self.items:
            broken.add(
                "items",
                "验收合格的改造须至少列出一个改造项目",
                "an accepted retrofit needs at least one item",
            )
        broken.report()
        return self
