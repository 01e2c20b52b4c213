"""The record kinds' names, groups and labels, ID masking and "today": what screens need, no models.

Kept apart from the models package so that opening the app does not import pydantic before the first screen.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

KINDS: tuple[str, ...] = (
    "elder",
    "home_visit",
    "assessment",
    "retrofit",
    "meal_point",
    "meal_count",
    "volunteer",
    "volunteer_event",
)
"""The one list of record kinds, in the order screens and reports show them. `models.Kind` spells
it again for the type checker (a test keeps the two equal); everything else reads this tuple."""

ELDER_KINDS: tuple[str, ...] = ("home_visit", "assessment", "retrofit")
"""The kinds recorded for one elder (their model has `elder_id`): a new one starts by picking the elder."""

COMMUNITY_KINDS: tuple[str, ...] = ("elder", "meal_point", "volunteer", "volunteer_event")
"""The kinds that carry a `community_code` of their own (the others belong to an elder or a point)."""

FORM_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k != "meal_count")
"""The kinds entered one record at a time in a form; meal counts are typed in the meal grid."""

LABELS: dict[str, tuple[str, str]] = {
    "elder": ("老年人档案", "Elder"),
    "home_visit": ("居家上门服务", "Home visit"),
    "assessment": ("能力评估", "Capability assessment"),
    "retrofit": ("适老化改造", "Home retrofit"),
    "meal_point": ("助餐点", "Meal point"),
    "meal_count": ("助餐服务人次", "Meal count"),
    "volunteer": ("志愿者", "Volunteer"),
    "volunteer_event": ("志愿助老活动", "Volunteer event"),
}


def today() -> date:
    """Today, or the day FIELDAPP_TODAY names (YYYY-MM-DD): demos, screen captures and tests pin
    the calendar with it so every screen reads the same on every run."""
    pinned = os.environ.get("FIELDAPP_TODAY")
    if pinned:
        try:
            return date.fromisoformat(pinned)
        except ValueError:
            pass  # a mistyped pin is ignored, not fatal: the real calendar is always right
    return date.today()


def now_iso() -> str:
    """The local time with its offset, to the second: when a bundle, a decision or an enrolment happened."""
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def mask_id_number(v: str | None) -> str:
    """`3212***********23X`: what every screen but the elder's edit form shows (SPEC §9 v2).

    Only the first 4 (province and city) and the last 3 are kept: release 1 kept 6 + 4 and hid
    exactly the 8 birth-date digits, so a birth date shown beside it rebuilt the whole number.
    Beside a masked number a birth date is shown as an age (`age_on`). The last 4 digits a worker
    types in search are matched against the stored number, not against this text."""
    if not v:
        return ""
    return v[:4] + "*" * (len(v) - 7) + v[-3:] if len(v) > 10 else "*" * len(v)


def age_on(birth_date: date | str | None, day: date) -> int | None:
    """Full years on `day` (the birthday itself counts): what screens show instead of a birth
    date (SPEC §9). None for a missing or unreadable date."""
    if not birth_date:
        return None
    if isinstance(birth_date, str):
        try:  # strptime, not date.fromisoformat: the manual's captures patch `date` itself
            b: date = datetime.strptime(birth_date[:10], "%Y-%m-%d").date()
        except ValueError:
            return None
    else:
        b = birth_date
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))
