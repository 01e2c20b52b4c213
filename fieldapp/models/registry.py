"""Which model checks which kind: MODELS (in the order of kinds.KINDS), Kind, validate_record.

`kinds.KINDS` is the one list of kinds; `Kind` spells it again only because a type checker needs
literals, and tests/test_models.py fails if the two differ in any way.
"""

from __future__ import annotations

from typing import Any, Literal

from fieldapp import kinds
from fieldapp.models.base import Record
from fieldapp.models.community import MealCount, MealPoint, Volunteer, VolunteerEvent
from fieldapp.models.elder import Elder
from fieldapp.models.rules import (
    SCHEMA_VERSION,
    Problem,
    RecordInvalid,
    ValidationContext,
    validate_all,
)
from fieldapp.models.services import Assessment, HomeVisit, Retrofit

_BY_KIND: dict[str, type[Record]] = {
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
# A kind added to kinds.KINDS without its model stops the import here (KeyError), not at a save.
MODELS: dict[str, type[Record]] = {k: _BY_KIND[k] for k in kinds.KINDS}
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


def validate_record(
    kind: str,
    data: dict[str, Any] | Record,
    *,
    schema: int = SCHEMA_VERSION,
    context: ValidationContext | None = None,
) -> Record:
    """Validate `data` as a record of `kind` under payload schema `schema`, "today" taken from
    `context` (None: the local date); raise RecordInvalid naming every broken field and rule at
    once, cross-field rules included (`rules.validate_all`)."""
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
    if isinstance(data, model) and data.payload_schema == schema:
        return data
    raw = data.payload() if isinstance(data, Record) else data
    return validate_all(kind, model, raw, {"payload_schema": schema}, today=context)
