"""What a sync bundle is (SPEC §5): its names, members, safety caps, manifest model and error type.

The writer and the reader both import this module, so the format is declared once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from fieldapp import models

FORMAT = "fieldapp-bundle"
FORMAT_VERSION = 1
MEMBERS = ("manifest.json", "versions.ndjson")
MEMBERS_V2 = ("manifest.json", "manifest.sig", "versions.sealed")
SUFFIX = ".fieldbundle"
READABLE_SCHEMAS = (1, 2)  # payload schemas a manifest may declare (SPEC §3 v2: 1 stays readable)

# safety caps (a bundle of a community-month is a few MB; a whole district year of one device ~100 MB)
MAX_FILE_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 1 << 20
MAX_VERSIONS_BYTES = 4 << 30
MAX_RATIO = 200  # uncompressed ÷ compressed; JSON of records compresses ~10–30×
MAX_LINE_BYTES = 1 << 20
CHUNK = 1 << 20

Progress = Callable[[int, int], None]


class BundleError(ValueError):
    """A bundle that cannot be used, and why (Chinese first, then English)."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh}（{en}）")


class MemberInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str
    bytes: int
    lines: int | None = None  # the sealed member of format 2 has no lines


class Encryption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheme: str
    sealed_key: str


class Manifest(BaseModel):
    """manifest.json of SPEC §5; no personal data in it."""

    model_config = ConfigDict(extra="forbid")

    format: str
    format_version: int
    schema_version: int
    bundle_id: str
    device_id: str
    device_label: str
    worker: str
    street_code: str
    community_code: str
    period: str
    created_at: str
    seq: int
    prev_bundle_id: str | None
    hlc_from: str | None
    hlc_to: str | None
    counts: dict[str, int]
    members: dict[str, MemberInfo]
    app_version: str
    # format 2 (docs/security.md): the device's signing key, how the versions are sealed, and the
    # digest of the plaintext versions.ndjson checked after decryption
    device_public_key: str | None = None
    encryption: Encryption | None = None
    plain: MemberInfo | None = None

    def dump(self) -> dict[str, Any]:
        """The manifest as written: format 1 has exactly the fields of SPEC §5."""
        data = self.model_dump()
        if self.format_version == 1:
            for key in ("device_public_key", "encryption", "plain"):
                data.pop(key)
        for member in data["members"].values():
            if member.get("lines") is None:
                member.pop("lines", None)
        return data

    @field_validator("bundle_id", "device_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        if not models._UUID.match(v):
            raise ValueError("must be a UUID")
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        if len(v) != 7 or v[4] != "-" or not (v[:4] + v[5:]).isdigit() or not 1 <= int(v[5:]) <= 12:
            raise ValueError("must be YYYY-MM")
        return v

    @field_validator("seq")
    @classmethod
    def _seq(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be ≥ 1")
        return v


def bundle_name(community_code: str, period: str, device_id: str, seq: int) -> str:
    """No personal data in the name (SPEC §5)."""
    return f"{community_code}-{period}-{device_id[:8]}-{seq}{SUFFIX}"


def file_sha256(path: Path) -> str:
    """The whole file's digest, read in chunks (the district records it for each merged bundle)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
