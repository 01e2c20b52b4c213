"""What a return bundle is (SPEC §5b): its name, its signed manifest and the refusal messages.

A return bundle is format 2 with `"direction": "return"`: the district's Ed25519 key signs the
manifest, and the versions' stream key is sealed once per enrolled, unrevoked laptop of the
community (to the X25519 key libsodium derives from the laptop's Ed25519 key). The writer
(`return_write`) and the reader (`return_read`) both import this module.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fieldapp import models
from fieldapp.sync.bundle_format import SUFFIX, Count, MemberInfo, Text

DIRECTION = "return"
MAX_DEVICES = 1000  # laptops named in one return bundle (a community has a handful)
MAX_ACK_RANGES = 1000
# a version line of a return bundle may carry the district's clock flag for it (SPEC §4 v2)
FLAG_KEY = "clock_flag"
FLAG_SUSPECT, FLAG_ACCEPTED = "suspect", "accepted"

Code12 = Annotated[str, Field(pattern=r"^\d{12}$")]
Uuid = Annotated[str, Field(max_length=36)]


def _uuid(v: str) -> str:
    if not models._UUID.match(v):
        raise ValueError("must be a UUID")
    return v


class DeviceEntry(BaseModel):
    """A laptop the district enrolled: its Ed25519 key (base64), its communities, whether revoked."""

    model_config = ConfigDict(extra="forbid")
    device_id: Uuid
    public_key: Annotated[str, Field(max_length=64)]
    communities: Annotated[list[Code12], Field(max_length=64)]
    revoked: bool
    label: Text | None = None  # the laptop's name (community-worker): who recorded a version

    _check_id = field_validator("device_id")(_uuid)


class ReturnEncryption(BaseModel):
    """One stream key, sealed to each reader: device_id → sealed key (base64)."""

    model_config = ConfigDict(extra="forbid")
    scheme: Text
    sealed_keys: Annotated[dict[Uuid, Text], Field(min_length=1, max_length=MAX_DEVICES)]


Row = dict[Annotated[str, Field(max_length=40)], str | int | float | None]


class RefData(BaseModel):
    """The district's reference data, stamped: applied on a device when newer than its own."""

    model_config = ConfigDict(extra="forbid")
    stamp: Text  # ISO 8601 time the district wrote it; newer wins
    sha256: Annotated[str, Field(max_length=64)]
    streets: Annotated[list[Row], Field(max_length=1000)]
    communities: Annotated[list[Row], Field(max_length=10000)]
    rules: Annotated[list[Row], Field(max_length=1000)]
    targets: Annotated[list[Row], Field(max_length=10000)]


class ReturnManifest(BaseModel):
    """manifest.json of a return bundle; no personal data in it."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["fieldapp-bundle"]
    format_version: Literal[2]
    schema_version: int
    direction: Literal["return"]
    bundle_id: Uuid
    district_id: Uuid
    district_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    community_code: Code12
    created_at: Text
    seq: Annotated[int, Field(ge=1, le=(1 << 53) - 1)]
    hlc_from: Text | None
    hlc_to: Text | None
    counts: Annotated[dict[Annotated[str, Field(max_length=40)], Count], Field(max_length=64)]
    members: Annotated[dict[Annotated[str, Field(max_length=40)], MemberInfo], Field(max_length=1)]
    plain: MemberInfo
    encryption: ReturnEncryption
    devices: Annotated[list[DeviceEntry], Field(max_length=MAX_DEVICES)]
    # device_id → the seqs of its bundles the district has merged, as [first, last] ranges
    acks: Annotated[
        dict[Uuid, Annotated[list[tuple[int, int]], Field(max_length=MAX_ACK_RANGES)]],
        Field(max_length=MAX_DEVICES),
    ]
    refdata: RefData
    app_version: Text

    _check_ids = field_validator("bundle_id", "district_id")(_uuid)


def return_name(community_code: str, day: str, seq: int) -> str:
    """`<community>-return-<YYYYMMDD>-<seq>.fieldbundle` (SPEC §5b): no personal data."""
    return f"{community_code}-return-{day}-{seq}{SUFFIX}"


def ranges_text(ranges: list[tuple[int, int]]) -> str:
    """[(1, 7), (9, 9)] → '1–7, 9': how the 同步 screen says which bundles the district has."""
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in ranges)
