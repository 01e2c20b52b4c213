"""The merge's fast paths (issue 20) give what the models give: the envelope checked by compiled
patterns against `Version.model_validate`, orjson's canonical JSON against `json.dumps`, on random
valid and invalid versions (hypothesis)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fieldapp import models
from fieldapp.models.version import _canonical, canonical_json, fast_version, validate_version
from fieldapp.sync.apply import version_row

from .conftest import scaled
from .test_models import base

KINDS = ["elder", "home_visit", "assessment", "retrofit", "meal_point", "meal_count"]
CONTEXT = models.ValidationContext(today=date(2026, 7, 1))
IDS = [f"0193a1b2-7c4d-7e8f-9a0b-{i:012x}" for i in range(1, 6)]


def reference_json(obj: Any) -> str:
    """SPEC §4's canonical JSON as release 2 wrote it."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def reference_hash(deleted: object, payload: object) -> str:
    text = reference_json({"deleted": deleted, "payload": payload})
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# JSON values as a parsed line holds them, with what orjson writes differently or refuses
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e16, 1e-5, 0.1, -0.0, 1.0, 123456789012345678.0])
    | st.text()
    | st.sampled_from(["\ud800", "a\x00\x1f\x7f", "\u2028\u2029", "😀é"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
)


@settings(max_examples=scaled(300), deadline=None)
@given(values)
def test_canonical_json_is_json_dumps(value: Any) -> None:
    assert canonical_json(value) == reference_json(value)


@settings(max_examples=scaled(300), deadline=None)
@given(values)
@example({"a": -1.5})
@example([0.1])
@example({"b": [1, {"c": 1e16}]})
def test_the_canonical_json_of_a_parsed_payload_is_json_dumps(value: Any) -> None:
    """A parsed line's payload (`parsed=True`) skips the walk for types and floats unless
    orjson's text has a number with '.', 'e' or 'E': the same text as json.dumps either way."""
    assert _canonical(value, parsed=True) == reference_json(value)


# an envelope field: kept, or replaced by something the model may refuse or rewrite
ID_VARIANTS = st.sampled_from(
    [IDS[0].upper(), f" {IDS[0]}", f"{IDS[0]}\n", IDS[0][:-1], 7, None, IDS[1], IDS[2]]
)
FIELD_VARIANTS: dict[str, st.SearchStrategy[Any]] = {
    "kind": st.sampled_from(["Elder", "nonsense", 3, "volunteer", "meal_count"]),
    "record_id": ID_VARIANTS,
    "version_id": ID_VARIANTS,
    "device_id": ID_VARIANTS,
    "parent_version_id": ID_VARIANTS,
    "hlc": st.sampled_from(
        [
            "1780000000000-00001\n",
            "١٧٨٠٠٠٠٠٠٠٠٠٠-00001",
            "178000000000-00001",
            5,
            "9999999999999-99999",
        ]
    ),
    "deleted": st.sampled_from([0, 1, "true", None, True, False]),
    "content_hash": st.sampled_from(["0" * 64, "A" * 64, "x", 1]),
    "payload": st.sampled_from([[], "x", None, {}]),
    "also_parents": st.sampled_from(
        [
            [],
            [IDS[3]],
            [IDS[3], IDS[3]],
            [IDS[1]],
            IDS[:5] * 4,
            [IDS[3].upper()],
            "x",
            None,
            (IDS[4],),
        ]
    ),
    "payload_schema": st.sampled_from([1, 2, True, 1.0, "2", 3, None]),
    "extra": st.just("x"),
}


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    payload = models.validate_record(kind, base(kind), schema=2).payload()
    for key in draw(st.lists(st.sampled_from(sorted(payload)), max_size=2)):
        payload[key] = draw(scalars)  # often breaks a record rule, sometimes a float or big int
    deleted = draw(st.booleans())
    data: dict[str, Any] = {
        "kind": kind,
        "record_id": IDS[0],
        "version_id": IDS[1],
        "parent_version_id": draw(st.sampled_from([None, IDS[2]])),
        "also_parents": draw(st.sampled_from([[], [IDS[3]], [IDS[3], IDS[4]]])),
        "hlc": "1780000000000-00001",
        "device_id": IDS[4] if draw(st.booleans()) else "0193a1b2-7c4d-7e8f-9a0b-00000000d001",
        "deleted": deleted,
        "payload": payload,
        "payload_schema": draw(st.sampled_from([1, 2])),
    }
    for key in draw(st.lists(st.sampled_from(sorted(data)), max_size=3)):
        if draw(st.booleans()):
            data.pop(key, None)
    data["content_hash"] = reference_hash(data.get("deleted"), data.get("payload"))
    for key in draw(st.lists(st.sampled_from(sorted(FIELD_VARIANTS)), max_size=2)):
        data[key] = draw(FIELD_VARIANTS[key])
    return data


def stored(data: dict[str, Any], *, fast: bool) -> tuple[Any, ...]:
    """What the merge stores of a line (the versions row and the record's current-table payload),
    or the problems it is refused with."""
    try:
        v, record = validate_version(json.loads(json.dumps(data)), context=CONTEXT, fast=fast)
    except models.RecordInvalid as e:
        return ("refused", e.kind, [(p.field, p.text("zh"), p.text("en")) for p in e.problems])
    return (*version_row(v, "bundle"), v.model_dump(), record.payload())


@settings(
    max_examples=scaled(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(lines())
def test_fast_path_and_model_path_store_the_same(data: dict[str, Any]) -> None:
    assert stored(data, fast=True) == stored(data, fast=False)


def test_the_fast_path_is_taken_for_a_canonical_line_and_left_for_an_unusual_one() -> None:
    """The comparison above would also pass if the fast path never ran: it runs on a plain line,
    and steps aside for a float, an upper-case id or a wrong hash."""
    payload = models.validate_record("meal_point", base("meal_point"), schema=2).payload()
    data = {
        "kind": "meal_point",
        "record_id": IDS[0],
        "version_id": IDS[1],
        "hlc": "1780000000000-00001",
        "device_id": IDS[2],
        "deleted": False,
        "payload": payload,
        "content_hash": reference_hash(False, payload),
        "payload_schema": 2,
    }
    v = fast_version(data)
    assert v is not None and v.payload_json == reference_json(payload)
    assert v.model_dump() == models.Version.model_validate(data).model_dump()
    assert fast_version({**data, "record_id": IDS[0].upper()}) is None
    assert fast_version({**data, "content_hash": "0" * 64}) is None
    floated = {**payload, "capacity_daily": 1e16}
    assert canonical_json(floated) == reference_json(floated)
    assert '"capacity_daily":1e+16' in canonical_json(floated)
