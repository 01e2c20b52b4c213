"""The elder's record (SPEC §3.1) and the GB 11643 ID number it is checked and derived from."""

from __future__ import annotations

import re
from datetime import date

from pydantic import ValidationInfo, field_validator, model_validator
from stdnum.cn import ric

from fieldapp import kinds
from fieldapp.models.base import Record
from fieldapp.models.fields import (
    CommunityCode,
    Consent,
    ElderStatus,
    F,
    Gender,
    HardshipTag,
    LivingStatus,
    Phone,
    RecordId,
    Text,
    VisitRisk,
)
from fieldapp.models.rules import Broken, no_duplicates, rule, schema_of, today

# an ID number already in its compact form: stdnum's compact() returns it as it is (issue 20: a
# merge validates about 40,000 elders, and compact() walks the text character by character)
_COMPACT = re.compile(r"[0-9]{17}[0-9X]")


def normalise_id_number(v: str) -> str:
    return v if _COMPACT.fullmatch(v) else ric.compact(v).upper()


def _birth_date(v: str) -> date:
    """`ric.get_birth_date` of a compact number (digits 7–14), without compacting it again;
    ValueError for a date that does not exist."""
    return date(int(v[6:10]), int(v[10:12]), int(v[12:14]))


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
        born = _birth_date(v)
    except ValueError:
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


def from_id(number: str) -> tuple[date, Gender]:
    """Birth date and gender an ID number says (GB 11643: digits 7–14, the 17th odd for men); the
    record and the form both read them here."""
    v = normalise_id_number(number)
    return _birth_date(v), "M" if int(v[16]) % 2 == 1 else "F"


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
    # payload schema 2 (SPEC §3 v2)
    status_date: date | None = F("状态变更日期", "Status since", None)
    moved_to: CommunityCode | None = F("迁往社区", "Moved to community", None, widget="community")
    merged_into: RecordId | None = F("合并至", "Merged into", None, widget="computed")
    under_60_confirmed: bool = F("已确认未满60岁", "Under 60 confirmed", False)

    V2_FIELDS = ("status_date", "moved_to", "merged_into", "under_60_confirmed")

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
        no_duplicates("hardship_tags", v)
        return v

    @model_validator(mode="after")
    def _derive_from_id(self) -> Elder:
        broken = Broken()
        if self.id_number:
            self._agree_with_id(self.id_number, broken)
        else:
            if not self.id_missing_reason:
                broken.add(
                    "id_number",
                    "请填写身份证号；确实没有时填写「无身份证号原因」",
                    "required unless id_missing_reason says why it is missing",
                )
            if self.gender is None:
                broken.add(
                    "gender",
                    "没有身份证号时须填写性别",
                    "required when there is no ID number",
                    uses=("id_number",),
                )
            if self.birth_date is None:
                broken.add(
                    "birth_date",
                    "没有身份证号时须填写出生日期",
                    "required when there is no ID number",
                    uses=("id_number",),
                )
        broken.report()
        return self

    def _agree_with_id(self, number: str, broken: Broken) -> None:
        """Birth date and gender come from the ID number, or must agree with it."""
        born, gender = from_id(number)
        if self.birth_date is None:
            self.birth_date = born
        elif self.birth_date != born:
            broken.add(
                "birth_date",
                f"出生日期 {self.birth_date} 与身份证号中的 {born} 不一致",
                f"{self.birth_date} disagrees with {born} in the ID number",
            )
        if self.gender is None:
            self.gender = gender
        elif self.gender != gender:
            want = "男" if gender == "M" else "女"
            broken.add(
                "gender",
                f"性别与身份证号不一致（身份证号第17位表示{want}）",
                f"disagrees with the ID number (its 17th digit means {gender})",
            )
        if self.id_missing_reason:
            broken.add(
                "id_missing_reason",
                "已填身份证号时不填无证原因",
                "must be empty when the ID number is given",
            )

    @model_validator(mode="after")
    def _status_v2(self, info: ValidationInfo) -> Elder:
        """Schema 2: when a status took effect, where a moved elder went, whom a record merged into."""
        if schema_of(info) < 2:
            return self
        broken = Broken()
        if self.status != "active" and self.status_date is None:
            broken.add(
                "status_date",
                "状态不是「在册」时须填写状态变更日期",
                "is required when status is not active",
                uses=("status",),
            )
        if self.status_date is not None:
            if self.status_date > today():
                broken.add(
                    "status_date",
                    f"状态变更日期 {self.status_date} 晚于今天",
                    f"{self.status_date} is in the future",
                )
            if self.birth_date is not None and self.status_date < self.birth_date:
                broken.add(
                    "status_date",
                    f"状态变更日期 {self.status_date} 早于出生日期 {self.birth_date}",
                    f"{self.status_date} is before birth_date {self.birth_date}",
                )
        self._moved_merged(broken)
        broken.report()
        return self

    def _moved_merged(self, broken: Broken) -> None:
        if self.moved_to is not None:
            if self.status != "moved_out":
                broken.add(
                    "moved_to",
                    "只有状态为「迁出」时才填写迁往社区",
                    "only with status moved_out",
                    uses=("status",),
                )
            if self.moved_to == self.community_code:
                broken.add(
                    "moved_to",
                    "迁往社区不能是本社区",
                    "must differ from community_code",
                    uses=("community_code",),
                )
        if self.merged_into is not None and self.status != "cancelled":
            broken.add(
                "merged_into",
                "只有状态为「注销」的档案才能合并至另一档案",
                "only with status cancelled",
                uses=("status",),
            )

    def age_on(self, d: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return d.year - b.year - ((d.month, d.day) < (b.month, b.day))
