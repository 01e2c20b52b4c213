"""The community's records: meal points and their daily counts, volunteers and their events."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fieldapp import kinds, reference
from fieldapp.models.base import Record
from fieldapp.models.fields import (
    CommunityCode,
    EventStatus,
    F,
    Hours,
    Meal,
    MealMode,
    MealPointKind,
    MealPointStatus,
    PastDate,
    Phone,
    RecordId,
    Text,
    Time,
    VolunteerCategory,
)
from fieldapp.models.rules import Broken, minutes_of, no_duplicates, rule, schema_of, today

MEAL_SLOT_MAX = 2000  # schema 2: a slot's total above this is a typing error (SPEC §3 v2)


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
        no_duplicates("modes", v)
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
    # payload schema 2: the point's community (filled by the store), the capacity confirmation
    community_code: CommunityCode | None = F("社区", "Community", None, widget="computed")
    over_capacity_confirmed: bool = F("已确认超出供餐能力", "Over capacity confirmed", False)

    V2_FIELDS = ("community_code", "over_capacity_confirmed")

    @property
    def total(self) -> int:
        return self.dine_in + self.delivery + self.pickup

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> MealCount:
        broken = Broken()
        with broken.each():  # the total needs the three counts
            if schema_of(info) >= 2 and self.total > MEAL_SLOT_MAX:
                biggest = max(
                    ("dine_in", "delivery", "pickup"), key=lambda f: int(getattr(self, f))
                )
                broken.add(
                    biggest,
                    f"本餐次合计 {self.total} 人次超过 {MEAL_SLOT_MAX}，疑为录入错误",
                    f"the slot's total {self.total} exceeds {MEAL_SLOT_MAX}: a typing error?",
                )
        known = reference.load().codes("meal_subsidy")
        for k in self.subsidized:
            if k not in known:
                broken.add(
                    "subsidized",
                    f"补贴类别「{k}」不在目录中",
                    f"subsidy category {k!r} is not in the catalogue",
                )
        with broken.each():
            sub = sum(self.subsidized.values())
            if sub > self.total:
                broken.add(
                    "subsidized",
                    f"享受补贴 {sub} 人次多于合计 {self.total} 人次",
                    f"{sub} subsidized servings exceed the total {self.total}",
                )
        broken.report()
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
        broken = Broken()
        with broken.each():  # a blank date
            if self.status != "planned" and self.event_date > today():
                status = reference.load().label("event_status", self.status, "en")
                broken.add(
                    "event_date",
                    f"状态为已开展/已取消的活动日期 {self.event_date} 不能晚于今天",
                    f"{self.event_date} is in the future but the status is {status}",
                    uses=("status",),
                )
        span = None
        if self.start_time and self.end_time:
            span = minutes_of(self.end_time) - minutes_of(self.start_time)
            if span <= 0:
                broken.add(
                    "end_time",
                    f"结束时间 {self.end_time} 须晚于开始时间 {self.start_time}",
                    "must be after start_time",
                )
        with broken.each():  # a blank line of hours, or no list at all
            self._participant_rules(broken, span)
        broken.report()
        return self

    def _participant_rules(self, broken: Broken, span: int | None) -> None:
        broken.dupes("participants", [p.volunteer_id for p in self.participants])
        for p in self.participants:
            if span is not None and span > 0 and p.hours * 60 > span:
                broken.add(
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
            broken.add(
                "participants",
                "未开展的活动不能登记服务时长",
                "a future planned event cannot have hours yet",
            )
