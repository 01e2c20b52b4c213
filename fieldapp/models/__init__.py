"""The eight record kinds of SPEC §3 and the version envelope of SPEC §4, each rule written once.

The form, the store, the bundle reader and the merge all validate with these models, so a rule
lives here and nowhere else. Field metadata (Chinese and English labels, catalogue, widget)
lets the TUI build its forms from the models.

Where each part lives:
    rules.py      `rule()`, Problem, RecordInvalid, explain: how a broken rule is worded (zh/en)
    fields.py     F (labelled field), the checked types (RecordId, Phone, Money…), the code lists
    base.py       Record, the base of every kind
    elder.py      Elder and the GB 11643 ID number
    services.py   HomeVisit, Assessment, Retrofit: what is done for one elder
    community.py  MealPoint, MealCount, Volunteer, VolunteerEvent
    registry.py   MODELS (kind → model, in the order of kinds.KINDS), Kind, validate_record
    version.py    Version (SPEC §4 v2: also_parents, payload_schema), content_hash, validate_version

Payload schemas (SPEC §3 v2): new saves write SCHEMA_VERSION = 2; schema 1 payloads stay valid as
history. `validate_record(kind, data, schema=…, context=ValidationContext(today))` picks the rules;
a rule about "today" reads the context, never the clock, when one is given (the merge does).
Import from `fieldapp.models`: the names below are its public surface.
"""

from __future__ import annotations

from fieldapp.kinds import mask_id_number
from fieldapp.models.base import Record
from fieldapp.models.community import (
    MEAL_SLOT_MAX,
    MealCount,
    MealPoint,
    Participant,
    Volunteer,
    VolunteerEvent,
)
from fieldapp.models.elder import Elder, check_id_number, from_id, normalise_id_number
from fieldapp.models.fields import (
    CATALOGUE_OF_TYPE,
    UUID_RE,
    AssessmentReason,
    CommunityCode,
    Consent,
    ContactMode,
    ElderCondition,
    ElderStatus,
    EventStatus,
    F,
    Funding,
    Gender,
    HardshipTag,
    Hours,
    Level,
    LivingStatus,
    Meal,
    MealMode,
    MealPointKind,
    MealPointStatus,
    Money,
    PastDate,
    Phone,
    Quantity,
    RecordId,
    Referral,
    RetrofitFunding,
    RetrofitStatus,
    ServiceType,
    Text,
    Time,
    VisitIssue,
    VisitRisk,
    VolunteerCategory,
)
from fieldapp.models.registry import MODELS, Kind, validate_record
from fieldapp.models.rules import (
    SCHEMA_VERSION,
    Problem,
    RecordInvalid,
    ValidationContext,
    add_months,
    explain,
    minutes_of,
    no_duplicates,
    rule,
    schema_of,
    today,
    validation_context,
)
from fieldapp.models.services import (
    RETROFIT_DATES,
    Assessment,
    HomeVisit,
    Retrofit,
    RetrofitItem,
)
from fieldapp.models.version import (
    HLC_RE,
    MAX_ALSO_PARENTS,
    Version,
    canonical_json,
    content_hash,
    content_hash_of,
    validate_version,
)

_UUID = UUID_RE  # the name sync/bundle.py reads today

__all__ = [
    "CATALOGUE_OF_TYPE",
    "HLC_RE",
    "MAX_ALSO_PARENTS",
    "MEAL_SLOT_MAX",
    "MODELS",
    "RETROFIT_DATES",
    "SCHEMA_VERSION",
    "UUID_RE",
    "Assessment",
    "AssessmentReason",
    "CommunityCode",
    "Consent",
    "ContactMode",
    "Elder",
    "ElderCondition",
    "ElderStatus",
    "EventStatus",
    "F",
    "Funding",
    "Gender",
    "HardshipTag",
    "HomeVisit",
    "Hours",
    "Kind",
    "Level",
    "LivingStatus",
    "Meal",
    "MealCount",
    "MealMode",
    "MealPoint",
    "MealPointKind",
    "MealPointStatus",
    "Money",
    "Participant",
    "PastDate",
    "Phone",
    "Problem",
    "Quantity",
    "Record",
    "RecordId",
    "RecordInvalid",
    "Referral",
    "Retrofit",
    "RetrofitFunding",
    "RetrofitItem",
    "RetrofitStatus",
    "ServiceType",
    "Text",
    "Time",
    "ValidationContext",
    "Version",
    "VisitIssue",
    "VisitRisk",
    "Volunteer",
    "VolunteerCategory",
    "VolunteerEvent",
    "add_months",
    "canonical_json",
    "check_id_number",
    "content_hash",
    "content_hash_of",
    "explain",
    "from_id",
    "mask_id_number",
    "minutes_of",
    "no_duplicates",
    "normalise_id_number",
    "rule",
    "schema_of",
    "today",
    "validate_record",
    "validate_version",
    "validation_context",
]
