"""Shared fixtures: a real SQLite file with the real schema in tmp_path, a device set up on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from stdnum.cn import ric

from fieldapp.store import Store

# the current tables (and their child tables) that hold records
CURRENT_TABLES = [
    "elder",
    "home_visit",
    "assessment",
    "retrofit",
    "retrofit_line",
    "meal_point",
    "meal_count",
    "volunteer",
    "volunteer_event",
    "volunteer_participant",
]
# Heavy runs (hypothesis properties, SIGKILL crash runs, fuzzing) take a CI size that keeps
# `.ci/run` under 12 minutes; FIELDAPP_TEST_SCALE multiplies every one of them: 10 for a night run,
# 0.2 for a quick look. Each heavy test asks `scaled(its CI size)`; hypothesis's default
# max_examples (tests without their own) follows the same factor through the profile below.
TEST_SCALE_ENV = "FIELDAPP_TEST_SCALE"


def _test_scale() -> float:
    raw = os.environ.get(TEST_SCALE_ENV, "1")
    try:
        factor = float(raw)
    except ValueError:
        raise pytest.UsageError(
            f"{TEST_SCALE_ENV}={raw!r}: expected a number such as 1 or 10"
        ) from None
    if not factor > 0:
        raise pytest.UsageError(f"{TEST_SCALE_ENV}={raw!r}: must be greater than 0")
    return factor


TEST_SCALE = _test_scale()


def scaled(ci_size: int) -> int:
    """How many runs a heavy test makes: its CI size times FIELDAPP_TEST_SCALE, at least one."""
    return max(1, round(ci_size * TEST_SCALE))


settings.register_profile("fieldapp", max_examples=scaled(100))
settings.load_profile("fieldapp")

# Plain databases unless a test asks for encryption (tests/test_encryption*.py): no key file and no
# Argon2id per database is the fastest; set here too, not only per test, because module-scoped
# fixtures open databases before the per-test fixture below runs.
os.environ["FIELDAPP_UNENCRYPTED"] = "1"
os.environ["FIELDAPP_KDF"] = "interactive"
os.environ.pop("FIELDAPP_PASSPHRASE", None)

STREET = "321202001"
COMMUNITY = "321202001901"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real per-user data dir. Databases are plain (the fastest: no key file,
    no Argon2id) unless a test asks for encryption (`encrypted` below, tests/test_encryption*.py);
    Argon2id takes its interactive limits."""
    monkeypatch.setenv("FIELDAPP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FIELDAPP_UNENCRYPTED", "1")
    monkeypatch.setenv("FIELDAPP_KDF", "interactive")
    monkeypatch.delenv("FIELDAPP_PASSPHRASE", raising=False)
    monkeypatch.delenv("FIELDAPP_DB", raising=False)
    monkeypatch.delenv("FIELDAPP_LANG", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "device.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store.open(db_path)
    s.setup_device(street_code=STREET, community_code=COMMUNITY, worker="周红")
    yield s
    s.close()


def make_id(born: date, male: bool, seq: int = 12, area: str = "321202") -> str:
    body = f"{area}{born:%Y%m%d}{seq * 2 + (1 if male else 0):03d}"
    return body + ric.calc_check_digit(body + "0")


def elder_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "王建国",
        "id_number": make_id(date(1944, 3, 12), male=True),
        "address": "海陵区示例路8号2单元301",
        "community_code": COMMUNITY,
        "living_status": "alone",
        "hardship_tags": ["dibao"],
        "visit_risk": "high",
        "consent": "statutory_duty",
    }
    data.update(over)
    return data


def visit_data(elder_id: str, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "elder_id": elder_id,
        "visit_date": (date.today() - timedelta(days=3)).isoformat(),
        "start_time": "09:00",
        "end_time": "09:45",
        "service_type": "daily_visit",
        "service_items": ["chat"],
        "contact_mode": "in_person",
        "funding": "gov_purchase",
        "worker": "周红",
        "elder_condition": "good",
    }
    data.update(over)
    return data
