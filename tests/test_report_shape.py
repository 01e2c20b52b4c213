"""report.shape.fits: the kept report's shape, checked without pydantic's import cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict

import pytest

from fieldapp.report.shape import fits


class Row(TypedDict):
    month: str
    n: int | None
    pairs: list[tuple[str, int]]


@dataclass
class Thing:
    when: date
    value: float
    rows: list[Row]
    extra: dict[str, float | None] | None = None


GOOD = Thing(date(2026, 1, 1), 3, [{"month": "2026-01", "n": None, "pairs": [("a", 1)]}])


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (GOOD, True),
        (Thing(date(2026, 1, 1), 2.5, [], {"a": None, "b": 1.0}), True),
        (Thing("2026-01-01", 3, []), False),  # type: ignore[arg-type]
        (Thing(date(2026, 1, 1), True, []), False),  # a bool is not a number
        (Thing(date(2026, 1, 1), "3", []), False),  # type: ignore[arg-type]
        (Thing(date(2026, 1, 1), 3, [{"month": "x", "n": 1}]), False),  # type: ignore[list-item]
        (Thing(date(2026, 1, 1), 3, [{"month": "x", "n": 1, "pairs": [("a",)]}]), False),  # type: ignore[list-item]
        (Thing(date(2026, 1, 1), 3, [{"month": 1, "n": 1, "pairs": []}]), False),  # type: ignore[list-item]
        (Thing(date(2026, 1, 1), 3, [], {"a": "1"}), False),  # type: ignore[dict-item]
        ({"when": date(2026, 1, 1)}, False),  # not the dataclass
    ],
)
def test_fits(value: Any, ok: bool) -> None:
    assert fits(value, Thing) is ok


def test_an_unknown_type_never_fits() -> None:
    assert not fits(object(), set[int])
